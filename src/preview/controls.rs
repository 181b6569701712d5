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
}

impl View {
    /// In the order the list shows them: the ways to watch first, then the inspection
    /// views.
    pub const ALL: [View; 13] = [
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
        View::Layout(Layout::Depth),
        View::Layout(Layout::Holes),
        View::Layout(Layout::Grid),
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Layout(l) => l.label(),
            View::Wiggle => "Wiggle: left and right eye in turn",
        }
    }
}

/// Draws the controls; returns true when a setting that changes the picture changed.
pub fn controls(ui: &mut Ui, p: &mut Preset, view: &mut View) -> bool {
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
    if p.depth_kind == DepthKind::Relative {
        ui.add(egui::Slider::new(&mut p.max_disp, 0.0..=120.0).text("max disparity (px)"));
        ui.add(
            egui::Slider::new(&mut p.convergence, 0.0..=1.0)
                .text("convergence (nearness at the screen: 0 far .. 1 near)"),
        );
        ui.checkbox(&mut p.depth_far_bright, "depth file is far = bright");
    } else if p.depth_kind == DepthKind::Disparity {
        ui.add(
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
            .add(
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
    });
    (p.clone(), *view) != before
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
