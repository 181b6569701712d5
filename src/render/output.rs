//! The render's frames from the warp to the encoder(s). On the GPU, each frame is
//! uploaded, warped and composed, packed to I420 and read back through a ring a few
//! frames behind, so the GPU works while the encoder takes the previous frame. On the
//! CPU, the warp runs on its own threads and composes straight into the encoder's
//! buffers. Either way the loop in `render` hands over one frame at a time.

use std::collections::VecDeque;
use std::time::Instant;

use super::backend::{CpuWarp, Device, GpuWarp, WarpSpec};
use super::stats::{Spans, StageTimes};
use super::{RenderError, RenderJob};
use crate::cpu::{CpuJob, CpuOutput, CpuPipeline, DepthFormat};
use crate::depth::prerendered::DepthPixels;
use crate::frame::FramePixels;
use crate::gpu::{Composer, GpuContext, PassTimer, Readback, ShaderSet, YuvPacker};
use crate::layout::Layout;
use crate::media::decode::{ColourConvert, Frame};
use crate::media::encode::{Encoder, FrameInput};
use crate::stereo::{DepthRange, Eye, StereoParams, frame_params};

/// Frames in flight on the GPU (readback ring slots).
const IN_FLIGHT: usize = 3;

/// One frame for the back end: the decoded frame, its depth (`changed`: differs from the
/// previous frame's), and where it goes in the output's time.
pub(super) struct FrameIn<'a> {
    pub frame: Frame,
    pub depth: DepthPixels<'a>,
    pub depth_changed: bool,
    pub pts_nanos: u64,
    pub duration_nanos: Option<u64>,
}

/// The per-frame settings the warp needs.
pub(super) struct Settings<'a> {
    pub stereo: &'a StereoParams,
    pub range: &'a DepthRange,
    /// `--floating-window` bands (fractions of the picture's width: the left eye's left
    /// edge, the right eye's right edge).
    pub window: [f32; 2],
    /// `--layout novel`: the frame's mesh camera (the warp draws it instead of an eye).
    pub novel: Option<crate::stereo::uniforms::MeshParams>,
}

/// A stream of composed frames to one encoder: the GPU conversion to the encoder's format
/// (I420 for videos) and the readback ring.
struct EncodedStream {
    yuv: Option<YuvPacker>,
    readback: Readback,
    encoder: Encoder,
}

impl EncodedStream {
    /// For frames of `composer` (prepared), `IN_FLIGHT` of them at a time.
    fn new(
        ctx: &GpuContext,
        composer: &Composer,
        encoder: Encoder,
        shaders: &ShaderSet,
    ) -> Result<Self, RenderError> {
        let size = composer.output_size();
        let (yuv, readback) = match encoder.input() {
            FrameInput::Rgba => (None, Readback::new(ctx, size, IN_FLIGHT)),
            FrameInput::HalfFloat => (
                None,
                Readback::for_texture(ctx, size, composer.precision().pixel_bytes(), IN_FLIGHT),
            ),
            FrameInput::I420(matrix) => {
                let mut packer = YuvPacker::new(ctx, shaders)?;
                packer.prepare(
                    ctx,
                    composer.output_view(),
                    size,
                    composer.output_generation(),
                    matrix,
                );
                let len = u64::from(packer.layout().len);
                (Some(packer), Readback::with_len(ctx, len, IN_FLIGHT))
            }
        };
        Ok(Self {
            yuv,
            readback,
            encoder,
        })
    }

    /// Records `composer`'s pass, the conversion and the copy into a free slot.
    fn record(
        &mut self,
        composer: &Composer,
        queue: &wgpu::Queue,
        enc: &mut wgpu::CommandEncoder,
    ) -> usize {
        composer.encode(queue, enc);
        match &self.yuv {
            Some(packer) => {
                packer.encode(enc, &mut PassTimer::disabled());
                self.readback.record_buffer(enc, packer.planes())
            }
            None => self.readback.record(enc, composer.output_texture()),
        }
    }

    /// Waits for `slot`'s frame and hands it to the encoder.
    fn push(
        &mut self,
        ctx: &GpuContext,
        slot: usize,
        (pts, dur): (u64, Option<u64>),
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        let stride = self.readback.stride_bytes();
        let encoder = &mut self.encoder;
        let t = Instant::now();
        let (pushed_at, encode_secs) = self.readback.read(ctx, slot, |bytes| {
            let t = Instant::now();
            encoder
                .push_video(bytes, stride, pts, dur)
                .map(|_| (t, t.elapsed().as_secs_f64()))
        })??;
        stages.encoder += encode_secs;
        stages.gpu_wait += t.elapsed().as_secs_f64() - encode_secs;
        spans.add("wait for the GPU", t, pushed_at);
        spans.add("hand to the encoder", pushed_at, Instant::now());
        Ok(())
    }
}

/// A frame on the GPU, not yet encoded: its slot in the main and mask rings, and times.
struct InFlight {
    slot: usize,
    mask_slot: Option<usize>,
    times: (u64, Option<u64>),
}

/// The GPU warp and the streams it feeds.
pub(super) struct GpuOutput {
    warp: GpuWarp,
    main: EncodedStream,
    /// The infill mask video (`--mask-out`): its own composer over the warp's mask views.
    mask: Option<(Composer, EncodedStream)>,
    in_flight: VecDeque<InFlight>,
    /// Where decoded 4:2:0 frames are converted to RGBA on the CPU before upload
    /// (`--colour-convert auto` on a software rasteriser, or planes larger than one
    /// storage binding), else None.
    cpu_converted: Option<Vec<u32>>,
}

/// The CPU warp's threads and the encoder its frames go to.
pub(super) struct CpuOutputStream {
    /// The warp on its own thread, up to two frames ahead of the encoder.
    pipeline: CpuPipeline,
    encoder: Encoder,
    /// Bytes between rows of the RGBA frames it produces (I420: unused).
    stride: u32,
    rgb_depth: bool,
    /// Output and depth buffers back from the warp thread, for reuse.
    free_frames: Vec<Vec<u8>>,
    free_depth: Vec<Vec<u8>>,
}

/// Where a render's frames are warped and composed, and the encoder(s) they go to.
#[expect(
    clippy::large_enum_variant,
    reason = "one per render, never moved around: boxing a variant would buy nothing"
)]
pub(super) enum RenderOutput {
    Gpu(GpuOutput),
    Cpu(CpuOutputStream),
}

impl RenderOutput {
    /// The back end on `device` for `spec`, writing to `encoder` (and `mask`, the
    /// `--mask-out` encoder, GPU only). `source_bits`: of the decoded frames.
    pub fn open(
        ctx: &GpuContext,
        job: &RenderJob,
        spec: &WarpSpec,
        device: Device,
        encoder: Encoder,
        mask: Option<(Encoder, Layout)>,
        source_bits: u32,
    ) -> Result<Self, RenderError> {
        if device == Device::Cpu {
            let cpu = CpuWarp::new(spec, encoder.input());
            return Ok(RenderOutput::Cpu(CpuOutputStream {
                stride: cpu.composer.stride_bytes(),
                pipeline: CpuPipeline::start(
                    cpu.warper,
                    cpu.composer,
                    crate::inpaint::Inpainter::for_job(job)?,
                ),
                encoder,
                rgb_depth: spec.rgb_depth,
                free_frames: Vec::new(),
                free_depth: Vec::new(),
            }));
        }
        let mut warp = GpuWarp::new(ctx, job, spec.precision)?;
        warp.prepare(ctx, spec)?;
        let main = EncodedStream::new(ctx, &warp.composer, encoder, &job.shaders)?;
        let mask = match mask {
            None => None,
            Some((encoder, layout)) => {
                let mut composer = Composer::new(ctx, &job.shaders)?;
                composer.set_canvas(spec.canvas);
                let views = warp.warper.mask_views();
                composer.prepare_views(
                    ctx,
                    &warp.warper,
                    &views,
                    layout,
                    spec.anaglyph,
                    spec.even,
                )?;
                let stream = EncodedStream::new(ctx, &composer, encoder, &job.shaders)?;
                Some((composer, stream))
            }
        };
        // A 16-bit warp converts the decoder's planes itself (an RGBA8 copy would lose the
        // bits it is there for).
        let converts = spec.precision == crate::gpu::Precision::Unorm8
            && cpu_converts(ctx, job.colour_convert, spec.frame, source_bits);
        Ok(RenderOutput::Gpu(GpuOutput {
            warp,
            main,
            mask,
            in_flight: VecDeque::new(),
            cpu_converted: converts.then(Vec::new),
        }))
    }

    /// Warps, composes and (as soon as the device is done) encodes one frame.
    pub fn submit(
        &mut self,
        ctx: &GpuContext,
        input: FrameIn<'_>,
        settings: &Settings<'_>,
        spec: &WarpSpec,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        match self {
            RenderOutput::Gpu(gpu) => gpu.submit(ctx, input, settings, stages, spans),
            RenderOutput::Cpu(cpu) => cpu.submit(input, settings, spec, stages, spans),
        }
    }

    pub fn main_encoder(&mut self) -> &mut Encoder {
        match self {
            RenderOutput::Gpu(g) => &mut g.main.encoder,
            RenderOutput::Cpu(c) => &mut c.encoder,
        }
    }

    /// Encodes every frame still on its way; returns the (main, mask) encoders, for
    /// finishing the files.
    pub fn drain(
        self,
        ctx: &GpuContext,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(Encoder, Option<Encoder>), RenderError> {
        match self {
            RenderOutput::Gpu(mut gpu) => {
                while let Some(next) = gpu.in_flight.pop_front() {
                    gpu.encode(ctx, next, stages, spans)?;
                }
                let GpuOutput { main, mask, .. } = gpu;
                Ok((main.encoder, mask.map(|(_, m)| m.encoder)))
            }
            RenderOutput::Cpu(mut cpu) => {
                cpu.push_finished(true, stages, spans)?;
                Ok((cpu.encoder, None))
            }
        }
    }
}

/// Whether decoded 4:2:0 frames are converted to RGBA on the CPU before upload: on a
/// software rasteriser with `--colour-convert auto` (the shader costs about 45 ms of CPU
/// per 1080p frame there, the CPU warp's conversion 3; same arithmetic, BENCHMARKS.md), or
/// when the planes are larger than one storage binding may be (16K video under Direct3D
/// 12; rows padded by GStreamer are counted generously).
fn cpu_converts(
    ctx: &GpuContext,
    choice: ColourConvert,
    size: (u32, u32),
    source_bits: u32,
) -> bool {
    let sample_bytes = if source_bits > 8 { 2 } else { 1 };
    let planes = (u64::from(size.0) + 64) * u64::from(size.1) * 3 / 2 * sample_bytes;
    let too_large = planes > ctx.storage_binding_limit();
    if too_large && choice != ColourConvert::Cpu {
        log::info!(
            "{}x{} decoded frames are larger than one GPU storage buffer may be: converting \
             them to RGBA on the CPU",
            size.0,
            size.1
        );
    }
    (choice == ColourConvert::Auto && ctx.is_software()) || too_large
}

impl GpuOutput {
    fn submit(
        &mut self,
        ctx: &GpuContext,
        input: FrameIn<'_>,
        settings: &Settings<'_>,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        let t = Instant::now();
        let warper = &mut self.warp.warper;
        let pixels = input.frame.pixels();
        match &mut self.cpu_converted {
            Some(rgba) if !matches!(pixels, FramePixels::Rgba { .. }) => {
                let size = (input.frame.width(), input.frame.height());
                crate::cpu::yuv_to_rgba(&pixels, size, rgba, crate::cpu::workers());
                warper.upload_frame(
                    ctx,
                    &FramePixels::Rgba {
                        data: bytemuck::cast_slice(rgba),
                        stride: size.0 * 4,
                    },
                );
            }
            _ => warper.upload_frame(ctx, &pixels),
        }
        if input.depth_changed {
            warper.upload_depth(&ctx.queue, input.depth.data, input.depth.stride);
        }
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("stereosplat.frame"),
            });
        match &settings.novel {
            Some(mesh) => warper.encode_novel(ctx, &mut enc, settings.stereo, settings.range, mesh),
            None => warper.encode(&ctx.queue, &mut enc, settings.stereo, settings.range),
        }
        let [left, right] = settings.window;
        self.warp.composer.set_window(left, right);
        let slot = self.main.record(&self.warp.composer, &ctx.queue, &mut enc);
        let mask_slot = self
            .mask
            .as_mut()
            .map(|(composer, stream)| stream.record(composer, &ctx.queue, &mut enc));
        let index = ctx.queue.submit([enc.finish()]);
        ctx.check_errors()?;
        stages.gpu_submit += t.elapsed().as_secs_f64();
        spans.add("upload + GPU submit", t, Instant::now());
        self.main.readback.submitted(slot, index.clone());
        if let (Some((_, m)), Some(ms)) = (self.mask.as_mut(), mask_slot) {
            m.readback.submitted(ms, index);
        }
        self.in_flight.push_back(InFlight {
            slot,
            mask_slot,
            times: (input.pts_nanos, input.duration_nanos),
        });
        drop(input.frame);
        // Keep one frame on the GPU while the previous one goes to the encoder.
        while self.in_flight.len() >= self.main.readback.capacity() - 1 {
            let next = self.in_flight.pop_front().expect("non-empty");
            self.encode(ctx, next, stages, spans)?;
        }
        Ok(())
    }

    /// Hands one finished frame (and its mask) to the encoder(s).
    fn encode(
        &mut self,
        ctx: &GpuContext,
        f: InFlight,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        self.main.push(ctx, f.slot, f.times, stages, spans)?;
        if let (Some((_, m)), Some(ms)) = (self.mask.as_mut(), f.mask_slot) {
            m.push(ctx, ms, f.times, stages, spans)?;
        }
        Ok(())
    }
}

impl CpuOutputStream {
    fn submit(
        &mut self,
        input: FrameIn<'_>,
        settings: &Settings<'_>,
        spec: &WarpSpec,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        let t = Instant::now();
        let depth = input.depth_changed.then(|| {
            let mut copy = self.free_depth.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(input.depth.data);
            copy
        });
        let job = CpuJob {
            frame: input.frame,
            depth,
            depth_stride: input.depth.stride as usize,
            depth_format: DepthFormat::of(self.rgb_depth, input.depth.gray8),
            params: frame_params(
                settings.stereo,
                settings.range,
                spec.frame,
                spec.work,
                spec.depth,
            ),
            pts: input.pts_nanos,
            duration: input.duration_nanos,
            window: settings.window,
            // I420 video is composed straight into the encoder's buffer.
            out: match self.encoder.input() {
                FrameInput::I420(_) => CpuOutput::Encoder(self.encoder.frame_buffer()?),
                FrameInput::Rgba => CpuOutput::Bytes(self.free_frames.pop().unwrap_or_default()),
                FrameInput::HalfFloat => {
                    unreachable!("16-bit output is composed on the GPU (backend::choose_device)")
                }
            },
        };
        self.pipeline.submit(job)?;
        stages.cpu_wait += t.elapsed().as_secs_f64();
        spans.add("wait for the CPU warp", t, Instant::now());
        self.push_finished(false, stages, spans)
    }

    /// Hands every frame the warp has finished to the encoder; with `all`, waits for the
    /// rest first (no more frames will come).
    fn push_finished(
        &mut self,
        all: bool,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> Result<(), RenderError> {
        loop {
            let finished = if all {
                self.pipeline.close().next()
            } else {
                self.pipeline.try_finished()
            };
            let Some(finished) = finished else {
                return Ok(());
            };
            stages.cpu_warp += finished
                .ended
                .duration_since(finished.started)
                .as_secs_f64();
            spans.add("CPU warp + compose", finished.started, finished.ended);
            let t = Instant::now();
            match finished.out {
                CpuOutput::Encoder(buffer) => {
                    self.encoder
                        .push_frame_buffer(buffer, finished.pts, finished.duration)?;
                }
                CpuOutput::Bytes(bytes) => {
                    self.encoder.push_video(
                        &bytes,
                        self.stride,
                        finished.pts,
                        finished.duration,
                    )?;
                    self.free_frames.push(bytes);
                }
            }
            stages.encoder += t.elapsed().as_secs_f64();
            spans.add("hand to the encoder", t, Instant::now());
            self.free_depth.extend(finished.spare_depth);
        }
    }
}

/// Layout of the `--mask-out` video: the output's own stereo layout when it has one,
/// else the synthesised eye(s).
pub(super) fn mask_layout(layout: Layout, eye: Eye) -> Layout {
    if layout.is_stereo_pair() {
        layout
    } else {
        match eye {
            Eye::Right => Layout::Right,
            Eye::Left => Layout::Left,
            Eye::Both => Layout::Sbs,
        }
    }
}
