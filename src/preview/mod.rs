//! `stereosplat preview`: an egui window (eframe, wgpu renderer) on the same wgpu device
//! as the warper, so the composed frame is drawn straight from its GPU texture. The user
//! tunes the settings while the clip plays or is scrubbed, then renders it from the
//! window. Shaders are read from `shaders/` (or `--shader-dir`) and rebuilt when saved.
//!
//! - [`source`]: decoded frames and their depth, with seeking and an in-memory cache;
//! - [`controls`]: the settings panel (a plain function of the settings, tested headless);
//! - [`orbit`]: the 3D view's camera (the frame as a mesh, drawn by the warper);
//! - [`scene`]: auto convergence and the floating window over the clip, and the
//!   current frame's comfort figures;
//! - [`watch`]: shader-folder polling for live reload;
//! - [`worker`]: the full render on a worker thread, with progress and cancel;
//! - [`app`]: the window tying them together.

pub mod app;
pub mod controls;
pub mod orbit;
pub mod scene;
pub mod source;
pub mod watch;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use crate::gpu::{AdapterChoice, GpuContext, GpuError};
use crate::render::RenderJob;

pub struct Options {
    pub play: bool,
    pub exit_after_frames: Option<u64>,
    pub measure_latency: Option<u32>,
    pub preset_path: Option<PathBuf>,
}

/// Why the preview could not run, or what ended an unattended run.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(
        "the preview needs a display (DISPLAY or WAYLAND_DISPLAY is not set); on a headless \
         machine use `stereosplat render`, or run it under Xvfb"
    )]
    NoDisplay,
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("the preview window failed: {0}")]
    Window(String),
    /// The error that closed an unattended run (`--exit-after-frames`).
    #[error("{0}")]
    Ended(String),
}

pub fn run(job: RenderJob, adapter: &AdapterChoice, opts: Options) -> Result<(), PreviewError> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(PreviewError::NoDisplay);
    }
    let ctx = Arc::new(GpuContext::new(adapter)?);
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("stereosplat preview")
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
                instance: ctx.instance.clone(),
                adapter: ctx.adapter.clone(),
                device: ctx.device.clone(),
                queue: ctx.queue.clone(),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    // An unattended run (--exit-after-frames, --measure-latency) that hits an error
    // closes the window and leaves the error here.
    let failure = Arc::new(std::sync::Mutex::new(None));
    let slot = failure.clone();
    eframe::run_native(
        "stereosplat preview",
        native,
        Box::new(move |cc| {
            let app = app::PreviewApp::new(cc, ctx, job, opts, slot)?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| PreviewError::Window(e.to_string()))?;
    let ended = failure.lock().unwrap_or_else(|e| e.into_inner()).take();
    match ended {
        Some(message) => Err(PreviewError::Ended(message)),
        None => Ok(()),
    }
}
