//! The warper's other way to make an eye: the frame drawn as a mesh from a moved camera
//! (shaders/mesh.wgsl), with a depth buffer, into the eye's `warped` and `warped_near`
//! targets, where the splat and resolve would write. The fill passes that follow are the
//! warp's own. `--layout novel` and the preview's 3D view use it.

use super::{LABEL, NEARNESS_FORMAT, Targets};
use crate::gpu::{GpuContext, GpuError, ShaderSet};
use crate::stereo::uniforms::MeshParams;
use crate::view3d::ViewCamera;
use crate::view3d::export::grid_len;

const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The mesh pipeline (built with the warper's, rebuilt on shader reload).
pub(super) struct MeshPass {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipeline: wgpu::RenderPipeline,
    sampler: wgpu::Sampler,
    /// The eye views' format (the warper's precision).
    view_format: wgpu::TextureFormat,
}

/// What one warper generation's mesh draws need: its bind group and depth buffer.
pub(super) struct MeshTargets {
    generation: u64,
    uniform: wgpu::Buffer,
    group: wgpu::BindGroup,
    depth_view: wgpu::TextureView,
}

impl MeshPass {
    pub(super) fn new(
        ctx: &GpuContext,
        shaders: &ShaderSet,
        view_format: wgpu::TextureFormat,
    ) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let visible = wgpu::ShaderStages::VERTEX_FRAGMENT;
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: visible,
            ty,
            count: None,
        };
        let texture = |filterable| wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&format!("{LABEL}.mesh")),
            entries: &[
                entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                entry(1, texture(false)),
                entry(2, texture(true)),
                entry(
                    3,
                    wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                ),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&format!("{LABEL}.mesh")),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = build(ctx, shaders, &pipeline_layout, view_format)?;
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some(&format!("{LABEL}.mesh")),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            layout,
            pipeline_layout,
            pipeline,
            sampler,
            view_format,
        })
    }

    pub(super) fn reload(&mut self, ctx: &GpuContext, shaders: &ShaderSet) -> Result<(), GpuError> {
        self.pipeline = build(ctx, shaders, &self.pipeline_layout, self.view_format)?;
        Ok(())
    }

    /// The bind group and depth buffer for `t` (kept while the warper's generation is).
    pub(super) fn targets(
        &self,
        device: &wgpu::Device,
        t: &Targets,
        generation: u64,
        old: Option<MeshTargets>,
    ) -> MeshTargets {
        if let Some(old) = old.filter(|m| m.generation == generation) {
            return old;
        }
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{LABEL}.mesh.params")),
            size: std::mem::size_of::<MeshParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = crate::gpu::binding::group(
            device,
            &format!("{LABEL}.mesh"),
            &self.layout,
            &[
                uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(&t.nearness_view),
                wgpu::BindingResource::TextureView(&t.work_view),
                wgpu::BindingResource::Sampler(&self.sampler),
            ],
        );
        let (_depth, depth_view) = crate::gpu::binding::texture_2d(
            device,
            &format!("{LABEL}.mesh.depth"),
            t.size,
            DEPTH_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        MeshTargets {
            generation,
            uniform,
            group,
            depth_view,
        }
    }

    /// Records the mesh of the prepared depth seen from `view` into the eye targets
    /// `colour` and `near` (cleared first: alpha 0 and nearness -1 are holes).
    pub(super) fn encode(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        m: &MeshTargets,
        params: &MeshParams,
        colour: &wgpu::TextureView,
        near: &wgpu::TextureView,
    ) {
        queue.write_buffer(&m.uniform, 0, bytemuck::bytes_of(params));
        let attachment = |view, clear| {
            Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(clear),
                    store: wgpu::StoreOp::Store,
                },
            })
        };
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some(&format!("{LABEL}.mesh")),
            color_attachments: &[
                attachment(colour, wgpu::Color::TRANSPARENT),
                attachment(
                    near,
                    wgpu::Color {
                        r: -1.0,
                        g: 0.0,
                        b: 0.0,
                        a: 0.0,
                    },
                ),
            ],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &m.depth_view,
                // Reversed depth (view3d::ViewCamera): 0 is infinitely far.
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(0.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &m.group, &[]);
        let (gw, gh) = (
            grid_len(params.size[0], params.step),
            grid_len(params.size[1], params.step),
        );
        let cells = (gw - 1) * (gh - 1);
        if cells > 0 {
            pass.draw(0..cells * 6, 0..1);
        }
    }
}

/// The uniform for drawing the prepared depth from `view`: vertices every `step` pixels,
/// `edge_threshold` as the warp's, and `max_stretch` (f32::INFINITY: no stretch test).
pub fn mesh_params(
    view: &ViewCamera,
    step: u32,
    edge_threshold: f32,
    max_stretch: f32,
) -> MeshParams {
    let s = &view.source;
    MeshParams {
        clip_from_source: view.clip_from_source.to_cols_array_2d(),
        size: [s.size.0, s.size.1],
        step: step.max(1),
        jump_floor: s.jump_floor(),
        focal: [s.fx, s.fy],
        centre: [s.cx, s.cy],
        inv_z: [s.inv_z.0, s.inv_z.1],
        edge_threshold,
        max_stretch,
    }
}

fn build(
    ctx: &GpuContext,
    shaders: &ShaderSet,
    layout: &wgpu::PipelineLayout,
    view_format: wgpu::TextureFormat,
) -> Result<wgpu::RenderPipeline, GpuError> {
    let file = "mesh.wgsl";
    let source = shaders.source(file)?;
    let device = &ctx.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&format!("{LABEL}.{file}")),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let target = |format| {
        Some(wgpu::ColorTargetState {
            format,
            blend: None,
            write_mask: wgpu::ColorWrites::ALL,
        })
    };
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(&format!("{LABEL}.{file}")),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::Greater),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[target(view_format), target(NEARNESS_FORMAT)],
        }),
        multiview_mask: None,
        cache: None,
    });
    match pollster::block_on(scope.pop()) {
        None => Ok(pipeline),
        Some(err) => Err(GpuError::Shader {
            file: file.to_owned(),
            message: err.to_string(),
        }),
    }
}
