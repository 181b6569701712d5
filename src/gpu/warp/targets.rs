//! The warper's size-dependent resources: textures, the z-buffer and its bands, and the
//! bind groups of every pass, built when the frame size, depth size or eye mode changes
//! (never per frame).

use wgpu::util::DeviceExt;

use super::{COLUMN_SOURCE_FORMAT, MASK_FORMAT, NEARNESS_FORMAT, Warper, YuvInput};
use crate::gpu::binding as b;
use crate::gpu::{GpuContext, LABEL};
use crate::stereo::Eye;
use crate::stereo::uniforms::{BandParams, DepthParams, WarpParams};

pub(super) struct EyeTargets {
    pub(super) warped: wgpu::Texture,
    pub(super) warped_view: wgpu::TextureView,
    pub(super) warped_near_view: wgpu::TextureView,
    pub(super) filled: wgpu::Texture,
    pub(super) filled_view: wgpu::TextureView,
    pub(super) mask_view: wgpu::TextureView,
    pub(super) uniform: wgpu::Buffer,
    /// One per band of rows (see `Band`) for the passes that use the z-buffer.
    pub(super) splat: Vec<wgpu::BindGroup>,
    pub(super) resolve: Vec<wgpu::BindGroup>,
    pub(super) fill_rows: Vec<wgpu::BindGroup>,
    pub(super) fill_columns: wgpu::BindGroup,
    pub(super) fill_resolve: Vec<wgpu::BindGroup>,
}

/// Rows of the frame that one z-buffer pass covers. A frame whose z-buffer fits one
/// storage binding is one band; a larger one (8K DCI and up under Direct3D 12, whose
/// bindings stop at 128 MiB) is warped band after band through a z-buffer of one band.
/// The splat only moves pixels along their row, so bands give the same frame.
pub(super) struct Band {
    pub(super) rows: u32,
    pub(super) uniform: wgpu::Buffer,
}

pub(super) struct Targets {
    /// Where the warp runs: the frame size, or smaller (the size each eye is shown at in a
    /// half-resolution layout).
    pub(super) size: (u32, u32),
    /// The uploaded frame's size.
    pub(super) frame_size: (u32, u32),
    pub(super) depth_size: (u32, u32),
    pub(super) depth_format: wgpu::TextureFormat,
    pub(super) eye: Eye,
    pub(super) color: wgpu::Texture,
    pub(super) color_view: wgpu::TextureView,
    /// What the warp reads: the frame, or its copy at the warp size.
    pub(super) work_view: wgpu::TextureView,
    /// The pass that resamples the frame to `size` when that is smaller (its output is
    /// bound wherever the warp reads the frame).
    pub(super) resample_group: Option<wgpu::BindGroup>,
    /// Decoded 4:2:0 planes and the pass that turns them into `color`, once such a frame
    /// was uploaded; `from_yuv` says whether the last upload was one.
    pub(super) yuv_input: Option<YuvInput>,
    pub(super) from_yuv: bool,
    pub(super) depth_raw: wgpu::Texture,
    pub(super) nearness: wgpu::Texture,
    pub(super) nearness_view: wgpu::TextureView,
    /// One band of rows (the first band's height), reused by every band.
    pub(super) zbuffer: wgpu::Buffer,
    pub(super) bands: Vec<Band>,
    /// Fill scratch: nearest covered pixel above/below each pixel.
    pub(super) _column_source: wgpu::Texture,
    pub(super) depth_uniform: wgpu::Buffer,
    pub(super) depth_group: wgpu::BindGroup,
    /// nearness -> scratch (horizontal max), scratch -> nearness (vertical max).
    pub(super) dilate_h_group: wgpu::BindGroup,
    pub(super) dilate_v_group: wgpu::BindGroup,
    pub(super) eyes: Vec<EyeTargets>,
    /// Stands for the input eye in mask views: it needs no infill.
    pub(super) black_view: wgpu::TextureView,
}

impl Warper {
    /// Textures, buffers and bind groups for frames of `frame_size` with depth of
    /// `depth_size`, warped at `size` for `eye`.
    pub(super) fn build_targets(
        &self,
        ctx: &GpuContext,
        frame_size: (u32, u32),
        depth_size: (u32, u32),
        eye: Eye,
        size: (u32, u32),
    ) -> Targets {
        let device = &ctx.device;
        let source = self.source_targets(device, frame_size, size);
        let depth = self.depth_targets(device, depth_size, size, &source.work_view);
        let (zbuffer, bands) = zbuffer_bands(ctx, size);
        // The fill reuses the z-buffer (free after resolve) for its row pass. Its column
        // pass needs whole columns: a texture.
        let (column_source, column_source_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.fill_columns"),
            size,
            COLUMN_SOURCE_FORMAT,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
        );
        let shared = EyeInputs {
            size,
            nearness: &depth.nearness_view,
            zbuffer: &zbuffer,
            bands: &bands,
            work_color: &source.work_view,
            column_source: &column_source_view,
        };
        let eyes = (0..eye.synthesised())
            .map(|i| self.eye_targets(device, i, &shared))
            .collect();
        let (_black, black_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.black"),
            (1, 1),
            MASK_FORMAT,
            wgpu::TextureUsages::TEXTURE_BINDING,
        );
        Targets {
            black_view,
            size,
            frame_size,
            depth_size,
            depth_format: self.depth_format,
            eye,
            color: source.color,
            color_view: source.color_view,
            work_view: source.work_view.clone(),
            resample_group: source.resample_group,
            yuv_input: None,
            from_yuv: false,
            depth_raw: depth.raw,
            nearness: depth.nearness,
            nearness_view: depth.nearness_view,
            zbuffer,
            bands,
            _column_source: column_source,
            depth_uniform: depth.uniform,
            depth_group: depth.group,
            dilate_h_group: depth.dilate_h_group,
            dilate_v_group: depth.dilate_v_group,
            eyes,
        }
    }

    /// The uploaded frame, and its copy averaged down to the warp size when that is
    /// smaller.
    fn source_targets(
        &self,
        device: &wgpu::Device,
        frame_size: (u32, u32),
        size: (u32, u32),
    ) -> SourceTargets {
        let tu = wgpu::TextureUsages::TEXTURE_BINDING;
        let (color, color_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.source"),
            frame_size,
            self.precision.colour_format(),
            // Storage: yuv_unpack.wgsl writes decoded frames into it; copy source: tools.
            tu | wgpu::TextureUsages::COPY_DST
                | wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        );
        if size == frame_size {
            return SourceTargets {
                work_view: color_view.clone(),
                color,
                color_view,
                resample_group: None,
            };
        }
        let (_, view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.source_resampled"),
            size,
            self.precision.colour_format(),
            tu | wgpu::TextureUsages::STORAGE_BINDING,
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some(&format!("{LABEL}.warp.resample")),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let group = b::group(
            device,
            &format!("{LABEL}.warp.resample"),
            &self.resample.layout,
            &[
                wgpu::BindingResource::TextureView(&color_view),
                wgpu::BindingResource::Sampler(&sampler),
                wgpu::BindingResource::TextureView(&view),
            ],
        );
        SourceTargets {
            color,
            color_view,
            work_view: view,
            resample_group: Some(group),
        }
    }

    /// The raw depth texture, the nearness it is prepared into at the warp size, and the
    /// dilation's passes over it.
    fn depth_targets(
        &self,
        device: &wgpu::Device,
        depth_size: (u32, u32),
        size: (u32, u32),
        work_color: &wgpu::TextureView,
    ) -> DepthTargets {
        let tu = wgpu::TextureUsages::TEXTURE_BINDING;
        let (raw, raw_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.depth_raw"),
            depth_size,
            self.depth_format,
            tu | wgpu::TextureUsages::COPY_DST,
        );
        let (nearness, nearness_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.nearness"),
            size,
            NEARNESS_FORMAT,
            STORAGE,
        );
        let uniform = uniform_buffer(
            device,
            &format!("{LABEL}.warp.depth_params"),
            std::mem::size_of::<DepthParams>() as u64,
        );
        let group = b::group(
            device,
            &format!("{LABEL}.warp.depth_prep"),
            &self.depth_prep.layout,
            &[
                uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(&raw_view),
                wgpu::BindingResource::TextureView(&nearness_view),
                wgpu::BindingResource::TextureView(work_color),
            ],
        );
        let (_scratch, scratch_view) = b::texture_2d(
            device,
            &format!("{LABEL}.warp.dilate_scratch"),
            size,
            NEARNESS_FORMAT,
            STORAGE,
        );
        let dilate =
            |layout: &wgpu::BindGroupLayout, from: &wgpu::TextureView, to: &wgpu::TextureView| {
                b::group(
                    device,
                    &format!("{LABEL}.warp.dilate"),
                    layout,
                    &[
                        uniform.as_entire_binding(),
                        wgpu::BindingResource::TextureView(from),
                        wgpu::BindingResource::TextureView(to),
                    ],
                )
            };
        let dilate_h_group = dilate(&self.dilate_h.layout, &nearness_view, &scratch_view);
        let dilate_v_group = dilate(&self.dilate_v.layout, &scratch_view, &nearness_view);
        DepthTargets {
            raw,
            nearness,
            nearness_view,
            uniform,
            group,
            dilate_h_group,
            dilate_v_group,
        }
    }

    /// One synthesised eye's views and the bind groups of its passes (one per band for
    /// the passes that use the z-buffer).
    fn eye_targets(&self, device: &wgpu::Device, i: usize, s: &EyeInputs<'_>) -> EyeTargets {
        let name = format!("{LABEL}.warp.eye{i}");
        let texture = |what: &str, format| {
            b::texture_2d(device, &format!("{name}.{what}"), s.size, format, STORAGE)
        };
        let view_format = self.precision.colour_format();
        let (warped, warped_view) = texture("warped", view_format);
        let (_warped_near, warped_near_view) = texture("warped_near", NEARNESS_FORMAT);
        let (_mask, mask_view) = texture("mask", MASK_FORMAT);
        let (filled, filled_view) = texture("filled", view_format);
        let uniform = uniform_buffer(
            device,
            &format!("{name}.params"),
            std::mem::size_of::<WarpParams>() as u64,
        );
        let view = wgpu::BindingResource::TextureView;
        let label = |what: &str| format!("{name}.{what}");
        let splat = band_groups(
            device,
            &label("splat"),
            &self.splat.layout,
            s.bands,
            |band: &Band| {
                vec![
                    uniform.as_entire_binding(),
                    view(s.nearness),
                    s.zbuffer.as_entire_binding(),
                    band.uniform.as_entire_binding(),
                ]
            },
        );
        let resolve = band_groups(
            device,
            &label("resolve"),
            &self.resolve.layout,
            s.bands,
            |band: &Band| {
                vec![
                    uniform.as_entire_binding(),
                    view(s.nearness),
                    s.zbuffer.as_entire_binding(),
                    view(s.work_color),
                    view(&warped_view),
                    view(&warped_near_view),
                    band.uniform.as_entire_binding(),
                ]
            },
        );
        let fill_rows = band_groups(
            device,
            &label("fill_rows"),
            &self.fill_rows.layout,
            s.bands,
            |band: &Band| {
                vec![
                    uniform.as_entire_binding(),
                    view(&warped_view),
                    view(&warped_near_view),
                    s.zbuffer.as_entire_binding(),
                    band.uniform.as_entire_binding(),
                ]
            },
        );
        let fill_columns = b::group(
            device,
            &format!("{name}.fill_columns"),
            &self.fill_columns.layout,
            &[
                uniform.as_entire_binding(),
                view(&warped_view),
                view(s.column_source),
            ],
        );
        let fill_resolve = band_groups(
            device,
            &label("fill_resolve"),
            &self.fill_resolve.layout,
            s.bands,
            |band: &Band| {
                vec![
                    uniform.as_entire_binding(),
                    view(&warped_view),
                    view(&warped_near_view),
                    s.zbuffer.as_entire_binding(),
                    view(s.column_source),
                    view(&filled_view),
                    view(&mask_view),
                    band.uniform.as_entire_binding(),
                ]
            },
        );
        EyeTargets {
            warped,
            warped_view,
            warped_near_view,
            filled,
            filled_view,
            mask_view,
            uniform,
            splat,
            resolve,
            fill_rows,
            fill_columns,
            fill_resolve,
        }
    }
}

/// What `build_targets` shares between the eyes.
struct EyeInputs<'a> {
    size: (u32, u32),
    nearness: &'a wgpu::TextureView,
    zbuffer: &'a wgpu::Buffer,
    bands: &'a [Band],
    work_color: &'a wgpu::TextureView,
    column_source: &'a wgpu::TextureView,
}

struct SourceTargets {
    color: wgpu::Texture,
    color_view: wgpu::TextureView,
    /// What the warp reads: the frame itself, or its copy at the warp size.
    work_view: wgpu::TextureView,
    resample_group: Option<wgpu::BindGroup>,
}

struct DepthTargets {
    raw: wgpu::Texture,
    nearness: wgpu::Texture,
    nearness_view: wgpu::TextureView,
    uniform: wgpu::Buffer,
    group: wgpu::BindGroup,
    dilate_h_group: wgpu::BindGroup,
    dilate_v_group: wgpu::BindGroup,
}

/// Usage of the warp's per-pixel intermediate textures (an eye's may also be drawn into
/// by the mesh pass).
const STORAGE: wgpu::TextureUsages = wgpu::TextureUsages::TEXTURE_BINDING
    .union(wgpu::TextureUsages::STORAGE_BINDING)
    .union(wgpu::TextureUsages::RENDER_ATTACHMENT)
    .union(wgpu::TextureUsages::COPY_SRC);

fn uniform_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The z-buffer of one band of rows, and the bands that cover the frame (see [`Band`]).
fn zbuffer_bands(ctx: &GpuContext, size: (u32, u32)) -> (wgpu::Buffer, Vec<Band>) {
    let device = &ctx.device;
    let band_rows = band_rows(size, ctx.storage_binding_limit());
    if band_rows < size.1 {
        log::info!(
            "the warp's z-buffer for {}x{} would be {:.1} MiB, more than one storage \
             binding of this GPU allows: warping in bands of {band_rows} rows",
            size.0,
            size.1,
            (u64::from(size.0) * u64::from(size.1) * 4) as f64 / f64::from(1 << 20)
        );
    }
    let zbuffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{LABEL}.warp.zbuffer")),
        size: u64::from(size.0) * u64::from(band_rows) * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bands = (0..size.1)
        .step_by(band_rows as usize)
        .map(|first_row| {
            let rows = band_rows.min(size.1 - first_row);
            let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("{LABEL}.warp.band{first_row}")),
                contents: bytemuck::bytes_of(&BandParams {
                    first_row,
                    rows,
                    _pad: [0; 2],
                }),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            Band { rows, uniform }
        })
        .collect();
    (zbuffer, bands)
}

/// One bind group per band, from `resources` for that band.
fn band_groups<'a>(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    bands: &'a [Band],
    resources: impl Fn(&'a Band) -> Vec<wgpu::BindingResource<'a>>,
) -> Vec<wgpu::BindGroup> {
    bands
        .iter()
        .map(|band| b::group(device, label, layout, &resources(band)))
        .collect()
}

/// Rows per band of the warp's z-buffer: all of them when the whole z-buffer (4 bytes a
/// pixel) fits one storage binding, else as many as do.
pub(super) fn band_rows((width, height): (u32, u32), limit: u64) -> u32 {
    let rows = limit / (u64::from(width.max(1)) * 4);
    rows.clamp(1, u64::from(height.max(1))) as u32
}
