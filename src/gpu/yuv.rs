//! The composed frame as 8-bit I420 for the video encoder: converted on the GPU
//! (shaders/yuv_pack.wgsl) into GStreamer's default plane layout, so the encoder needs no
//! CPU colour conversion and the readback moves 1.5 bytes per pixel instead of 4.

use super::binding as b;
use super::{GpuContext, GpuError, LABEL, PassTimer, ShaderSet};
use crate::frame::{I420Layout, YuvMatrix};
use crate::stereo::uniforms::YuvParams;

pub struct YuvPacker {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    uniform: wgpu::Buffer,
    target: Option<Target>,
}

struct Target {
    frame: I420Layout,
    planes: wgpu::Buffer,
    group: wgpu::BindGroup,
    /// The source texture the group reads, by identity (rebind when it changes).
    source_generation: u64,
}

impl YuvPacker {
    pub fn new(ctx: &GpuContext, shaders: &ShaderSet) -> Result<Self, GpuError> {
        let (layout, pipeline_layout) = b::layout(
            &ctx.device,
            &format!("{LABEL}.yuv_pack"),
            &[
                b::uniform(0),
                b::float_texture(1),
                b::storage_buffer(2, false),
            ],
        );
        let pipeline = ctx.compute_pipeline(shaders, "yuv_pack.wgsl", &pipeline_layout)?;
        let uniform = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{LABEL}.yuv_pack.params")),
            size: std::mem::size_of::<YuvParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            layout,
            pipeline,
            uniform,
            target: None,
        })
    }

    /// Binds to `source` (the composed RGBA frame, even sides); `generation` changes
    /// whenever `source` is a new texture (`Composer::output_generation`).
    pub fn prepare(
        &mut self,
        ctx: &GpuContext,
        source: &wgpu::TextureView,
        size: (u32, u32),
        generation: u64,
        matrix: YuvMatrix,
    ) {
        let frame = I420Layout::new(size.0, size.1);
        let [y_row, cb_row, cr_row] = matrix.rows();
        let params = YuvParams {
            size: [size.0, size.1],
            y_stride: frame.y_stride,
            c_stride: frame.c_stride,
            u_offset: frame.u_offset,
            v_offset: frame.v_offset,
            scratch_word: frame.len / 4,
            _pad: 0,
            y_row,
            cb_row,
            cr_row,
        };
        ctx.queue
            .write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        if let Some(t) = &self.target
            && t.frame == frame
            && t.source_generation == generation
        {
            return;
        }
        let planes = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{LABEL}.yuv_pack.planes")),
            // One scratch word past the planes.
            size: u64::from(frame.len) + 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let group = b::group(
            &ctx.device,
            &format!("{LABEL}.yuv_pack"),
            &self.layout,
            &[
                self.uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(source),
                planes.as_entire_binding(),
            ],
        );
        self.target = Some(Target {
            frame,
            planes,
            group,
            source_generation: generation,
        });
    }

    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, timer: &mut PassTimer) {
        let t = self
            .target
            .as_ref()
            .expect("YuvPacker::prepare must run first");
        let blocks = (t.frame.size.0.div_ceil(8), t.frame.size.1.div_ceil(2));
        timer.pass(encoder, "yuv_pack", |pass| {
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &t.group, &[]);
            pass.dispatch_workgroups(blocks.0.div_ceil(8), blocks.1.div_ceil(8), 1);
        });
    }

    /// The packed planes (the first `layout().len` bytes).
    pub fn planes(&self) -> &wgpu::Buffer {
        &self.target.as_ref().expect("prepared").planes
    }

    pub fn layout(&self) -> I420Layout {
        self.target.as_ref().expect("prepared").frame
    }
}
