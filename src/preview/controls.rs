//! The settings panel: a plain function of the settings (a [`Preset`]) and the view, so
//! it is tested headless with egui_kittest and reused as is by the window.

use egui::Ui;

use crate::layout::{Anaglyph, Layout};
use crate::preset::Preset;
use crate::stereo::{DepthKind, DepthUpsample, Eye, FillMode};

/// What the window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// A composed layout (anaglyph, SBS, TB, cross-eyed, one eye, the 2x2 grid...).
    Layout(Layout),
    /// Left and right eye alternating (judging depth without glasses).
    Wiggle,
    /// The frame as geometry seen from a camera the user moves (`preview::orbit`).
    Orbit,
}

impl View {
    /// In the order the list shows them: the ways to watch first, then the inspection
    /// views.
    pub const ALL: [View; 17] = [
        View::Layout(Layout::Anaglyph),
        View::Layout(Layout::Sbs),
        View::Layout(Layout::HalfSbs),
        View::Layout(Layout::Tb),
        View::Layout(Layout::HalfTb),
        View::Layout(Layout::Cross),
        View::Layout(Layout::HalfCross),
        View::Layout(Layout::Left),
        View::Layout(Layout::Right),
        View::Wiggle,
        View::Orbit,
        View::Layout(Layout::Depth),
        View::Layout(Layout::Holes),
        View::Layout(Layout::Grid),
        View::Layout(Layout::Rgbd),
        View::Layout(Layout::HalfRgbd),
        View::Layout(Layout::Vr180),
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Layout(l) => l.label(),
            View::Wiggle => "Wiggle: left and right eye in turn",
            View::Orbit => "3D: the frame as geometry (drag, scroll, R)",
        }
    }
}

/// Draws the controls; returns true when a setting that changes the picture changed.
pub fn controls(ui: &mut Ui, p: &mut Preset, view: &mut View, live: &Live) -> bool {
    let before = (p.clone(), *view);
    ui.heading("View");
    egui::ComboBox::from_label("view")
        .selected_text(view.label())
        .show_ui(ui, |ui| {
            for v in View::ALL {
                ui.selectable_value(view, v, v.label());
            }
        });
    egui::ComboBox::from_label("anaglyph colours")
        .selected_text(p.anaglyph.label())
        .show_ui(ui, |ui| {
            for a in Anaglyph::ALL {
                ui.selectable_value(&mut p.anaglyph, a, a.label());
            }
        });

    ui.separator();
    ui.heading("Depth");
    ui.horizontal(|ui| {
        ui.label("depth is");
        ui.selectable_value(&mut p.depth_kind, DepthKind::Relative, "relative");
        ui.selectable_value(&mut p.depth_kind, DepthKind::Metric, "metric");
        ui.selectable_value(&mut p.depth_kind, DepthKind::Disparity, "disparity");
    });
    // Each kind has its own screen-plane quantity, in its own unit, kept in its own
    // field: switching kinds shows that kind's value, never the last kind's number.
    let fixed_plane = !p.convergence_auto;
    if p.depth_kind == DepthKind::Relative {
        strength(ui, p, live.width);
        ui.add_enabled(
            fixed_plane,
            egui::Slider::new(&mut p.convergence, 0.0..=1.0)
                .text("convergence (nearness at the screen: 0 far .. 1 near)"),
        );
        ui.checkbox(&mut p.depth_far_bright, "depth file is far = bright");
    } else if p.depth_kind == DepthKind::Disparity {
        ui.add_enabled(
            fixed_plane,
            egui::Slider::new(&mut p.convergence_px, -64.0..=64.0)
                .text("convergence (px of disparity at the screen)"),
        );
    } else if p.depth_kind == DepthKind::Metric {
        ui.add(egui::Slider::new(&mut p.ipd_mm, 1.0..=300.0).text("IPD (mm)"));
        let mut fov = p.xfov.unwrap_or(60.0);
        if ui
            .add(egui::Slider::new(&mut fov, 5.0..=170.0).text("horizontal FOV (deg)"))
            .changed()
            || p.xfov.is_none()
        {
            p.xfov = Some(fov);
            p.yfov = None;
        }
        let mut conv = p.convergence_depth.unwrap_or(0.0);
        if ui
            .add_enabled(
                fixed_plane,
                egui::Slider::new(&mut conv, 0.0..=50.0)
                    .text("convergence depth (m, 0 = infinity)"),
            )
            .changed()
        {
            p.convergence_depth = (conv > 0.0).then_some(conv);
        }
        ui.add(egui::Slider::new(&mut p.max_depth, 1.0..=200.0).text("max depth (m)"));
    }

    ui.separator();
    comfort(ui, p, live);

    ui.separator();
    ui.heading("Warp");
    ui.horizontal(|ui| {
        ui.label("synthesise");
        ui.selectable_value(&mut p.eye, Eye::Right, "right eye");
        ui.selectable_value(&mut p.eye, Eye::Left, "left eye");
        ui.selectable_value(&mut p.eye, Eye::Both, "both");
    });
    let mut edges = p.edge_threshold.is_some();
    ui.checkbox(&mut edges, "remove edges");
    if edges {
        let mut t = p.edge_threshold.unwrap_or(0.03);
        ui.add(
            egui::Slider::new(&mut t, 0.001..=0.5)
                .logarithmic(true)
                .text("edge threshold"),
        );
        p.edge_threshold = Some(t);
    } else {
        p.edge_threshold = None;
    }
    ui.add(egui::Slider::new(&mut p.max_stretch, 0.5..=16.0).text("max stretch (px)"));
    ui.add(egui::Slider::new(&mut p.dilate, 0..=64).text("dilation (px)"));
    let mut guided = p.depth_upsample == DepthUpsample::Guided;
    if ui
        .checkbox(&mut guided, "edge-aware depth upsampling")
        .changed()
    {
        p.depth_upsample = if guided {
            DepthUpsample::Guided
        } else {
            DepthUpsample::Bilinear
        };
    }
    ui.horizontal(|ui| {
        ui.label("fill");
        ui.selectable_value(&mut p.fill, FillMode::Background, "background");
        ui.selectable_value(&mut p.fill, FillMode::Scanline, "scanline");
        ui.selectable_value(&mut p.fill, FillMode::Model, "model");
    });
    if p.fill == FillMode::Model {
        // The learned fill needs its model: an ONNX file or a catalog name.
        let mut text = p
            .inpaint_model
            .as_ref()
            .map(|m| m.display().to_string())
            .unwrap_or_default();
        ui.horizontal(|ui| {
            let name = ui.label("inpainting model");
            if ui
                .text_edit_singleline(&mut text)
                .labelled_by(name.id)
                .changed()
            {
                let t = text.trim();
                p.inpaint_model = (!t.is_empty()).then(|| std::path::PathBuf::from(t));
            }
        });
        if p.inpaint_model.is_none() {
            ui.small("give an ONNX inpainting model (LaMa, MI-GAN) or a catalog name");
        }
    }
    (p.clone(), *view) != before
}

/// What the panel shows of the current frame (set by the window after each compose).
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Width of the frame the eyes are shown in (pixels): the strength's other unit.
    pub width: u32,
    /// Where the screen plane is now, when it follows the subject.
    pub plane: Option<String>,
    /// The frame's parallax in pixels, % and degrees.
    pub comfort: Option<String>,
    /// The floating window's bands now (fractions of the width).
    pub window: [f32; 2],
}

/// Relative depth's strength, in pixels or as a share of the width, showing the other.
fn strength(ui: &mut Ui, p: &mut Preset, width: u32) {
    use crate::stereo::{divergence_to_max_disp, max_disp_to_divergence};
    let mut as_share = p.divergence.is_some();
    if ui
        .checkbox(&mut as_share, "strength as % of the width (--divergence)")
        .changed()
    {
        p.divergence = as_share.then(|| max_disp_to_divergence(p.max_disp, width.max(1)));
    }
    match &mut p.divergence {
        Some(pct) => {
            ui.add(egui::Slider::new(pct, 0.0..=10.0).text("divergence (% of width)"));
            if width > 0 {
                p.max_disp = divergence_to_max_disp(*pct, width);
                ui.small(format!("= {:.1} px at {width} px wide", p.max_disp));
            }
        }
        None => {
            ui.add(egui::Slider::new(&mut p.max_disp, 0.0..=120.0).text("max disparity (px)"));
            if width > 0 {
                ui.small(format!(
                    "= {:.2} % of {width} px",
                    max_disp_to_divergence(p.max_disp, width)
                ));
            }
        }
    }
}

/// Comfort and shaping: the depth curve (drawn), foreground scale, frame edges, the
/// screen plane following the subject, letterbox, and the current frame's figures.
fn comfort(ui: &mut Ui, p: &mut Preset, live: &Live) {
    use crate::layout::Autocrop;
    use crate::stereo::{DepthCurve, Shape};
    ui.heading("Comfort and shaping");
    if p.depth_kind == DepthKind::Relative {
        egui::ComboBox::from_label("depth curve")
            .selected_text(p.depth_curve.name())
            .show_ui(ui, |ui| {
                for c in DepthCurve::ALL {
                    if ui
                        .selectable_label(p.depth_curve.name() == c.name(), c.name())
                        .clicked()
                        && p.depth_curve.name() != c.name()
                    {
                        p.depth_curve = c;
                    }
                }
            });
        if let (Some(k), Some((lo, hi, what))) =
            (p.depth_curve.parameter(), p.depth_curve.parameter_range())
        {
            let mut k = k;
            ui.add(egui::Slider::new(&mut k, lo..=hi).text(what));
            p.depth_curve = p.depth_curve.with_parameter(k);
        }
        ui.add(
            egui::Slider::new(&mut p.foreground_scale, 0.1..=4.0)
                .text("foreground scale (near half)"),
        );
        curve_plot(
            ui,
            Shape {
                curve: p.depth_curve,
                foreground_scale: p.foreground_scale,
            },
        );
    }
    let mut border = p.preserve_border.is_some();
    ui.checkbox(&mut border, "preserve the screen border");
    p.preserve_border = match (border, p.preserve_border) {
        (false, _) => None,
        (true, v) => {
            let mut pct = v.unwrap_or(5.0);
            ui.add(egui::Slider::new(&mut pct, 0.5..=25.0).text("border band (% of width)"));
            Some(pct)
        }
    };
    ui.checkbox(
        &mut p.convergence_auto,
        "convergence follows the subject (auto)",
    );
    if let Some(plane) = &live.plane {
        ui.small(format!("screen plane now: {plane}"));
    }
    ui.checkbox(&mut p.floating_window, "floating window");
    if p.floating_window && live.width > 0 {
        ui.small(format!(
            "bands now: left {:.1} px, right {:.1} px",
            live.window[0] * live.width as f32,
            live.window[1] * live.width as f32
        ));
    }
    egui::ComboBox::from_label("letterbox bars")
        .selected_text(match p.autocrop {
            None => "left as they are",
            Some(Autocrop::Keep) => "found, kept black",
            Some(Autocrop::Crop) => "found, cropped",
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut p.autocrop, None, "left as they are");
            ui.selectable_value(&mut p.autocrop, Some(Autocrop::Keep), "found, kept black");
            ui.selectable_value(&mut p.autocrop, Some(Autocrop::Crop), "found, cropped");
        });
    ui.add(egui::Slider::new(&mut p.screen_width_m, 0.1..=20.0).text("screen width (m)"));
    ui.add(egui::Slider::new(&mut p.viewing_distance_m, 0.2..=30.0).text("viewing distance (m)"));
    if let Some(line) = &live.comfort {
        ui.small(line);
    }
}

/// The active shaping of nearness, input 0..1 across, output 0..1 up, with the
/// identity dashed beside it.
fn curve_plot(ui: &mut Ui, shape: crate::stereo::Shape) {
    let size = egui::vec2(ui.available_width().min(220.0), 120.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let stroke = ui.visuals().widgets.noninteractive.fg_stroke;
    painter.rect_stroke(rect, 0.0, stroke, egui::StrokeKind::Inside);
    let top = shape.max().max(1.0);
    let at = |v: f32, y: f32| {
        egui::pos2(
            rect.left() + v * rect.width(),
            rect.bottom() - (y / top) * rect.height(),
        )
    };
    painter.extend(egui::Shape::dashed_line(
        &[at(0.0, 0.0), at(1.0, 1.0)],
        egui::Stroke::new(1.0, egui::Color32::GRAY),
        4.0,
        4.0,
    ));
    let points: Vec<egui::Pos2> = (0..=64)
        .map(|i| {
            let v = i as f32 / 64.0;
            at(v, shape.apply(v))
        })
        .collect();
    painter.add(egui::Shape::line(
        points,
        egui::Stroke::new(2.0, egui::Color32::LIGHT_BLUE),
    ));
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        "near",
        egui::FontId::proportional(11.0),
        stroke.color,
    );
    painter.text(
        rect.right_bottom() - egui::vec2(4.0, 2.0),
        egui::Align2::RIGHT_BOTTOM,
        "nearness in",
        egui::FontId::proportional(11.0),
        stroke.color,
    );
}

/// Output settings of the render started from the window.
pub fn output_controls(ui: &mut Ui, p: &mut Preset) {
    egui::ComboBox::from_label("output layout")
        .selected_text(p.layout.label())
        .show_ui(ui, |ui| {
            for v in View::ALL {
                if let View::Layout(l) = v {
                    ui.selectable_value(&mut p.layout, l, l.label());
                }
            }
            // From the 3D view's camera.
            ui.selectable_value(&mut p.layout, Layout::Novel, Layout::Novel.label());
        });
    ui.add(egui::Slider::new(&mut p.crf, 0..=51).text("x264 CRF"));
    egui::ComboBox::from_label("x264 preset")
        .selected_text(p.speed_preset.clone())
        .show_ui(ui, |ui| {
            for &s in crate::media::encode::SPEED_PRESETS {
                ui.selectable_value(&mut p.speed_preset, s.to_owned(), s);
            }
        });
}
