//! The composer: packs the eye views into the output layout in one compute pass and owns
//! the output texture (read back for encoding, or shown directly by the preview).
//! Shader: shaders/compose.wgsl.

use super::binding as b;
use super::warp::Warper;
use super::{GpuContext, GpuError, LABEL, PassTimer, Precision, ShaderSet, dispatch_size};
use crate::layout::{Anaglyph, Canvas, Layout};
use crate::stereo::uniforms::ComposeParams;
use crate::vr180::VrPlacement;

/// The post-process slot's entry point: the user's `post(p)` gives output pixel `p`.
const POST_MAIN: &str = "
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.out_size.x || id.y >= params.out_size.y) {
        return;
    }
    let c = post(min(id.xy, params.content_size - 1u));
    textureStore(out_frame, vec2<i32>(id.xy), vec4<f32>(clamp(c.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}
";

/// The user's file first (so its line numbers are the ones errors show), then the
/// prelude and compose.wgsl, whose bindings and helpers (`sample_region`, `inferno`,
/// `anaglyph`, `side_by_side`...) it may use; compose's own entry point is renamed.
fn post_source(shaders: &ShaderSet, path: &std::path::Path) -> Result<String, GpuError> {
    let user = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let compose = shaders.source("compose.wgsl")?;
    let compose = compose.replacen("fn main(", "fn layout_main(", 1);
    Ok(format!("{user}\n{compose}\n{POST_MAIN}"))
}

struct Output {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    size: (u32, u32),
    group: wgpu::BindGroup,
    warper_generation: u64,
}

pub struct Composer {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    shaders: ShaderSet,
    /// One specialised pipeline per layout, built on first use.
    pipelines: Vec<(Layout, wgpu::ComputePipeline)>,
    current: Layout,
    sampler: wgpu::Sampler,
    uniform: wgpu::Buffer,
    output: Option<Output>,
    params: ComposeParams,
    /// `--post FILE.wgsl`: the user's `post()` replaces the layout's packing.
    post: Option<std::path::PathBuf>,
    /// Bumped whenever the output texture is replaced (a window re-registers it then).
    output_generation: u64,
    /// The frame the eyes are shown in, when the warped picture is only part of it
    /// (`--autocrop` keeping the bars); None: the warper's frame.
    canvas: Option<Canvas>,
    /// `--layout vr180`: how the picture sits on the hemisphere.
    vr: VrPlacement,
    /// The output's format (`Precision::colour_format`).
    precision: Precision,
}

impl Composer {
    pub fn new(ctx: &GpuContext, shaders: &ShaderSet) -> Result<Self, GpuError> {
        Self::with_precision(ctx, shaders, Precision::Unorm8)
    }

    /// A composer whose output holds colour at `precision` (half floats for HDR kept as
    /// HDR, read back for a 16-bit encoder input).
    pub fn with_precision(
        ctx: &GpuContext,
        shaders: &ShaderSet,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let (layout, pipeline_layout) = b::layout(
            device,
            &format!("{LABEL}.compose"),
            &[
                b::uniform(0),
                b::float_texture(1),
                b::float_texture(2),
                b::float_texture(3),
                b::unfilterable_texture(4),
                b::float_texture(5),
                b::sampler(6),
                b::storage_texture(7, precision.colour_format()),
            ],
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some(&format!("{LABEL}.compose.linear_clamp")),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{LABEL}.compose.params")),
            size: std::mem::size_of::<ComposeParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut composer = Self {
            layout,
            pipeline_layout,
            shaders: shaders.clone(),
            pipelines: Vec::new(),
            current: Layout::Sbs,
            sampler,
            uniform,
            output: None,
            params: ComposeParams::default(),
            post: None,
            output_generation: 0,
            canvas: None,
            vr: VrPlacement::default(),
            precision,
        };
        // Build the default now so a broken shader fails here, not mid-render.
        composer.pipeline_for(ctx, Layout::Sbs)?;
        Ok(composer)
    }

    fn pipeline_for(
        &mut self,
        ctx: &GpuContext,
        layout: Layout,
    ) -> Result<&wgpu::ComputePipeline, GpuError> {
        let i = match self.pipelines.iter().position(|(l, _)| *l == layout) {
            Some(i) => i,
            None => {
                let constants = [("LAYOUT_ID", f64::from(layout.shader_id()))];
                let p = match &self.post {
                    None => ctx.pipeline_from_source(
                        "compose.wgsl",
                        self.precision.widen(self.shaders.source("compose.wgsl")?),
                        &self.pipeline_layout,
                        &constants,
                    )?,
                    Some(path) => ctx.pipeline_from_source(
                        &path.display().to_string(),
                        self.precision.widen(post_source(&self.shaders, path)?),
                        &self.pipeline_layout,
                        &constants,
                    )?,
                };
                self.pipelines.push((layout, p));
                self.pipelines.len() - 1
            }
        };
        Ok(&self.pipelines[i].1)
    }

    /// Rebuilds the pipelines from `shaders` (live editing); on error the old ones stay.
    pub fn reload(&mut self, ctx: &GpuContext, shaders: &ShaderSet) -> Result<(), GpuError> {
        let old = std::mem::replace(&mut self.shaders, shaders.clone());
        let kept = std::mem::take(&mut self.pipelines);
        if let Err(e) = self.pipeline_for(ctx, self.current) {
            self.shaders = old;
            self.pipelines = kept;
            return Err(e);
        }
        Ok(())
    }

    /// Uses the user's `post()` function from `path` (None: back to the layouts). On error
    /// the previous pipelines stay.
    pub fn set_post(
        &mut self,
        ctx: &GpuContext,
        path: Option<&std::path::Path>,
    ) -> Result<(), GpuError> {
        let old = std::mem::replace(&mut self.post, path.map(|p| p.to_path_buf()));
        let kept = std::mem::take(&mut self.pipelines);
        if let Err(e) = self.pipeline_for(ctx, self.current) {
            self.post = old;
            self.pipelines = kept;
            return Err(e);
        }
        Ok(())
    }

    /// Shows the warped picture inside `canvas` (black around it) from the next
    /// [`Self::prepare`] on; None: the picture is the whole frame. The inspection layouts
    /// (grid, depth, holes) always show the picture alone.
    pub fn set_canvas(&mut self, canvas: Option<Canvas>) {
        self.canvas = canvas;
    }

    /// How `--layout vr180` places the picture, from the next [`Self::prepare`] on.
    pub fn set_vr(&mut self, vr: VrPlacement) {
        self.vr = vr;
    }

    /// `--floating-window` for the next frames: black bands over the left eye's left
    /// edge and the right eye's right edge, as fractions of the picture's width.
    pub fn set_window(&mut self, left: f32, right: f32) {
        self.params.window = [left, right];
    }

    /// Sets the layout and (re)binds to the warper's current views when needed.
    pub fn prepare(
        &mut self,
        ctx: &GpuContext,
        warper: &Warper,
        layout: Layout,
        anaglyph: Anaglyph,
        even: bool,
    ) -> Result<(), GpuError> {
        self.prepare_views(ctx, warper, &warper.views(), layout, anaglyph, even)
    }

    /// Like [`Self::prepare`] for another set of eye views of the same warper (the infill
    /// masks for `--mask-out`).
    pub fn prepare_views(
        &mut self,
        ctx: &GpuContext,
        warper: &Warper,
        views: &super::warp::EyeViews<'_>,
        layout: Layout,
        anaglyph: Anaglyph,
        even: bool,
    ) -> Result<(), GpuError> {
        self.pipeline_for(ctx, layout)?;
        self.current = layout;
        let eye = warper
            .frame_size()
            .expect("Warper::prepare must run before Composer::prepare");
        let canvas = match self.canvas {
            Some(c) if layout.shows_eyes() => c,
            _ => Canvas::whole(eye),
        };
        let (out, content) = layout.frame_sizes(canvas.size, even);
        let (left_rows, right_rows) = anaglyph.matrices();
        self.params = ComposeParams {
            out_size: [out.0, out.1],
            content_size: [content.0, content.1],
            eye_size: [eye.0, eye.1],
            window: self.params.window,
            picture: canvas.fractions(),
            left_rows,
            right_rows,
            vr: self.vr.shader(eye.0 as f32 / eye.1.max(1) as f32),
        };
        if let Some(o) = &self.output
            && o.size == out
            && o.warper_generation == warper.generation()
        {
            return Ok(());
        }
        let device = &ctx.device;
        // The pixels are sRGB-encoded video values; an sRGB view lets a window sample them
        // as colours (the preview) while encoding reads the bytes unchanged.
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some(&format!("{LABEL}.compose.output")),
            size: wgpu::Extent3d {
                width: out.0,
                height: out.1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: self.precision.colour_format(),
            // Copy destination: the preview writes the CPU warp's frames here.
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let v = views;
        let group = b::group(
            device,
            &format!("{LABEL}.compose"),
            &self.layout,
            &[
                self.uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(v.left),
                wgpu::BindingResource::TextureView(v.right),
                wgpu::BindingResource::TextureView(v.source),
                wgpu::BindingResource::TextureView(v.nearness),
                wgpu::BindingResource::TextureView(v.warped_raw),
                wgpu::BindingResource::Sampler(&self.sampler),
                wgpu::BindingResource::TextureView(&view),
            ],
        );
        self.output_generation += 1;
        self.output = Some(Output {
            texture,
            view,
            size: out,
            group,
            warper_generation: warper.generation(),
        });
        Ok(())
    }

    pub fn encode(&self, queue: &wgpu::Queue, encoder: &mut wgpu::CommandEncoder) {
        self.encode_timed(queue, encoder, &mut PassTimer::disabled());
    }

    /// [`Self::encode`] with its pass timed by `timer`.
    pub fn encode_timed(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        timer: &mut PassTimer,
    ) {
        let o = self
            .output
            .as_ref()
            .expect("Composer::prepare must run first");
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.params));
        let pipeline = &self
            .pipelines
            .iter()
            .find(|(l, _)| *l == self.current)
            .expect("prepare built the pipeline")
            .1;
        let (gx, gy) = dispatch_size(o.size.0, o.size.1);
        timer.pass(encoder, "compose", |pass| {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &o.group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        });
    }

    pub fn output_texture(&self) -> &wgpu::Texture {
        &self
            .output
            .as_ref()
            .expect("Composer::prepare must run first")
            .texture
    }

    pub fn output_view(&self) -> &wgpu::TextureView {
        &self
            .output
            .as_ref()
            .expect("Composer::prepare must run first")
            .view
    }

    /// A view of the output for showing it in a window: egui's renderer takes textures
    /// gamma-encoded ("not sRGB-aware", it blends in gamma space), so the bytes are
    /// sampled as they are. (An sRGB view, which decodes to linear when sampled, showed
    /// every picture darker than the file the render writes.)
    pub fn display_view(&self) -> wgpu::TextureView {
        self.output_texture().create_view(&Default::default())
    }

    /// How precisely the output holds colour.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Changes whenever `output_texture` is a new texture.
    pub fn output_generation(&self) -> u64 {
        self.output_generation
    }

    /// Layout of the current output.
    pub fn layout(&self) -> Layout {
        self.current
    }

    pub fn output_size(&self) -> (u32, u32) {
        self.output.as_ref().map(|o| o.size).unwrap_or((0, 0))
    }
}
