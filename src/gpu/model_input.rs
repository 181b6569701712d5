//! Frames to depth-model input on the GPU: resampling to the model's size and per-channel
//! normalisation (model_input.wgsl), and for the no-model default the per-pixel monocular
//! cues (depth_cues.wgsl). One long-lived struct, one call per frame; only the small
//! tensor comes back to the CPU, for ONNX Runtime.

use super::binding as b;
use super::{GpuContext, GpuError, LABEL, ShaderSet, dispatch_size};
use crate::stereo::uniforms::ModelInputParams;

/// Per-channel normalisation: tensor = (rgb - mean) / std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelNorm {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ChannelNorm {
    /// ImageNet statistics (Depth-Anything and most depth networks).
    pub const IMAGENET: ChannelNorm = ChannelNorm {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
    /// Plain RGB in 0..1.
    pub const IDENTITY: ChannelNorm = ChannelNorm {
        mean: [0.0; 3],
        std: [1.0; 3],
    };
}

struct Targets {
    frame_size: (u32, u32),
    model_size: (u32, u32),
    frame: wgpu::Texture,
    tensor: wgpu::Buffer,
    previous: wgpu::Buffer,
    cues: wgpu::Buffer,
    readback: wgpu::Buffer,
    prep_group: wgpu::BindGroup,
    cue_group: wgpu::BindGroup,
}

pub struct ModelInput {
    prep: (wgpu::BindGroupLayout, wgpu::ComputePipeline),
    cue: (wgpu::BindGroupLayout, wgpu::ComputePipeline),
    uniform: wgpu::Buffer,
    sampler: wgpu::Sampler,
    targets: Option<Targets>,
    has_prev: bool,
}

impl ModelInput {
    pub fn new(ctx: &GpuContext, shaders: &ShaderSet) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let (prep_bgl, prep_pl) = b::layout(
            device,
            &format!("{LABEL}.model_input"),
            &[
                b::uniform(0),
                b::float_texture(1),
                b::sampler(2),
                b::storage_buffer(3, false),
            ],
        );
        let prep = ctx.compute_pipeline(shaders, "model_input.wgsl", &prep_pl)?;
        let (cue_bgl, cue_pl) = b::layout(
            device,
            &format!("{LABEL}.depth_cues"),
            &[
                b::uniform(0),
                b::storage_buffer(1, true),
                b::storage_buffer(2, true),
                b::storage_buffer(3, false),
            ],
        );
        let cue = ctx.compute_pipeline(shaders, "depth_cues.wgsl", &cue_pl)?;
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{LABEL}.model_input.params")),
            size: std::mem::size_of::<ModelInputParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some(&format!("{LABEL}.model_input.sampler")),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            prep: (prep_bgl, prep),
            cue: (cue_bgl, cue),
            uniform,
            sampler,
            targets: None,
            has_prev: false,
        })
    }

    /// Allocates for frames of `frame_size` resampled to `model_size`; a no-op when the
    /// sizes are unchanged.
    pub fn prepare(&mut self, ctx: &GpuContext, frame_size: (u32, u32), model_size: (u32, u32)) {
        if self
            .targets
            .as_ref()
            .is_some_and(|t| t.frame_size == frame_size && t.model_size == model_size)
        {
            return;
        }
        let device = &ctx.device;
        let (frame, frame_view) = b::texture_2d(
            device,
            &format!("{LABEL}.model_input.frame"),
            frame_size,
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        let pixels = u64::from(model_size.0) * u64::from(model_size.1);
        let buffer = |name: &str, size: u64, usage: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{LABEL}.model_input.{name}")),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let tensor = buffer("tensor", pixels * 12, storage);
        let previous = buffer("previous", pixels * 12, storage);
        let cues = buffer("cues", pixels * 4, storage);
        let readback = buffer(
            "readback",
            pixels * 16,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let prep_group = b::group(
            device,
            &format!("{LABEL}.model_input"),
            &self.prep.0,
            &[
                self.uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(&frame_view),
                wgpu::BindingResource::Sampler(&self.sampler),
                tensor.as_entire_binding(),
            ],
        );
        let cue_group = b::group(
            device,
            &format!("{LABEL}.depth_cues"),
            &self.cue.0,
            &[
                self.uniform.as_entire_binding(),
                tensor.as_entire_binding(),
                previous.as_entire_binding(),
                cues.as_entire_binding(),
            ],
        );
        self.targets = Some(Targets {
            frame_size,
            model_size,
            frame,
            tensor,
            previous,
            cues,
            readback,
            prep_group,
            cue_group,
        });
        self.has_prev = false;
    }

    /// Forget the previous frame (a seek or a scene cut): the motion cue restarts.
    pub fn reset_motion(&mut self) {
        self.has_prev = false;
    }

    /// Uploads one RGBA8 frame (rows `stride_bytes` apart) and returns its tensor
    /// (planar RGB, `norm` applied) and, with `with_cues`, the cue map.
    pub fn run(
        &mut self,
        ctx: &GpuContext,
        rgba: &[u8],
        stride_bytes: u32,
        norm: ChannelNorm,
        with_cues: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), super::ReadbackError> {
        let t = self
            .targets
            .as_ref()
            .expect("ModelInput::prepare must be called first");
        ctx.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &t.frame,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            rgba,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(stride_bytes),
                rows_per_image: Some(t.frame_size.1),
            },
            wgpu::Extent3d {
                width: t.frame_size.0,
                height: t.frame_size.1,
                depth_or_array_layers: 1,
            },
        );
        let taps = |src: u32, dst: u32| src.div_ceil(dst).clamp(1, 4);
        let params = ModelInputParams {
            src_size: [t.frame_size.0, t.frame_size.1],
            dst_size: [t.model_size.0, t.model_size.1],
            mean: [norm.mean[0], norm.mean[1], norm.mean[2], 0.0],
            inv_std: [1.0 / norm.std[0], 1.0 / norm.std[1], 1.0 / norm.std[2], 0.0],
            taps: [
                taps(t.frame_size.0, t.model_size.0),
                taps(t.frame_size.1, t.model_size.1),
            ],
            has_prev: u32::from(self.has_prev),
            _pad: 0,
        };
        ctx.queue
            .write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        let pixels = u64::from(t.model_size.0) * u64::from(t.model_size.1);
        let (gx, gy) = dispatch_size(t.model_size.0, t.model_size.1);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&format!("{LABEL}.model_input")),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.prep.1);
            pass.set_bind_group(0, &t.prep_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
            if with_cues {
                pass.set_pipeline(&self.cue.1);
                pass.set_bind_group(0, &t.cue_group, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            }
        }
        enc.copy_buffer_to_buffer(&t.tensor, 0, &t.readback, 0, pixels * 12);
        if with_cues {
            enc.copy_buffer_to_buffer(&t.cues, 0, &t.readback, pixels * 12, pixels * 4);
            enc.copy_buffer_to_buffer(&t.tensor, 0, &t.previous, 0, pixels * 12);
        }
        let index = ctx.queue.submit([enc.finish()]);
        self.has_prev = with_cues;

        let slice = t.readback.slice(..);
        let done = std::sync::Arc::new(std::sync::Mutex::new(None));
        let done2 = done.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            *done2.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        });
        // Another thread polling the same device (the preview's, tests') may be the one
        // that runs the callback, a moment after this poll returns: wait for the callback
        // itself, as `Readback::read` does.
        loop {
            if let Some(mapped) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                mapped.map_err(|e| super::ReadbackError::Map(e.to_string()))?;
                break;
            }
            let status = ctx.device.poll(wgpu::PollType::Wait {
                submission_index: Some(index.clone()),
                timeout: None,
            })?;
            if status.is_queue_empty() {
                std::thread::yield_now();
            }
        }
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| super::ReadbackError::Map(e.to_string()))?;
            let floats: &[f32] = bytemuck::cast_slice(&view);
            let n = pixels as usize;
            let tensor = floats[..3 * n].to_vec();
            let cues = with_cues.then(|| floats[3 * n..4 * n].to_vec());
            (tensor, cues)
        };
        t.readback.unmap();
        Ok(out)
    }
}
