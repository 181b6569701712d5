//! The preview window: controls on the left, the composed frame in the middle (drawn from
//! the composer's texture), the timeline and status at the bottom.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Options;
use super::controls::{self, Live, View};
use super::scene::{self, Scene};
use super::source::{CachedFrame, Source};
use super::watch::ShaderWatch;
use super::worker::{Counts, RenderTask, SharedProgress};
use crate::cpu::{DepthFormat, RawDepth, Rgba};
use crate::depth::normalize::Normalize;
use crate::gpu::{Composer, GpuContext, GpuError, ShaderSet, Warper};
use crate::layout::{Autocrop, Layout};
use crate::media::encode::FrameInput;
use crate::preset::Preset;
use crate::render::backend::{self, CpuWarp, Device, GpuWarp, WarpSpec};
use crate::render::{RenderError, RenderJob};
use crate::stereo::{DepthKind, FrameParams, StereoParams, frame_params};

/// How long each eye shows in the wiggle view.
const WIGGLE: Duration = Duration::from_millis(140);

struct Shown {
    id: egui::TextureId,
    size: (u32, u32),
    /// The composer output texture the id points at.
    generation: u64,
}

pub struct PreviewApp {
    ctx: Arc<GpuContext>,
    /// Input, output, depth and model options; the tunable part lives in `preset`.
    job: RenderJob,
    preset: Preset,
    view: View,
    shaders: ShaderSet,
    watch: Option<ShaderWatch>,
    shader_error: Option<String>,
    /// The GPU warp, and the composer whose texture the window shows.
    gpu: GpuWarp,
    /// The CPU warp, when the job warps there (`render::backend::choose_device`: a
    /// software adapter and nothing GPU-only); its frames are written into the GPU
    /// composer's texture.
    cpu: Option<CpuWarp>,
    source: Option<Source>,
    shown: Option<Shown>,
    /// The frame on screen, and whether it must be recomposed.
    current: u64,
    dirty: bool,
    playing: bool,
    next_due: Instant,
    wiggle_right: bool,
    wiggle_at: Instant,
    zoom: f32,
    /// Zoom follows the view's size, so the whole frame shows (the start, and the "fit"
    /// button); moving the slider or 1:1 sets a zoom of its own.
    fit: bool,
    open_path: String,
    output_path: String,
    preset_path: String,
    message: String,
    /// Where an unattended run (`--exit-after-frames`, `--measure-latency`) leaves the
    /// error that ended it, for `preview::run` to return.
    failure: Arc<std::sync::Mutex<Option<String>>>,
    task: Option<RenderTask>,
    // Status.
    frames_shown: u64,
    dropped: u64,
    decode_ms: f32,
    gpu_ms: f32,
    exit_after: Option<u64>,
    /// Playback ran past the last frame (it stops there).
    at_end: bool,
    /// `--measure-latency`: changes left, the pending change's time, the samples.
    latency: Option<(u32, Option<Instant>, Vec<f64>)>,
    loading: Option<Loading>,
    depth_choice: DepthChoice,
    depth_file: String,
    model_path: String,
    /// The depth models of the catalog, for the depth panel.
    catalog: Vec<CatalogModel>,
    /// Auto convergence and the floating window over the clip.
    scene: Scene,
    /// The current frame's figures, for the panel.
    live: Live,
    /// The model fill (`fill = model`), opened for the model it names.
    inpainter: Option<(PathBuf, crate::inpaint::Inpainter)>,
    /// The 3D view's camera.
    orbit: super::orbit::Orbit,
    /// Where the picture was drawn last (physical pixels), said by unattended runs so a
    /// screenshot can be read.
    picture_rect: Option<egui::Rect>,
}

/// A catalog depth model as the depth panel lists it.
struct CatalogModel {
    name: String,
    licence: String,
    installed: bool,
}

/// The catalog's depth models (empty, with a logged reason, when it cannot be read).
fn catalog_models(job: &RenderJob) -> Vec<CatalogModel> {
    let options = crate::models::StoreOptions {
        cache_dir: job.estimate.cache_dir.clone(),
        ..job.estimate.store.clone()
    };
    match crate::models::Store::open(&options) {
        Ok(store) => store
            .catalog()
            .entries()
            .iter()
            .filter(|e| e.task == crate::models::Task::Depth)
            .map(|e| CatalogModel {
                name: e.name.clone(),
                licence: e.licence.clone(),
                installed: store.is_installed(e),
            })
            .collect(),
        Err(e) => {
            log::warn!("preview: the model catalog is not available: {e}");
            Vec::new()
        }
    }
}

/// A clip being opened on a worker thread.
struct Loading {
    job: RenderJob,
    handle: std::thread::JoinHandle<Result<Source, RenderError>>,
    counts: Arc<std::sync::Mutex<Counts>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DepthChoice {
    File,
    Model,
    Builtin,
}

impl PreviewApp {
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        ctx: Arc<GpuContext>,
        job: RenderJob,
        opts: Options,
        failure: Arc<std::sync::Mutex<Option<String>>>,
    ) -> Result<Self, GpuError> {
        // Shaders from disk so edits apply live: --shader-dir, else ./shaders when present.
        let shaders = match &job.shaders {
            ShaderSet::Directory(d) => ShaderSet::Directory(d.clone()),
            ShaderSet::Embedded if Path::new("shaders/compose.wgsl").is_file() => {
                ShaderSet::Directory(PathBuf::from("shaders"))
            }
            ShaderSet::Embedded => ShaderSet::Embedded,
        };
        let mut watch = match &shaders {
            ShaderSet::Directory(d) => {
                log::info!(
                    "preview: shaders from {} (saved edits apply live)",
                    d.display()
                );
                Some(ShaderWatch::new(d))
            }
            ShaderSet::Embedded => None,
        };
        if let Some(post) = &job.post {
            // A folder that does not exist just holds no shaders: only the file is watched.
            let w = watch
                .take()
                .unwrap_or_else(|| ShaderWatch::new(Path::new("")));
            watch = Some(w.with_file(post));
        }
        let warper = Warper::new(&ctx, &shaders)?;
        let mut composer = Composer::new(&ctx, &shaders)?;
        let mut shader_error = None;
        if let Some(post) = &job.post
            && let Err(e) = composer.set_post(&ctx, Some(post))
        {
            shader_error = Some(e.to_string());
        }
        let preset = Preset::from_job(&job);
        let view = match job.layout {
            Layout::Sbs => View::Layout(Layout::Anaglyph),
            Layout::Novel => View::Orbit,
            l => View::Layout(l),
        };
        let output_path = if job.output.as_os_str().is_empty() {
            String::new()
        } else {
            job.output.display().to_string()
        };
        let mut app = Self {
            ctx,
            preset,
            view,
            shaders,
            watch,
            shader_error,
            gpu: GpuWarp { warper, composer },
            cpu: None,
            source: None,
            scene: Scene::default(),
            live: Live::default(),
            inpainter: None,
            orbit: super::orbit::Orbit::new(job.novel.pose),
            picture_rect: None,
            shown: None,
            current: 0,
            dirty: true,
            playing: opts.play,
            next_due: Instant::now(),
            wiggle_right: false,
            wiggle_at: Instant::now(),
            zoom: 1.0,
            fit: true,
            open_path: job.input.display().to_string(),
            output_path,
            preset_path: opts
                .preset_path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "preset.toml".into()),
            message: String::new(),
            failure,
            task: None,
            frames_shown: 0,
            dropped: 0,
            decode_ms: 0.0,
            gpu_ms: 0.0,
            exit_after: opts.exit_after_frames,
            at_end: false,
            latency: opts.measure_latency.map(|n| (n, None, Vec::new())),
            loading: None,
            depth_choice: DepthChoice::File,
            depth_file: job
                .depth
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            model_path: job
                .estimate
                .model
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            catalog: catalog_models(&job),
            job,
        };
        if !app.job.input.as_os_str().is_empty() {
            let job = app.job.clone();
            app.start_loading(job, &cc.egui_ctx);
        }
        Ok(app)
    }

    /// Opens a clip (keeping the depth choice for it: a file given for the first clip,
    /// else what the depth panel says).
    fn open(&mut self, path: &Path, egui_ctx: &egui::Context) {
        let mut job = self.job.clone();
        job.input = path.to_path_buf();
        if self.source.is_some() || self.loading.is_some() {
            // A depth file given on the command line belongs to the first clip only.
            job.depth = None;
            self.depth_file.clear();
        }
        self.open_path = path.display().to_string();
        self.start_loading(job, egui_ctx);
    }

    /// Opens `job`'s clip and depth on a worker thread: estimating depth can take long,
    /// and the window stays live meanwhile.
    fn start_loading(&mut self, mut job: RenderJob, egui_ctx: &egui::Context) {
        self.preset.apply(&mut job, &|f| f == "depth_model");
        let counts = Arc::new(std::sync::Mutex::new(Counts::default()));
        let (ctx, j, c, repaint) = (
            self.ctx.clone(),
            job.clone(),
            counts.clone(),
            egui_ctx.clone(),
        );
        let handle = std::thread::spawn(move || {
            let mut progress = SharedProgress::new(c, repaint.clone());
            let result = Source::open(&ctx, &j, &mut progress);
            repaint.request_repaint();
            result
        });
        self.message = format!("opening {}...", job.input.display());
        self.loading = Some(Loading {
            job,
            handle,
            counts,
        });
    }

    /// Picks up a finished load.
    fn poll_loading(&mut self, egui_ctx: &egui::Context) {
        if !self
            .loading
            .as_ref()
            .is_some_and(|l| l.handle.is_finished())
        {
            return;
        }
        let l = self.loading.take().expect("checked above");
        let path = l.job.input.clone();
        match l.handle.join() {
            Ok(Ok(s)) => {
                self.message = format!(
                    "{}: {}x{}, depth {}{}",
                    path.display(),
                    s.info.width,
                    s.info.height,
                    s.depth_path.display(),
                    if s.is_estimated() { " (estimated)" } else { "" }
                );
                if self.output_path.is_empty() {
                    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                    self.output_path = path
                        .with_file_name(format!("{}_3d.mp4", stem.unwrap_or_default()))
                        .display()
                        .to_string();
                }
                if self.source.as_ref().is_none_or(|old| old.input != s.input) {
                    self.current = 0;
                }
                self.depth_choice = match (&l.job.depth, &l.job.estimate.model) {
                    (Some(_), _) => DepthChoice::File,
                    (None, Some(_)) => DepthChoice::Model,
                    (None, None) if !s.is_estimated() => DepthChoice::File,
                    (None, None) => DepthChoice::Builtin,
                };
                if !s.is_estimated() {
                    self.depth_file = s.depth_path.display().to_string();
                }
                self.job = l.job;
                self.source = Some(s);
                self.scene = Scene::default();
                self.dirty = true;
                self.next_due = Instant::now();
            }
            Ok(Err(e)) => self.report(format!("cannot open {}: {e:#}", path.display()), egui_ctx),
            Err(_) => self.report(format!("opening {} crashed", path.display()), egui_ctx),
        }
    }

    /// Shows an error in the window and logs it. An unattended run has no one to read it:
    /// it closes, and `preview::run` returns the error.
    fn report(&mut self, message: String, egui_ctx: &egui::Context) {
        if message != self.message {
            log::error!("preview: {message}");
        }
        if self.exit_after.is_some() || self.latency.is_some() {
            *self.failure.lock().unwrap() = Some(message.clone());
            egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.message = message;
    }

    fn depth_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Depth source");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.depth_choice, DepthChoice::File, "file");
            ui.selectable_value(&mut self.depth_choice, DepthChoice::Model, "ONNX model");
            ui.selectable_value(&mut self.depth_choice, DepthChoice::Builtin, "built-in");
        });
        match self.depth_choice {
            DepthChoice::File => {
                ui.horizontal(|ui| {
                    let name = ui.label("depth file");
                    ui.text_edit_singleline(&mut self.depth_file)
                        .labelled_by(name.id);
                });
            }
            DepthChoice::Model => {
                egui::ComboBox::from_label("catalog model")
                    .selected_text(if self.model_path.is_empty() {
                        "choose..."
                    } else {
                        self.model_path.as_str()
                    })
                    .show_ui(ui, |ui| {
                        for m in &self.catalog {
                            let label = format!(
                                "{}{} ({})",
                                m.name,
                                if m.installed {
                                    ""
                                } else {
                                    ", downloads on use"
                                },
                                m.licence
                            );
                            ui.selectable_value(&mut self.model_path, m.name.clone(), label);
                        }
                    });
                ui.horizontal(|ui| {
                    let name = ui.label("or model file");
                    ui.text_edit_singleline(&mut self.model_path)
                        .labelled_by(name.id);
                });
                ui.add(
                    egui::Slider::new(&mut self.preset.depth_size, 14..=1036)
                        .text("model input short side"),
                );
            }
            DepthChoice::Builtin => {
                ui.small("image cues: position, focus, colour, motion");
            }
        }
        if matches!(self.depth_choice, DepthChoice::Model | DepthChoice::Builtin) {
            let name = |n: Option<Normalize>| match n {
                None => "default (clip for video models, else ema)",
                Some(n) => n.name(),
            };
            egui::ComboBox::from_label("normalise over time")
                .selected_text(name(self.preset.normalize))
                .show_ui(ui, |ui| {
                    for n in [
                        None,
                        Some(Normalize::Ema),
                        Some(Normalize::Clip),
                        Some(Normalize::Frame),
                    ] {
                        ui.selectable_value(&mut self.preset.normalize, n, name(n));
                    }
                });
        }
        if let Some(l) = &self.loading {
            let c = l.counts.lock().map(|c| *c).unwrap_or_default();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(match c.total {
                    Some(t) if c.done > 0 => format!("estimating depth: {} / {t} frames", c.done),
                    _ => "opening...".into(),
                });
            });
        } else if ui
            .add_enabled(
                !self.job.input.as_os_str().is_empty(),
                egui::Button::new("Use this depth"),
            )
            .clicked()
        {
            let mut job = self.job.clone();
            job.depth = None;
            job.estimate.model = None;
            self.preset.depth_model = None;
            match self.depth_choice {
                DepthChoice::File => job.depth = Some(PathBuf::from(&self.depth_file)),
                DepthChoice::Model => {
                    job.estimate.model = Some(PathBuf::from(&self.model_path));
                    self.preset.depth_model = job.estimate.model.clone();
                }
                DepthChoice::Builtin => {
                    // No file beside the clip is used: estimate from the cues.
                    job.estimate.model = None;
                }
            }
            job.estimate.depth_size = self.preset.depth_size;
            job.estimate.normalize = self.preset.normalize;
            if self.depth_choice == DepthChoice::Builtin {
                job.estimate.force = true;
            }
            self.start_loading(job, ui.ctx());
        }
    }

    /// The job for the current settings (also what the Render button renders).
    fn current_job(&self) -> RenderJob {
        let mut job = self.job.clone();
        self.preset.apply(&mut job, &|_| false);
        job.output = PathBuf::from(&self.output_path);
        job.shaders = self.shaders.clone();
        if job.layout == Layout::Novel && job.novel.path.is_none() {
            job.novel.pose = self.orbit.pose;
            job.stereo.eye = crate::stereo::Eye::Right;
            job.xfov_deg = self.orbit.fov_deg.or(job.xfov_deg);
        }
        job
    }

    fn reload_shaders(&mut self) {
        let result = self
            .gpu
            .warper
            .reload(&self.ctx, &self.shaders)
            .and_then(|_| self.gpu.composer.reload(&self.ctx, &self.shaders));
        match result {
            Ok(()) => {
                log::info!("preview: shaders reloaded");
                self.shader_error = None;
            }
            Err(e) => {
                log::warn!("preview: shader error, keeping the last good pipeline: {e}");
                self.shader_error = Some(e.to_string());
            }
        }
        self.dirty = true;
    }

    fn layout_now(&mut self) -> Layout {
        match self.view {
            View::Layout(l) => l,
            View::Orbit => Layout::Novel,
            View::Wiggle => {
                if self.wiggle_at.elapsed() >= WIGGLE {
                    self.wiggle_right = !self.wiggle_right;
                    self.wiggle_at = Instant::now();
                    self.dirty = true;
                }
                if self.wiggle_right {
                    Layout::Right
                } else {
                    Layout::Left
                }
            }
        }
    }

    /// Warps and composes the current frame with the current settings, if anything
    /// changed; returns whether a new picture was produced. The warp is built and checked
    /// by the render's own code (`render::backend`), so the window runs the same checks.
    fn compose(&mut self, frame: &eframe::Frame) -> Result<bool, RenderError> {
        let layout = self.layout_now();
        let Some(source) = self.source.as_mut() else {
            return Ok(false);
        };
        if !self.dirty {
            return Ok(false);
        }
        let t = Instant::now();
        let Some(f) = source.frame(self.current)? else {
            // Past the end: stop on the last frame.
            self.playing = false;
            self.current = self.current.saturating_sub(1);
            self.at_end = true;
            return Ok(false);
        };
        self.decode_ms = t.elapsed().as_secs_f32() * 1000.0;
        let t = Instant::now();
        let mut job = RenderJob {
            layout,
            shaders: self.shaders.clone(),
            ..settings_for(source, &self.preset)
        };
        let orbit = layout == Layout::Novel;
        if orbit {
            // One camera, drawn by the GPU (the window's own device); the model fill
            // repaints only the CPU warp's eyes, so the 3D view fills as `background` does.
            job.stereo.eye = crate::stereo::Eye::Right;
            job.warp_device = crate::render::WarpDevice::Gpu;
            if job.stereo.fill == crate::stereo::FillMode::Model {
                job.stereo.fill = crate::stereo::FillMode::Background;
            }
        }
        let size = source.size();
        let keep_bars = source
            .canvas
            .filter(|_| source.autocrop == Some(Autocrop::Keep));
        let spec =
            WarpSpec::new(&job, layout, size, source.depth_size(), false)?.in_canvas(keep_bars);
        // The window shows the GPU composer's texture whichever device warps, so the frame
        // must fit the GPU (`display`).
        let device = backend::choose_device(&self.ctx, &job, &spec, true)?;
        let shown = keep_bars.map_or(size, |c| c.size);
        let stereo = backend::frame_stereo(&job, shown)?;
        let range = source.range(&job);
        if self.scene.update(source, &job, &stereo, &range) {
            self.dirty = true;
        }
        let (stereo, window) = self.scene.at(stereo, job.depth_kind, f.index);
        self.live = Live {
            width: shown.0,
            plane: job
                .auto_convergence
                .then(|| screen_plane(&stereo, job.depth_kind)),
            comfort: Some(scene::comfort_line(&f, &spec, &stereo, &range, job.viewing)),
            window,
        };
        self.gpu.prepare(&self.ctx, &spec)?;
        self.gpu.composer.set_window(window[0], window[1]);
        let params = frame_params(&stereo, &range, size, spec.work, spec.depth);
        match device {
            Device::Cpu => self.warp_on_cpu(&spec, &f, &params, &job)?,
            Device::Gpu => {
                self.cpu = None;
                let ctx = &self.ctx;
                let warper = &mut self.gpu.warper;
                warper.upload_color(&ctx.queue, &f.rgba, f.stride);
                warper.upload_depth(&ctx.queue, &f.depth, f.depth_stride);
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                if orbit {
                    let fov = self
                        .orbit
                        .fov(&stereo, job.depth_kind, size.0, job.xfov_deg);
                    let view = self.orbit.view(&stereo, &range, size, spec.work, fov);
                    // The render's edge test; without one, surfaces seen within a degree
                    // of edge-on break. No stretch test: the camera turns freely.
                    let edge = if stereo.edge_threshold < crate::stereo::NO_EDGE_THRESHOLD {
                        stereo.edge_threshold
                    } else {
                        view.source.edge_on_threshold(self.orbit.step)
                    };
                    let mesh = crate::gpu::mesh_params(&view, self.orbit.step, edge, f32::INFINITY);
                    warper.encode_novel(ctx, &mut enc, &stereo, &range, &mesh);
                } else {
                    warper.encode(&ctx.queue, &mut enc, &stereo, &range);
                }
                self.gpu.composer.encode(&ctx.queue, &mut enc);
                ctx.queue.submit([enc.finish()]);
            }
        }
        self.ctx.check_errors()?;
        self.gpu_ms = t.elapsed().as_secs_f32() * 1000.0;
        self.dirty = false;
        self.show(frame);
        Ok(true)
    }

    /// The CPU warp of `f`, written into the GPU composer's texture that the window shows.
    fn warp_on_cpu(
        &mut self,
        spec: &WarpSpec,
        f: &CachedFrame,
        params: &FrameParams,
        job: &RenderJob,
    ) -> Result<(), RenderError> {
        let cpu = match self.cpu.take() {
            Some(c) if c.spec == *spec => self.cpu.insert(c),
            old => {
                if old.is_none() {
                    log::info!(
                        "preview: warping on the CPU ({} is a software rasteriser; --warp-device gpu uses it)",
                        self.ctx.describe()
                    );
                }
                self.cpu.insert(CpuWarp::new(spec, FrameInput::Rgba))
            }
        };
        let input = Rgba {
            data: &f.rgba,
            stride: f.stride as usize,
            size: spec.frame,
        };
        let depth = RawDepth {
            data: &f.depth,
            stride: f.depth_stride as usize,
            size: spec.depth,
            // The frame cache holds depth widened to 16 bits.
            format: DepthFormat::of(spec.rgb_depth, false),
        };
        cpu.warper.warp(input, depth, params);
        if let Some(reference) = job
            .inpaint
            .model
            .as_ref()
            .filter(|_| job.stereo.fill == crate::stereo::FillMode::Model)
        {
            // Opened once per model (the paused frame and playback share it).
            if self.inpainter.as_ref().is_none_or(|(m, _)| m != reference) {
                self.inpainter =
                    crate::inpaint::Inpainter::for_job(job)?.map(|inp| (reference.clone(), inp));
            }
            if let Some((_, inp)) = &mut self.inpainter {
                let size = cpu.warper.work_size();
                for (i, (filled, warped)) in cpu.warper.eyes_to_repaint().enumerate() {
                    inp.fill(i, filled, warped, size)?;
                }
            }
        }
        cpu.composer.set_window(self.live.window);
        let rgba = cpu.composer.compose(&cpu.warper, input);
        let out = self.gpu.composer.output_texture();
        self.ctx.queue.write_texture(
            out.as_image_copy(),
            rgba,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(out.width() * 4),
                rows_per_image: Some(out.height()),
            },
            out.size(),
        );
        self.ctx.queue.submit([]);
        Ok(())
    }

    /// Points the window's image at the composer's texture.
    fn show(&mut self, frame: &eframe::Frame) {
        // Show the composer's texture itself, registered with egui once per texture: the
        // id keeps pointing at it while new frames are composed into it.
        let generation = self.gpu.composer.output_generation();
        if self
            .shown
            .as_ref()
            .is_none_or(|s| s.generation != generation)
            && let Some(rs) = frame.wgpu_render_state()
        {
            let view = self.gpu.composer.display_view();
            let size = self.gpu.composer.output_size();
            let mut renderer = rs.renderer.write();
            match &mut self.shown {
                Some(s) => {
                    renderer.update_egui_texture_from_wgpu_texture(
                        &rs.device,
                        &view,
                        wgpu::FilterMode::Nearest,
                        s.id,
                    );
                    s.size = size;
                    s.generation = generation;
                }
                None => {
                    let id = renderer.register_native_texture(
                        &rs.device,
                        &view,
                        wgpu::FilterMode::Nearest,
                    );
                    self.shown = Some(Shown {
                        id,
                        size,
                        generation,
                    });
                }
            }
        }
    }

    /// `--measure-latency`: this call starts after the previous frame (with the changed
    /// picture) was painted and presented, so now - change is the slider-to-screen time.
    fn latency_probe(&mut self, egui_ctx: &egui::Context) {
        let Some((left, pending, samples)) = &mut self.latency else {
            return;
        };
        if self.source.is_none() || self.shown.is_none() {
            egui_ctx.request_repaint();
            return;
        }
        if let Some(t0) = pending.take() {
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        if *left == 0 {
            let mut s = samples.clone();
            s.sort_by(f64::total_cmp);
            eprintln!(
                "preview latency: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} changes ({}x{} frame, view {}) on {}",
                s[s.len() / 2],
                s[0],
                s[s.len() - 1],
                s.len(),
                self.source.as_ref().map(|x| x.size().0).unwrap_or(0),
                self.source.as_ref().map(|x| x.size().1).unwrap_or(0),
                self.view.label(),
                self.ctx.describe()
            );
            self.latency = None;
            egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        *left -= 1;
        self.preset.max_disp = if self.preset.max_disp == 20.0 {
            10.0
        } else {
            20.0
        };
        *pending = Some(Instant::now());
        self.dirty = true;
        egui_ctx.request_repaint();
    }

    fn timeline(&mut self, ui: &mut egui::Ui) {
        let Some(source) = self.source.as_ref() else {
            ui.label("Open a clip: type its path above, or drop a file on the window.");
            return;
        };
        let count = source.frame_count().unwrap_or(self.current + 1).max(1);
        let frame_nanos = source.frame_nanos();
        ui.horizontal(|ui| {
            if ui
                .button(if self.playing { "Pause" } else { "Play" })
                .clicked()
            {
                self.playing = !self.playing;
                self.at_end = false;
                self.next_due = Instant::now();
            }
            if ui.button("< Step").clicked() && self.current > 0 {
                self.current -= 1;
                self.playing = false;
                self.dirty = true;
            }
            if ui.button("Step >").clicked() {
                self.current = (self.current + 1).min(count - 1);
                self.playing = false;
                self.dirty = true;
            }
            let mut at = self.current;
            ui.spacing_mut().slider_width = (ui.available_width() - 160.0).max(100.0);
            let r = ui.add(egui::Slider::new(&mut at, 0..=count - 1).text("frame"));
            if r.changed() {
                self.current = at;
                self.dirty = true;
            }
            ui.label(format!(
                "{:.2} s",
                self.current as f64 * frame_nanos as f64 / 1e9
            ));
        });
    }

    fn advance_playback(&mut self) {
        let Some(source) = self.source.as_ref() else {
            return;
        };
        if !self.playing {
            return;
        }
        let now = Instant::now();
        if now < self.next_due {
            return;
        }
        let period = Duration::from_nanos(source.frame_nanos());
        // Frames whose time has already passed are dropped to keep the source rate.
        let late = (now - self.next_due).as_nanos() / period.as_nanos().max(1);
        let late = late as u64;
        self.dropped += late;
        let count = source.frame_count().unwrap_or(u64::MAX);
        let next = self.current + 1 + late;
        if next >= count {
            self.current = 0; // loop
        } else {
            self.current = next;
        }
        self.next_due = now + period;
        self.dirty = true;
    }

    fn render_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Render");
        controls::output_controls(ui, &mut self.preset);
        ui.horizontal(|ui| {
            let name = ui.label("output");
            ui.text_edit_singleline(&mut self.output_path)
                .labelled_by(name.id);
        });
        let input = self.job.input.clone();
        let output = PathBuf::from(&self.output_path);
        if let Some(task) = &mut self.task {
            let c = task.counts();
            let fraction = c
                .total
                .map(|t| c.done as f32 / t.max(1) as f32)
                .unwrap_or(0.0);
            let eta = task
                .eta_secs()
                .map(|s| format!(", {s:.0} s left"))
                .unwrap_or_default();
            ui.add(egui::ProgressBar::new(fraction).text(format!(
                "{} / {} frames{eta}",
                c.done,
                c.total.map(|t| t.to_string()).unwrap_or("?".into())
            )));
            if ui.button("Cancel").clicked() {
                task.cancel();
            }
            if let Some(result) = task.take_result() {
                self.message = match result {
                    Ok(r) => format!(
                        "rendered {} ({} frames in {:.1} s)",
                        r.output.display(),
                        r.frames,
                        r.seconds
                    ),
                    Err(e) => format!("render failed: {e:#}"),
                };
                self.task = None;
            }
        } else if ui
            .add_enabled(
                self.source.is_some() && !self.output_path.is_empty(),
                egui::Button::new("Render the whole clip"),
            )
            .clicked()
        {
            let job = self.current_job();
            match job.validate() {
                Ok(()) => {
                    self.task = Some(RenderTask::start(self.ctx.clone(), job, ui.ctx().clone()))
                }
                Err(e) => self.message = format!("cannot render: {e:#}"),
            }
        }
        ui.label("Same as:");
        let line = self.preset.command_line(&input, &output);
        ui.add(egui::Label::new(egui::RichText::new(&line).monospace()).wrap());
        if ui.button("Copy command").clicked() {
            ui.ctx().copy_text(line);
        }

        ui.separator();
        ui.heading("Preset");
        ui.horizontal(|ui| {
            let name = ui.label("file");
            ui.text_edit_singleline(&mut self.preset_path)
                .labelled_by(name.id);
            if ui.button("Save").clicked() {
                self.message = match self.preset.save(Path::new(&self.preset_path)) {
                    Ok(()) => format!("saved {}", self.preset_path),
                    Err(e) => e.to_string(),
                };
            }
            if ui.button("Load").clicked() {
                match Preset::load(Path::new(&self.preset_path)) {
                    Ok(p) => {
                        self.preset = p;
                        self.dirty = true;
                        self.message = format!("loaded {}", self.preset_path);
                    }
                    Err(e) => self.message = e.to_string(),
                }
            }
        });
    }
}

impl eframe::App for PreviewApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let egui_ctx = ui.ctx().clone();
        if let Some(w) = &mut self.watch
            && w.changed()
        {
            self.reload_shaders();
        }
        let dropped: Vec<PathBuf> = egui_ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.first() {
            self.open(p, &egui_ctx);
        }
        self.poll_loading(&egui_ctx);
        self.advance_playback();
        self.latency_probe(&egui_ctx);
        let produced = match self.compose(frame) {
            Ok(p) => p,
            Err(e) => {
                self.report(format!("{e:#}"), &egui_ctx);
                self.playing = false;
                self.dirty = false;
                false
            }
        };

        egui::Panel::top("file").show(ui, |ui| {
            ui.horizontal(|ui| {
                let name = ui.label("clip");
                ui.text_edit_singleline(&mut self.open_path)
                    .labelled_by(name.id);
                if ui.button("Open").clicked() {
                    let p = PathBuf::from(&self.open_path);
                    self.open(&p, ui.ctx());
                }
                ui.label(&self.message);
            });
        });
        let hdr = self
            .source
            .as_ref()
            .and_then(|s| s.info.hdr.as_ref())
            .map(|h| format!(" · HDR source ({}) shown tone-mapped to SDR", h.describe()))
            .unwrap_or_default();
        egui::Panel::bottom("status").show(ui, |ui| {
            self.timeline(ui);
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{}{} · decode {:.1} ms · warp+compose {:.1} ms · shown {} · dropped {}{hdr}",
                    self.ctx.describe(),
                    if self.cpu.is_some() {
                        " (warp on the CPU)"
                    } else {
                        ""
                    },
                    self.decode_ms,
                    self.gpu_ms,
                    self.frames_shown,
                    self.dropped
                ));
            });
        });
        egui::Panel::left("controls").show(ui, |ui| self.controls_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| self.picture_panel(ui));
        self.count_shown(produced, &egui_ctx);
        if self.playing
            || self.task.is_some()
            || self.watch.is_some()
            || matches!(self.view, View::Wiggle)
        {
            egui_ctx.request_repaint_after(Duration::from_millis(5));
        }
    }
}

impl PreviewApp {
    /// The settings, the depth choice, shader status and the render button (left).
    fn controls_panel(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            let autocrop = self.preset.autocrop;
            if controls::controls(ui, &mut self.preset, &mut self.view, &self.live) {
                self.dirty = true;
            }
            if let Some(status) = &self.scene.status {
                ui.small(status);
            }
            // The bars are found when the clip opens: a change opens it again.
            if self.preset.autocrop != autocrop && self.source.is_some() {
                let job = self.current_job();
                self.start_loading(job, ui.ctx());
            }
            ui.separator();
            self.depth_panel(ui);
            if let Some(err) = &self.shader_error {
                ui.separator();
                ui.colored_label(
                    egui::Color32::LIGHT_RED,
                    "Shader error (the last good version keeps running):",
                );
                ui.label(
                    egui::RichText::new(err)
                        .monospace()
                        .color(egui::Color32::LIGHT_RED),
                );
            }
            if let Some(w) = &self.watch {
                ui.small(format!("shaders: {} (live)", w.dir().display()));
            }
            if let Some(p) = &self.job.post {
                ui.small(format!(
                    "post-process: {} (live; replaces the view's packing)",
                    p.display()
                ));
            }
            ui.separator();
            self.render_panel(ui);
        });
    }

    /// The composed frame with its zoom controls (middle).
    fn picture_panel(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui
                .add(
                    egui::Slider::new(&mut self.zoom, 0.1..=8.0)
                        .logarithmic(true)
                        .text("zoom"),
                )
                .changed()
            {
                self.fit = false;
            }
            if ui.button("1:1").clicked() {
                self.zoom = 1.0;
                self.fit = false;
            }
            if ui.selectable_label(self.fit, "fit").clicked() {
                self.fit = true;
            }
        });
        if self.view == View::Orbit {
            self.orbit_bar(ui);
        }
        if let Some(s) = &self.shown {
            // Zoom 1 means one texel per physical pixel.
            let ppp = ui.ctx().pixels_per_point();
            if self.fit {
                self.zoom = fit_zoom(ui.available_size() * ppp, s.size);
            }
            let size = egui::vec2(s.size.0 as f32, s.size.1 as f32) * self.zoom / ppp;
            let image = egui::Image::new((s.id, size));
            if self.view == View::Orbit {
                let response = ui.add(image.sense(egui::Sense::click_and_drag()));
                self.orbit_input(ui, &response);
                self.picture_rect = Some(response.rect);
            } else {
                egui::ScrollArea::both().show(ui, |ui| {
                    let response = ui.image((s.id, size));
                    self.picture_rect = Some(response.rect);
                });
            }
        }
    }

    /// The 3D view's camera controls above the picture.
    fn orbit_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("reset camera (R)").clicked() {
                self.orbit.reset();
                self.dirty = true;
            }
            let kind = self.preset.depth_kind;
            let mut fov = self.orbit.fov_deg.unwrap_or_else(|| {
                self.orbit.last.map_or(crate::view3d::DEFAULT_FOV_DEG, |v| {
                    2.0 * (v.source.size.0 as f32 / (2.0 * v.source.fx))
                        .atan()
                        .to_degrees()
                })
            });
            let label = if kind == DepthKind::Metric {
                "field of view (--xfov)"
            } else {
                "field of view"
            };
            if ui
                .add(
                    egui::Slider::new(&mut fov, 10.0..=150.0)
                        .suffix("°")
                        .text(label),
                )
                .changed()
            {
                self.orbit.fov_deg = Some(fov);
                self.orbit.distance = None;
                self.dirty = true;
            }
            if ui
                .add(egui::Slider::new(&mut self.orbit.step, 1..=8).text("pixels per vertex"))
                .changed()
            {
                self.dirty = true;
            }
        });
        let mut flags = self.orbit.flags();
        ui.horizontal(|ui| {
            ui.label("render this camera:");
            ui.add(egui::TextEdit::singleline(&mut flags).desired_width(f32::INFINITY));
        });
    }

    /// Drag orbits, scroll dollies, R resets; the source camera's frustum is drawn over
    /// the picture.
    fn orbit_input(&mut self, ui: &egui::Ui, response: &egui::Response) {
        let drag = response.drag_delta();
        if drag != egui::Vec2::ZERO {
            self.orbit.drag(drag.x, drag.y);
            self.dirty = true;
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.orbit.dolly(scroll);
                self.dirty = true;
            }
        }
        if !ui.ctx().egui_wants_keyboard_input() && ui.input(|i| i.key_pressed(egui::Key::R)) {
            self.orbit.reset();
            self.dirty = true;
        }
        let Some(view) = &self.orbit.last else {
            return;
        };
        let rect = response.rect;
        let (w, h) = (view.source.size.0 as f32, view.source.size.1 as f32);
        let at =
            |(u, v): (f32, f32)| rect.min + egui::vec2(u / w * rect.width(), v / h * rect.height());
        let painter = ui.painter_at(rect);
        let stroke = egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 220, 60));
        for [a, b] in self.orbit.frustum_lines() {
            painter.line_segment([at(a), at(b)], stroke);
        }
    }

    /// Counts a produced frame, and ends an unattended run (`--exit-after-frames`) when
    /// it has shown enough or the clip has ended.
    fn count_shown(&mut self, produced: bool, egui_ctx: &egui::Context) {
        if produced {
            self.frames_shown += 1;
            if self.exit_after.is_some() {
                if let Some(r) = self.picture_rect {
                    let ppp = egui_ctx.pixels_per_point();
                    eprintln!(
                        "preview: picture at {:.0},{:.0} size {:.0}x{:.0} px",
                        r.min.x * ppp,
                        r.min.y * ppp,
                        r.width() * ppp,
                        r.height() * ppp
                    );
                }
                eprintln!(
                    "preview: frame {} shown ({} total){}",
                    self.current,
                    self.frames_shown,
                    self.live
                        .plane
                        .as_ref()
                        .map(|p| format!(", screen plane {p}"))
                        .unwrap_or_default()
                );
            }
        }
        if let Some(n) = self.exit_after
            && self.frames_shown >= n
        {
            eprintln!("preview: {n} frames shown, closing");
            egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        } else if self.exit_after.is_some() && self.at_end {
            // Nobody is there to press play again: a clip shorter than N (or one whose
            // late frames were dropped) ends the run instead of waiting forever.
            eprintln!(
                "preview: the clip ended after {} frames shown, closing",
                self.frames_shown
            );
            egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

/// The zoom (texels per physical pixel) at which a `size` frame fills `avail` physical
/// pixels without cropping.
pub fn fit_zoom(avail: egui::Vec2, size: (u32, u32)) -> f32 {
    let z = (avail.x / size.0.max(1) as f32).min(avail.y / size.1.max(1) as f32);
    if z.is_finite() && z > 0.0 { z } else { 1.0 }
}

/// The job for `source`'s frames with the window's settings: how the depth file's values
/// are read stays as resolved for that file (an estimate is relative near = bright, or
/// millimetres); the rest is the preset.
fn settings_for(source: &Source, preset: &Preset) -> RenderJob {
    let mut job = source.depth_job.clone();
    let estimated = source.is_estimated();
    preset.apply(&mut job, &|f| {
        matches!(
            f,
            "depth_scale" | "depth_rgb" | "depth_model" | "depth_size" | "normalize"
        ) || (estimated && matches!(f, "depth_kind" | "depth_far_bright"))
    });
    job
}

/// Where the screen plane is now, in the depth kind's unit (auto convergence moves it).
fn screen_plane(stereo: &StereoParams, kind: DepthKind) -> String {
    match kind {
        DepthKind::Relative => format!("nearness {:.3}", stereo.convergence),
        DepthKind::Metric => match stereo.camera.convergence_m {
            Some(m) if m.is_finite() => format!("{m:.2} m"),
            _ => "infinity".into(),
        },
        DepthKind::Disparity => format!("{:+.2} px of disparity", stereo.convergence_px),
    }
}
