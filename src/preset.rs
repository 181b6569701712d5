//! Presets: the tunable settings of a render as a TOML file. The preview saves and loads
//! them, `render --preset FILE` and `batch --preset FILE` apply them, and
//! [`Preset::command_line`] spells the same settings as `stereosplat render` flags. Field
//! names are the flags' names with `_` for `-`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::depth::normalize::Normalize;
use crate::layout::{Anaglyph, Autocrop, Layout, WarpResolution};
use crate::media::encode::VideoEncoder;
use crate::render::RenderJob;
use crate::stereo::{DepthCurve, DepthKind, DepthUpsample, Eye, FillMode, NO_EDGE_THRESHOLD};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preset {
    pub max_disp: f32,
    /// `--divergence`, when the strength was chosen as a share of the width (it then wins
    /// over `max_disp`, which only records the pixels it gave).
    pub divergence: Option<f32>,
    pub depth_curve: DepthCurve,
    pub foreground_scale: f32,
    pub preserve_border: Option<f32>,
    /// `--convergence auto`: the screen plane follows the subject (wins over the fixed
    /// plane of every kind).
    pub convergence_auto: bool,
    pub floating_window: bool,
    pub autocrop: Option<Autocrop>,
    /// The screen the comfort figures are for.
    pub screen_width_m: f32,
    pub viewing_distance_m: f32,
    /// Relative depth's screen plane: nearness, 0 far .. 1 near.
    pub convergence: f32,
    /// Disparity depth's screen plane, in pixels (`--convergence` with
    /// `--depth-kind disparity`). Kept apart so switching kinds carries nothing over.
    pub convergence_px: f32,
    pub eye: Eye,
    pub max_stretch: f32,
    pub edge_threshold: Option<f32>,
    pub fill: FillMode,
    pub dilate: u32,
    pub ipd_mm: f32,
    pub convergence_depth: Option<f32>,
    pub depth_kind: DepthKind,
    pub depth_far_bright: bool,
    pub depth_scale: Option<f32>,
    pub depth_rgb: bool,
    pub max_depth: f32,
    pub xfov: Option<f32>,
    pub yfov: Option<f32>,
    pub layout: Layout,
    pub anaglyph: Anaglyph,
    pub crf: u32,
    pub speed_preset: String,
    pub depth_model: Option<PathBuf>,
    pub depth_size: u32,
    /// None: the default for the model (clip for video models, ema otherwise).
    pub normalize: Option<Normalize>,
    pub post: Option<PathBuf>,
    pub encoder: VideoEncoder,
    pub bit_depth: u32,
    pub depth_upsample: DepthUpsample,
    pub warp_resolution: WarpResolution,
    /// `--inpaint-model` (file or catalog name) for `fill = "model"`.
    pub inpaint_model: Option<PathBuf>,
}

impl Default for Preset {
    fn default() -> Self {
        Self::from_job(&RenderJob::default())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("cannot read preset {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("preset {path} is not a valid stereosplat preset: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write preset {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl Preset {
    pub fn from_job(job: &RenderJob) -> Self {
        let s = &job.stereo;
        Self {
            max_disp: s.max_disparity_px,
            divergence: s.divergence_pct,
            depth_curve: s.shape.curve,
            foreground_scale: s.shape.foreground_scale,
            preserve_border: s.border_pct,
            convergence_auto: job.auto_convergence,
            floating_window: job.floating_window,
            autocrop: job.autocrop,
            screen_width_m: job.viewing.screen_width_m,
            viewing_distance_m: job.viewing.viewing_distance_m,
            convergence: s.convergence,
            convergence_px: s.convergence_px,
            eye: s.eye,
            max_stretch: s.max_stretch_px,
            edge_threshold: (s.edge_threshold < NO_EDGE_THRESHOLD).then_some(s.edge_threshold),
            fill: s.fill,
            dilate: s.dilate_px,
            ipd_mm: s.camera.ipd_m * 1000.0,
            convergence_depth: s.camera.convergence_m,
            depth_kind: job.depth_kind,
            depth_far_bright: job.depth_far_is_bright,
            depth_scale: job.depth_scale,
            depth_rgb: job.depth_rgb,
            max_depth: job.max_depth_m,
            xfov: job.xfov_deg,
            yfov: job.yfov_deg,
            layout: job.layout,
            anaglyph: job.anaglyph,
            crf: job.encode.crf,
            speed_preset: job.encode.speed_preset.clone(),
            depth_model: job.estimate.model.clone(),
            depth_size: job.estimate.depth_size,
            normalize: job.estimate.normalize,
            post: job.post.clone(),
            encoder: job.encode.encoder,
            bit_depth: job.encode.bit_depth,
            depth_upsample: if s.guided_upsample {
                DepthUpsample::Guided
            } else {
                DepthUpsample::Bilinear
            },
            warp_resolution: job.warp_resolution,
            inpaint_model: job.inpaint.model.clone(),
        }
    }

    /// Writes these settings into `job`, except the fields `keep` names (flags the user
    /// typed, which win over the preset).
    pub fn apply(&self, job: &mut RenderJob, keep: &dyn Fn(&str) -> bool) {
        macro_rules! set {
            ($name:literal, $target:expr, $value:expr) => {
                if !keep($name) {
                    $target = $value;
                }
            };
        }
        set!("max_disp", job.stereo.max_disparity_px, self.max_disp);
        // A typed --max-disp is the strength, whatever unit the preset chose.
        if keep("max_disp") {
            job.stereo.divergence_pct = None;
        } else {
            set!("divergence", job.stereo.divergence_pct, self.divergence);
        }
        set!("depth_curve", job.stereo.shape.curve, self.depth_curve);
        set!(
            "foreground_scale",
            job.stereo.shape.foreground_scale,
            self.foreground_scale
        );
        set!(
            "preserve_border",
            job.stereo.border_pct,
            self.preserve_border
        );
        set!("convergence", job.auto_convergence, self.convergence_auto);
        set!("floating_window", job.floating_window, self.floating_window);
        set!("autocrop", job.autocrop, self.autocrop);
        set!(
            "screen_width_m",
            job.viewing.screen_width_m,
            self.screen_width_m
        );
        set!(
            "viewing_distance_m",
            job.viewing.viewing_distance_m,
            self.viewing_distance_m
        );
        set!("convergence", job.stereo.convergence, self.convergence);
        set!(
            "convergence",
            job.stereo.convergence_px,
            self.convergence_px
        );
        set!("eye", job.stereo.eye, self.eye);
        set!("max_stretch", job.stereo.max_stretch_px, self.max_stretch);
        set!(
            "edge_threshold",
            job.stereo.edge_threshold,
            self.edge_threshold.unwrap_or(NO_EDGE_THRESHOLD)
        );
        set!("fill", job.stereo.fill, self.fill);
        set!("dilate", job.stereo.dilate_px, self.dilate);
        set!("ipd_mm", job.stereo.camera.ipd_m, self.ipd_mm / 1000.0);
        set!(
            "convergence_depth",
            job.stereo.camera.convergence_m,
            self.convergence_depth
        );
        set!("depth_kind", job.depth_kind, self.depth_kind);
        set!("depth_kind", job.estimate.kind, self.depth_kind);
        set!(
            "depth_far_bright",
            job.depth_far_is_bright,
            self.depth_far_bright
        );
        set!("depth_scale", job.depth_scale, self.depth_scale);
        set!("depth_rgb", job.depth_rgb, self.depth_rgb);
        set!("max_depth", job.max_depth_m, self.max_depth);
        set!("xfov", job.xfov_deg, self.xfov);
        set!("yfov", job.yfov_deg, self.yfov);
        set!("layout", job.layout, self.layout);
        set!("layout", job.encode.layout, self.layout);
        set!("anaglyph", job.anaglyph, self.anaglyph);
        set!("crf", job.encode.crf, self.crf);
        set!(
            "speed_preset",
            job.encode.speed_preset,
            self.speed_preset.clone()
        );
        set!("depth_model", job.estimate.model, self.depth_model.clone());
        set!("depth_size", job.estimate.depth_size, self.depth_size);
        set!("normalize", job.estimate.normalize, self.normalize);
        set!("post", job.post, self.post.clone());
        set!("encoder", job.encode.encoder, self.encoder);
        set!("bit_depth", job.encode.bit_depth, self.bit_depth);
        set!(
            "depth_upsample",
            job.stereo.guided_upsample,
            self.depth_upsample == DepthUpsample::Guided
        );
        set!("warp_resolution", job.warp_resolution, self.warp_resolution);
        set!(
            "inpaint_model",
            job.inpaint.model,
            self.inpaint_model.clone()
        );
    }

    pub fn load(path: &Path) -> Result<Self, PresetError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PresetError::Read {
            path: path.into(),
            cause,
        })?;
        toml::from_str(&text).map_err(|e| PresetError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    pub fn save(&self, path: &Path) -> Result<(), PresetError> {
        let text = format!(
            "# stereosplat preset: `stereosplat render IN -o OUT --preset {}`\n{}",
            path.display(),
            toml::to_string_pretty(self).expect("presets serialise")
        );
        crate::fsutil::write_replacing(path, text).map_err(|cause| PresetError::Write {
            path: path.into(),
            cause,
        })
    }

    /// The same settings as `stereosplat render` flags (every setting, so the line does
    /// not depend on future defaults).
    pub fn command_line(&self, input: &Path, output: &Path) -> String {
        use crate::cli::value_name as name;
        let mut a = vec![
            "stereosplat".to_owned(),
            "render".into(),
            quote(&input.display().to_string()),
            "-o".into(),
            quote(&output.display().to_string()),
        ];
        let mut flag = |f: &str, v: String| {
            a.push(format!("--{f}"));
            a.push(v);
        };
        // The fixed screen plane, or `auto` when it follows the subject.
        let plane = |v: f32| {
            if self.convergence_auto {
                "auto".to_owned()
            } else {
                v.to_string()
            }
        };
        flag("depth-kind", name(&self.depth_kind));
        // Each depth kind has its own strength and screen-plane settings; only the ones
        // of this kind are written, so the line never sets another kind's quantity.
        match self.depth_kind {
            DepthKind::Relative => {
                match self.divergence {
                    Some(pct) => flag("divergence", pct.to_string()),
                    None => flag("max-disp", self.max_disp.to_string()),
                }
                flag("convergence", plane(self.convergence));
                flag("depth-curve", self.depth_curve.to_string());
                flag("foreground-scale", self.foreground_scale.to_string());
            }
            DepthKind::Disparity => flag("convergence", plane(self.convergence_px)),
            DepthKind::Metric => {
                flag("max-depth", self.max_depth.to_string());
                flag("ipd-mm", self.ipd_mm.to_string());
                match self.convergence_depth {
                    _ if self.convergence_auto => flag("convergence", "auto".into()),
                    Some(v) => flag("convergence-depth", v.to_string()),
                    None => {}
                }
                if let Some(v) = self.xfov {
                    flag("xfov", v.to_string());
                }
                if let Some(v) = self.yfov {
                    flag("yfov", v.to_string());
                }
            }
        }
        flag("eye", name(&self.eye));
        flag("max-stretch", self.max_stretch.to_string());
        if let Some(t) = self.edge_threshold {
            flag("edge-threshold", t.to_string());
        }
        flag("fill", name(&self.fill));
        flag("dilate", self.dilate.to_string());
        flag("depth-upsample", name(&self.depth_upsample));
        flag("layout", name(&self.layout));
        flag("anaglyph", name(&self.anaglyph));
        flag("warp-resolution", name(&self.warp_resolution));
        flag("crf", self.crf.to_string());
        flag("speed-preset", self.speed_preset.clone());
        flag("encoder", name(&self.encoder));
        flag("bit-depth", self.bit_depth.to_string());
        if let Some(v) = self
            .depth_scale
            .filter(|_| self.depth_kind != DepthKind::Relative)
        {
            flag("depth-scale", v.to_string());
        }
        if let Some(m) = &self.depth_model {
            flag("depth-model", quote(&m.display().to_string()));
            flag("depth-size", self.depth_size.to_string());
        }
        if let Some(n) = &self.normalize {
            flag("normalize", name(n));
        }
        if let Some(p) = &self.post {
            flag("post", quote(&p.display().to_string()));
        }
        if let Some(m) = self
            .inpaint_model
            .as_ref()
            .filter(|_| self.fill == FillMode::Model)
        {
            flag("inpaint-model", quote(&m.display().to_string()));
        }
        flag("screen-width-m", self.screen_width_m.to_string());
        flag("viewing-distance-m", self.viewing_distance_m.to_string());
        let mut line = a.join(" ");
        if let Some(pct) = self.preserve_border {
            line.push_str(&format!(" --preserve-border={pct}"));
        }
        if self.floating_window {
            line.push_str(" --floating-window");
        }
        if let Some(mode) = &self.autocrop {
            line.push_str(&format!(" --autocrop={}", name(mode)));
        }
        if self.depth_far_bright && self.depth_kind == DepthKind::Relative {
            line.push_str(" --depth-far-bright");
        }
        if self.depth_rgb && self.depth_kind == DepthKind::Metric {
            line.push_str(" --depth-rgb");
        }
        line
    }
}

/// Shell quoting for paths with spaces or quotes.
fn quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_unknown_fields_refused() {
        let p = Preset {
            max_disp: 12.5,
            layout: Layout::HalfSbs,
            edge_threshold: Some(0.03),
            ..Preset::default()
        };
        let text = toml::to_string_pretty(&p).unwrap();
        assert_eq!(toml::from_str::<Preset>(&text).unwrap(), p);
        assert!(toml::from_str::<Preset>("max_dips = 3").is_err());
        // Partial files keep the defaults for the rest.
        let q: Preset = toml::from_str("layout = \"anaglyph\"").unwrap();
        assert_eq!(q.layout, Layout::Anaglyph);
        assert_eq!(q.max_disp, Preset::default().max_disp);
    }

    #[test]
    fn typed_flags_win_over_the_preset() {
        let p = Preset {
            max_disp: 7.0,
            convergence: 0.2,
            ..Preset::default()
        };
        let mut job = RenderJob::default();
        job.stereo.max_disparity_px = 30.0;
        p.apply(&mut job, &|f| f == "max_disp");
        assert_eq!(job.stereo.max_disparity_px, 30.0);
        assert_eq!(job.stereo.convergence, 0.2);
    }
}
