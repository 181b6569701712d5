//! The warper: uploaded frame + raw depth -> nearness -> forward splat (z-buffered) ->
//! resolve -> hole fill, for each synthesised eye. Long-lived pipelines are built once;
//! textures and bind groups only when the frame size or eye mode changes.
//! Shaders: shaders/depth_prep.wgsl, warp_splat.wgsl, warp_resolve.wgsl, fill_rows.wgsl,
//! fill_columns.wgsl, fill_resolve.wgsl.

mod mesh;
mod targets;

pub use mesh::mesh_params;

use super::binding as b;
use super::{GpuContext, GpuError, LABEL, PassTimer, Precision, ShaderSet, dispatch_size};
use crate::frame::FramePixels;
use crate::stereo::uniforms::{MeshParams, UnpackParams, WarpParams};
use crate::stereo::{DepthRange, Eye, FillMode, StereoParams, frame_params};
use targets::Targets;

struct YuvInput {
    planes: wgpu::Buffer,
    uniform: wgpu::Buffer,
    group: wgpu::BindGroup,
}

struct Pass {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipeline: wgpu::ComputePipeline,
}

/// Views the composer reads.
pub struct EyeViews<'a> {
    pub left: &'a wgpu::TextureView,
    pub right: &'a wgpu::TextureView,
    pub source: &'a wgpu::TextureView,
    pub nearness: &'a wgpu::TextureView,
    /// The synthesised (right, unless only the left is synthesised) view before filling;
    /// alpha 0 marks holes.
    pub warped_raw: &'a wgpu::TextureView,
}

pub struct Warper {
    /// Decoded 4:2:0 planes -> the RGBA frame (yuv_unpack.wgsl).
    unpack: Pass,
    /// Averages the frame down to the warp size (resample_color.wgsl).
    resample: Pass,
    depth_prep: Pass,
    /// depth_prep built with GUIDED = true (used when the depth is smaller than the frame).
    depth_prep_guided: Pass,
    dilate_h: Pass,
    dilate_v: Pass,
    splat: Pass,
    resolve: Pass,
    fill_rows: Pass,
    fill_columns: Pass,
    fill_resolve: Pass,
    /// Draws an eye as a mesh from a moved camera instead of splatting it (mesh.rs).
    mesh: mesh::MeshPass,
    mesh_targets: Option<mesh::MeshTargets>,
    targets: Option<Targets>,
    /// Bumped whenever targets are rebuilt, so the composer knows to rebind.
    generation: u64,
    /// R16Uint for grey depth, Rgba8Uint for the toolbox's RGB-encoded depth.
    depth_format: wgpu::TextureFormat,
    /// The frame's and the eye views' format (`Precision::colour_format`).
    precision: Precision,
}

const NEARNESS_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
const MASK_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// The fill's nearest covered pixel above and below each pixel (fill_columns.wgsl).
const COLUMN_SOURCE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;
/// Values for a shader's `override` constants.
type Constants = &'static [(&'static str, f64)];
const DILATE_H: [(&str, f64); 1] = [("VERTICAL", 0.0)];
const GUIDED: [(&str, f64); 1] = [("GUIDED", 1.0)];
const DILATE_V: [(&str, f64); 1] = [("VERTICAL", 1.0)];
/// `@workgroup_size` of fill_rows.wgsl and fill_columns.wgsl: lines per workgroup.
const FILL_LINES_PER_GROUP: u32 = 64;

impl Warper {
    pub fn new(ctx: &GpuContext, shaders: &ShaderSet) -> Result<Self, GpuError> {
        Self::with_precision(ctx, shaders, Precision::Unorm8)
    }

    /// A warper whose frame and eye views hold colour at `precision`.
    pub fn with_precision(
        ctx: &GpuContext,
        shaders: &ShaderSet,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let view_format = precision.colour_format();
        let make_with = |file: &str,
                         entries: &[wgpu::BindGroupLayoutEntry],
                         constants: &[(&str, f64)]|
         -> Result<Pass, GpuError> {
            let (layout, pipeline_layout) = b::layout(device, &format!("{LABEL}.{file}"), entries);
            let pipeline = build(ctx, shaders, precision, file, &pipeline_layout, constants)?;
            Ok(Pass {
                layout,
                pipeline_layout,
                pipeline,
            })
        };
        let make =
            |file: &str, entries: &[wgpu::BindGroupLayoutEntry]| make_with(file, entries, &[]);
        let dilate_entries = [
            b::uniform(0),
            b::unfilterable_texture(1),
            b::storage_texture(2, NEARNESS_FORMAT),
        ];
        let dilate_h = make_with("depth_dilate.wgsl", &dilate_entries, &DILATE_H)?;
        let unpack = make(
            "yuv_unpack.wgsl",
            &[
                b::uniform(0),
                b::storage_buffer(1, true),
                b::storage_texture(2, view_format),
            ],
        )?;
        let resample = make(
            "resample_color.wgsl",
            &[
                b::float_texture(0),
                b::sampler(1),
                b::storage_texture(2, view_format),
            ],
        )?;
        let dilate_v = make_with("depth_dilate.wgsl", &dilate_entries, &DILATE_V)?;
        let depth_prep = make(
            "depth_prep.wgsl",
            &[
                b::uniform(0),
                b::texture(1, wgpu::TextureSampleType::Uint),
                b::storage_texture(2, NEARNESS_FORMAT),
                b::float_texture(3),
            ],
        )?;
        let depth_prep_guided = Pass {
            pipeline: build(
                ctx,
                shaders,
                precision,
                "depth_prep.wgsl",
                &depth_prep.pipeline_layout,
                &GUIDED,
            )?,
            layout: depth_prep.layout.clone(),
            pipeline_layout: depth_prep.pipeline_layout.clone(),
        };
        let splat = make(
            "warp_splat.wgsl",
            &[
                b::uniform(0),
                b::unfilterable_texture(1),
                b::storage_buffer(2, false),
                b::uniform(3),
            ],
        )?;
        let resolve = make(
            "warp_resolve.wgsl",
            &[
                b::uniform(0),
                b::unfilterable_texture(1),
                b::storage_buffer(2, true),
                b::float_texture(3),
                b::storage_texture(4, view_format),
                b::storage_texture(5, NEARNESS_FORMAT),
                b::uniform(6),
            ],
        )?;
        let fill_rows = make(
            "fill_rows.wgsl",
            &[
                b::uniform(0),
                b::float_texture(1),
                b::unfilterable_texture(2),
                b::storage_buffer(3, false),
                b::uniform(4),
            ],
        )?;
        let fill_columns = make(
            "fill_columns.wgsl",
            &[
                b::uniform(0),
                b::float_texture(1),
                b::storage_texture_rw(2, COLUMN_SOURCE_FORMAT),
            ],
        )?;
        let fill_resolve = make(
            "fill_resolve.wgsl",
            &[
                b::uniform(0),
                b::float_texture(1),
                b::unfilterable_texture(2),
                b::storage_buffer(3, true),
                b::texture(4, wgpu::TextureSampleType::Uint),
                b::storage_texture(5, view_format),
                b::storage_texture(6, MASK_FORMAT),
                b::uniform(7),
            ],
        )?;
        Ok(Self {
            unpack,
            resample,
            depth_prep,
            depth_prep_guided,
            dilate_h,
            dilate_v,
            splat,
            resolve,
            fill_rows,
            fill_columns,
            fill_resolve,
            mesh: mesh::MeshPass::new(ctx, shaders, view_format)?,
            mesh_targets: None,
            targets: None,
            generation: 0,
            depth_format: wgpu::TextureFormat::R16Uint,
            precision,
        })
    }

    /// How precisely the frame and eye views hold colour.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Rebuilds the shader pipelines (live shader editing). On error the old ones stay.
    pub fn reload(&mut self, ctx: &GpuContext, shaders: &ShaderSet) -> Result<(), GpuError> {
        // Build all first, so one broken file leaves every old pipeline in place.
        let mut built = Vec::new();
        for (file, pass, constants) in self.passes() {
            built.push(build(
                ctx,
                shaders,
                self.precision,
                file,
                &pass.pipeline_layout,
                constants,
            )?);
        }
        self.mesh.reload(ctx, shaders)?;
        for (pass, pipeline) in self.passes_mut().into_iter().zip(built) {
            pass.pipeline = pipeline;
        }
        Ok(())
    }

    /// Every pass with its shader file and override constants (same order as passes_mut).
    fn passes(&self) -> [(&'static str, &Pass, Constants); 11] {
        [
            ("yuv_unpack.wgsl", &self.unpack, &[]),
            ("resample_color.wgsl", &self.resample, &[]),
            ("depth_prep.wgsl", &self.depth_prep, &[]),
            ("depth_prep.wgsl", &self.depth_prep_guided, &GUIDED),
            ("depth_dilate.wgsl", &self.dilate_h, &DILATE_H),
            ("depth_dilate.wgsl", &self.dilate_v, &DILATE_V),
            ("warp_splat.wgsl", &self.splat, &[]),
            ("warp_resolve.wgsl", &self.resolve, &[]),
            ("fill_rows.wgsl", &self.fill_rows, &[]),
            ("fill_columns.wgsl", &self.fill_columns, &[]),
            ("fill_resolve.wgsl", &self.fill_resolve, &[]),
        ]
    }

    fn passes_mut(&mut self) -> [&mut Pass; 11] {
        [
            &mut self.unpack,
            &mut self.resample,
            &mut self.depth_prep,
            &mut self.depth_prep_guided,
            &mut self.dilate_h,
            &mut self.dilate_v,
            &mut self.splat,
            &mut self.resolve,
            &mut self.fill_rows,
            &mut self.fill_columns,
            &mut self.fill_resolve,
        ]
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Size of the uploaded frames.
    /// Bands of rows the z-buffer passes run in (1 unless a frame's z-buffer is larger
    /// than one storage binding); 0 before [`Self::prepare`].
    pub fn bands(&self) -> usize {
        self.targets.as_ref().map_or(0, |t| t.bands.len())
    }

    pub fn frame_size(&self) -> Option<(u32, u32)> {
        self.targets.as_ref().map(|t| t.frame_size)
    }

    /// Size the warp runs at (and of every view it produces).
    pub fn work_size(&self) -> Option<(u32, u32)> {
        self.targets.as_ref().map(|t| t.size)
    }

    /// Depth arrives RGB-encoded (the metric depth toolbox) instead of 16-bit grey; takes
    /// effect at the next `prepare`.
    pub fn set_rgb_depth(&mut self, rgb: bool) {
        self.depth_format = if rgb {
            wgpu::TextureFormat::Rgba8Uint
        } else {
            wgpu::TextureFormat::R16Uint
        };
    }

    /// Makes sure textures exist for this frame size, depth size and eye mode, warping
    /// at the frame's own size.
    pub fn prepare(
        &mut self,
        ctx: &GpuContext,
        size: (u32, u32),
        depth_size: (u32, u32),
        eye: Eye,
    ) {
        self.prepare_at(ctx, size, depth_size, eye, size);
    }

    /// Like [`Self::prepare`], warping at `work` (at most the frame size): the size each
    /// eye is shown at (`Layout::shown_eye_size`), so a half-width layout does not pay
    /// for columns the output drops. Disparities stay in frame pixels; they are scaled.
    pub fn prepare_at(
        &mut self,
        ctx: &GpuContext,
        size: (u32, u32),
        depth_size: (u32, u32),
        eye: Eye,
        work: (u32, u32),
    ) {
        let work = (work.0.clamp(1, size.0), work.1.clamp(1, size.1));
        if let Some(t) = &self.targets
            && t.frame_size == size
            && t.size == work
            && t.depth_size == depth_size
            && t.depth_format == self.depth_format
            && t.eye == eye
        {
            return;
        }
        self.targets = Some(self.build_targets(ctx, size, depth_size, eye, work));
        self.generation += 1;
    }

    fn targets(&self) -> &Targets {
        self.targets
            .as_ref()
            .expect("Warper::prepare must be called before uploading or encoding")
    }

    /// Uploads an RGBA8 frame whose rows are `stride_bytes` apart (GStreamer's plane stride).
    pub fn upload_color(&mut self, queue: &wgpu::Queue, rgba: &[u8], stride_bytes: u32) {
        assert_eq!(
            self.precision,
            Precision::Unorm8,
            "RGBA8 frames go to an 8-bit warper; a 16-bit one takes the decoder's planes"
        );
        let t = self
            .targets
            .as_mut()
            .expect("Warper::prepare must run first");
        write_texture(queue, &t.color, rgba, stride_bytes, t.frame_size);
        t.from_yuv = false;
    }

    /// Uploads a decoded frame as it came from the decoder: RGBA rows, or the raw planes
    /// of 8-bit 4:2:0 video, which the next `encode` converts on the GPU.
    pub fn upload_frame(&mut self, ctx: &GpuContext, pixels: &FramePixels<'_>) {
        // 16-bit samples become 8-bit code values: 10 bits at the bottom / 4, at the top / 256.
        let (planes, colours, interleaved, sample_bytes, sample_scale): (
            &[(&[u8], u32)],
            _,
            _,
            _,
            _,
        ) = match pixels {
            FramePixels::Rgba { data, stride } => {
                return self.upload_color(&ctx.queue, data, *stride);
            }
            FramePixels::I420 { planes, colours } => (planes, colours, false, 1, 1.0),
            FramePixels::Nv12 { planes, colours } => (planes, colours, true, 1, 1.0),
            FramePixels::I420Ten { planes, colours } => (planes, colours, false, 2, 0.25),
            FramePixels::P010 { planes, colours } => (planes, colours, true, 2, 1.0 / 256.0),
        };
        // Planes back to back at 4-byte boundaries (wgpu's copy alignment).
        let mut offsets = [0u32; 3];
        let mut end = 0u64;
        for (o, (data, _)) in offsets.iter_mut().zip(planes) {
            *o = end as u32;
            end += (data.len() as u64).next_multiple_of(4);
        }
        let unpack_layout = &self.unpack.layout;
        let t = self
            .targets
            .as_mut()
            .expect("Warper::prepare must run first");
        if t.yuv_input.as_ref().is_none_or(|y| y.planes.size() < end) {
            let planes = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{LABEL}.warp.yuv_planes")),
                size: end,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let uniform = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{LABEL}.warp.yuv_unpack")),
                size: std::mem::size_of::<UnpackParams>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let group = b::group(
                &ctx.device,
                &format!("{LABEL}.warp.yuv_unpack"),
                unpack_layout,
                &[
                    uniform.as_entire_binding(),
                    planes.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&t.color_view),
                ],
            );
            t.yuv_input = Some(YuvInput {
                planes,
                uniform,
                group,
            });
        }
        let input = t.yuv_input.as_ref().expect("just made");
        for ((data, _), &offset) in planes.iter().zip(&offsets) {
            write_padded(&ctx.queue, &input.planes, u64::from(offset), data);
        }
        let [r_row, g_row, b_row] = colours.matrix.to_rgb_rows(colours.full_range);
        let params = UnpackParams {
            size: [t.frame_size.0, t.frame_size.1],
            y_offset: offsets[0],
            u_offset: offsets[1],
            v_offset: offsets[2],
            y_stride: planes[0].1,
            c_stride: planes[1].1,
            interleaved: u32::from(interleaved),
            v_stride: planes.get(2).map_or(0, |p| p.1),
            sample_bytes,
            sample_scale,
            _pad: 0,
            r_row,
            g_row,
            b_row,
        };
        ctx.queue
            .write_buffer(&input.uniform, 0, bytemuck::bytes_of(&params));
        t.from_yuv = true;
    }

    /// Uploads depth (16-bit grey little endian, or RGBA8 after `set_rgb_depth`) whose rows
    /// are `stride_bytes` apart.
    pub fn upload_depth(&self, queue: &wgpu::Queue, gray16: &[u8], stride_bytes: u32) {
        let t = self.targets();
        write_texture(queue, &t.depth_raw, gray16, stride_bytes, t.depth_size);
    }

    /// Records depth preparation and the warp of every synthesised eye.
    pub fn encode(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        stereo: &StereoParams,
        range: &DepthRange,
    ) {
        self.encode_timed(queue, encoder, stereo, range, &mut PassTimer::disabled());
    }

    /// [`Self::encode`], one compute pass per dispatch so `timer` can time each.
    pub fn encode_timed(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        stereo: &StereoParams,
        range: &DepthRange,
        timer: &mut PassTimer,
    ) {
        let t = self.targets();
        assert_eq!(
            t.eye, stereo.eye,
            "Warper::prepare was called with another eye mode"
        );
        let params = self.encode_depth(queue, encoder, stereo, range, timer);
        for (eye, params) in t.eyes.iter().zip(&params.eyes) {
            queue.write_buffer(&eye.uniform, 0, bytemuck::bytes_of(params));
            for (i, band) in t.bands.iter().enumerate() {
                // Every band of every eye reuses one z-buffer, so this clear orders after
                // the previous band's resolve.
                encoder.clear_buffer(&t.zbuffer, 0, None);
                let n = dispatch_size(t.size.0, band.rows);
                run_pass(encoder, timer, "splat", &self.splat, &eye.splat[i], n);
                run_pass(encoder, timer, "resolve", &self.resolve, &eye.resolve[i], n);
            }
            self.encode_fill(encoder, eye, params, timer);
        }
    }

    /// Records depth preparation, then draws the synthesised eye as a mesh of that depth
    /// seen from another camera (`mesh`, from [`mesh_params`]) instead of warping it, and
    /// fills what it leaves uncovered as the warp would. Needs a warper prepared for
    /// `Eye::Right` (one synthesised eye: the view is shown where the right eye would be).
    pub fn encode_novel(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        stereo: &StereoParams,
        range: &DepthRange,
        mesh: &MeshParams,
    ) {
        let old = self.mesh_targets.take();
        let t = self.targets();
        assert_eq!(
            t.eye,
            Eye::Right,
            "a novel view is drawn as the one synthesised eye"
        );
        let m = self.mesh.targets(&ctx.device, t, self.generation, old);
        let queue = &ctx.queue;
        let mut timer = PassTimer::disabled();
        let params = self.encode_depth(queue, encoder, stereo, range, &mut timer);
        let eye = &t.eyes[0];
        queue.write_buffer(&eye.uniform, 0, bytemuck::bytes_of(&params.eyes[0]));
        self.mesh.encode(
            queue,
            encoder,
            &m,
            mesh,
            &eye.warped_view,
            &eye.warped_near_view,
        );
        self.encode_fill(encoder, eye, &params.eyes[0], &mut timer);
        self.mesh_targets = Some(m);
    }

    /// Records the frame's conversion and resampling and the depth preparation; returns
    /// the frame's parameters.
    fn encode_depth(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        stereo: &StereoParams,
        range: &DepthRange,
        timer: &mut PassTimer,
    ) -> crate::stereo::FrameParams {
        let t = self.targets();
        let per_pixel = dispatch_size(t.size.0, t.size.1);
        let params = frame_params(stereo, range, t.frame_size, t.size, t.depth_size);
        let mut run = |name: &'static str, pass: &Pass, group: &wgpu::BindGroup, n: (u32, u32)| {
            run_pass(encoder, timer, name, pass, group, n);
        };
        queue.write_buffer(&t.depth_uniform, 0, bytemuck::bytes_of(&params.depth));
        if let (true, Some(input)) = (t.from_yuv, &t.yuv_input) {
            let frame = dispatch_size(t.frame_size.0, t.frame_size.1);
            run("yuv_unpack", &self.unpack, &input.group, frame);
        }
        if let Some(group) = &t.resample_group {
            run("resample", &self.resample, group, per_pixel);
        }
        let prep = if params.guided {
            &self.depth_prep_guided
        } else {
            &self.depth_prep
        };
        run("depth_prep", prep, &t.depth_group, per_pixel);
        if stereo.dilate_px > 0 {
            run("dilate_h", &self.dilate_h, &t.dilate_h_group, per_pixel);
            run("dilate_v", &self.dilate_v, &t.dilate_v_group, per_pixel);
        }
        params
    }

    /// Records the hole fill of one eye whose `warped` and `warped_near` are drawn.
    fn encode_fill(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        eye: &targets::EyeTargets,
        params: &WarpParams,
        timer: &mut PassTimer,
    ) {
        let t = self.targets();
        let per_column = (t.size.0.div_ceil(FILL_LINES_PER_GROUP), 1);
        // Row and column sweeps run one invocation per row / column; the columns span
        // every band.
        if params.fill_mode != FillMode::Scanline.shader_id() {
            run_pass(
                encoder,
                timer,
                "fill_columns",
                &self.fill_columns,
                &eye.fill_columns,
                per_column,
            );
        }
        for (i, band) in t.bands.iter().enumerate() {
            let per_row = (band.rows.div_ceil(FILL_LINES_PER_GROUP), 1);
            let n = dispatch_size(t.size.0, band.rows);
            run_pass(
                encoder,
                timer,
                "fill_rows",
                &self.fill_rows,
                &eye.fill_rows[i],
                per_row,
            );
            run_pass(
                encoder,
                timer,
                "fill_resolve",
                &self.fill_resolve,
                &eye.fill_resolve[i],
                n,
            );
        }
    }

    pub fn views(&self) -> EyeViews<'_> {
        let t = self.targets();
        match t.eye {
            Eye::Right => EyeViews {
                left: &t.color_view,
                right: &t.eyes[0].filled_view,
                source: &t.color_view,
                nearness: &t.nearness_view,
                warped_raw: &t.eyes[0].warped_view,
            },
            Eye::Left => EyeViews {
                left: &t.eyes[0].filled_view,
                right: &t.color_view,
                source: &t.color_view,
                nearness: &t.nearness_view,
                warped_raw: &t.eyes[0].warped_view,
            },
            Eye::Both => EyeViews {
                left: &t.eyes[0].filled_view,
                right: &t.eyes[1].filled_view,
                source: &t.color_view,
                nearness: &t.nearness_view,
                warped_raw: &t.eyes[1].warped_view,
            },
        }
    }

    /// Infill masks of both eyes (black for the input eye), for `--mask-out`.
    pub fn mask_views(&self) -> EyeViews<'_> {
        let t = self.targets();
        let (left, right) = match t.eye {
            Eye::Right => (&t.black_view, &t.eyes[0].mask_view),
            Eye::Left => (&t.eyes[0].mask_view, &t.black_view),
            Eye::Both => (&t.eyes[0].mask_view, &t.eyes[1].mask_view),
        };
        EyeViews {
            left,
            right,
            ..self.views()
        }
    }

    /// The uploaded frame as RGBA (after any YUV conversion), for tests and tools.
    pub fn frame_texture(&self) -> &wgpu::Texture {
        &self.targets().color
    }

    /// Textures for tests and tools: (nearness, per-eye warped, per-eye filled).
    pub fn debug_textures(&self) -> (&wgpu::Texture, Vec<&wgpu::Texture>, Vec<&wgpu::Texture>) {
        let t = self.targets();
        (
            &t.nearness,
            t.eyes.iter().map(|e| &e.warped).collect(),
            t.eyes.iter().map(|e| &e.filled).collect(),
        )
    }
}

/// A pass's pipeline from `file`, its colour outputs at `precision`.
fn build(
    ctx: &GpuContext,
    shaders: &ShaderSet,
    precision: Precision,
    file: &str,
    layout: &wgpu::PipelineLayout,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline, GpuError> {
    let source = precision.widen(shaders.source(file)?);
    ctx.pipeline_from_source(file, source, layout, constants)
}

/// `queue.write_buffer` for data whose length need not be a multiple of 4.
fn write_padded(queue: &wgpu::Queue, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
    let whole = data.len() / 4 * 4;
    if whole > 0 {
        queue.write_buffer(buffer, offset, &data[..whole]);
    }
    if whole < data.len() {
        let mut tail = [0u8; 4];
        tail[..data.len() - whole].copy_from_slice(&data[whole..]);
        queue.write_buffer(buffer, offset + whole as u64, &tail);
    }
}

fn write_texture(
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
    data: &[u8],
    stride_bytes: u32,
    size: (u32, u32),
) {
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(stride_bytes),
            rows_per_image: Some(size.1),
        },
        wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
    );
}

/// Records one compute pass of `pass` over `n` workgroups.
fn run_pass(
    encoder: &mut wgpu::CommandEncoder,
    timer: &mut PassTimer,
    name: &'static str,
    pass: &Pass,
    group: &wgpu::BindGroup,
    n: (u32, u32),
) {
    timer.pass(encoder, name, |p| {
        p.set_pipeline(&pass.pipeline);
        p.set_bind_group(0, group, &[]);
        p.dispatch_workgroups(n.0, n.1, 1);
    });
}
