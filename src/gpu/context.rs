//! The one wgpu device everything shares. It is created here; the preview hands it to
//! eframe (`WgpuSetup::Existing`) so the window draws the composed frame from the same
//! device with no copy.

use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found (not even a software one). Install a Vulkan driver: on Debian \
         `apt-get install mesa-vulkan-drivers libvulkan1` gives the lavapipe software adapter"
    )]
    NoAdapter,
    #[error("no GPU adapter matches --adapter {wanted:?}. Adapters found:\n{available}")]
    AdapterNotFound { wanted: String, available: String },
    #[error("the GPU adapter {adapter} refused to create a device: {cause}")]
    RequestDevice {
        adapter: String,
        cause: wgpu::RequestDeviceError,
    },
    #[error("shader {file} failed to build: {message}")]
    Shader { file: String, message: String },
    #[error("cannot read shader: {0}")]
    ShaderIo(#[from] std::io::Error),
    #[error(
        "frame of {width}x{height} needs a {what} of {needed}, but the adapter {adapter} allows \
         at most {limit}. Use a half layout, a smaller input, --warp-device cpu (no GPU limits) \
         or a GPU with larger limits"
    )]
    TooLarge {
        width: u32,
        height: u32,
        what: &'static str,
        needed: u64,
        limit: u64,
        adapter: String,
    },
    #[error(
        "a {width}x{height} frame is larger than the largest texture the adapter {adapter} \
         allows ({limit} pixels a side), and {purpose} needs one. {advice}"
    )]
    TextureTooLarge {
        width: u32,
        height: u32,
        limit: u32,
        adapter: String,
        purpose: &'static str,
        advice: &'static str,
    },
    #[error(
        "the GPU ({adapter}) reported an error: {message}. This is a bug in stereosplat; \
         please report it with the command line. `--warp-device cpu` may get past it"
    )]
    Uncaught { adapter: String, message: String },
}

impl GpuError {
    /// For `TooLarge`, which limit the frame exceeds, without the advice (for callers that
    /// give their own); the whole message for any other error.
    pub fn limit_exceeded(&self) -> String {
        match self {
            GpuError::TooLarge {
                what,
                needed,
                limit,
                adapter,
                ..
            } => format!("it needs a {what} of {needed}, and {adapter} allows {limit}"),
            other => other.to_string(),
        }
    }
}

/// Which adapter to use (`--adapter`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AdapterChoice {
    /// A hardware GPU if there is one, else a software rasteriser.
    #[default]
    Auto,
    Hardware,
    Software,
    /// The adapter at this position in the list the error message prints.
    Index(usize),
    /// The first adapter whose name contains this text (case-insensitive).
    Name(String),
}

impl std::str::FromStr for AdapterChoice {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" | "" => AdapterChoice::Auto,
            "hardware" | "gpu" => AdapterChoice::Hardware,
            "software" | "cpu" => AdapterChoice::Software,
            other => match other.parse() {
                Ok(i) => AdapterChoice::Index(i),
                Err(_) => AdapterChoice::Name(s.to_owned()),
            },
        })
    }
}

pub struct GpuContext {
    /// Kept so a window (the preview) can create its surface on the same device.
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// The first GPU error no error scope caught (see [`Self::check_errors`]).
    uncaught: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuContext({})", describe(&self.info))
    }
}

fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// Ranks adapters for `Auto`: discrete before integrated before virtual before software.
fn preference(info: &wgpu::AdapterInfo) -> u8 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let kind = if is_software(info) {
        "software"
    } else {
        "hardware"
    };
    format!(
        "{} ({:?}, {kind}, driver {} {})",
        info.name, info.backend, info.driver, info.driver_info
    )
    .replace("  ", " ")
    .replace(" )", ")")
}

/// Every adapter wgpu finds, best first (the order `--adapter N` refers to).
fn sorted_adapters() -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // GL only duplicates the Vulkan adapters here and logs EGL noise when it finds no
    // display; it stays reachable with WGPU_BACKEND=gl.
    if std::env::var_os("WGPU_BACKEND").is_none() {
        desc.backends = wgpu::Backends::PRIMARY;
    }
    let instance = wgpu::Instance::new(desc);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    // GL duplicates of a Vulkan adapter only add confusion; keep them last.
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (preference(&info), info.backend == wgpu::Backend::Gl)
    });
    (instance, adapters)
}

/// One line per adapter, numbered as `--adapter N` expects.
pub fn list_adapters() -> Vec<String> {
    sorted_adapters()
        .1
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{i}: {}", describe(&a.get_info())))
        .collect()
}

impl GpuContext {
    /// Creates the device on the adapter `choice` picks and logs which one it is.
    pub fn new(choice: &AdapterChoice) -> Result<Self, GpuError> {
        Self::with_limits(choice, |_| {})
    }

    /// [`Self::new`] with the adapter's limits changed by `adjust` first: lowered, they
    /// stand in for a smaller GPU (the tests use this to reach the code paths that
    /// work around limits).
    pub fn with_limits(
        choice: &AdapterChoice,
        adjust: impl FnOnce(&mut wgpu::Limits),
    ) -> Result<Self, GpuError> {
        let (instance, mut adapters) = sorted_adapters();
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        let list = || {
            adapters
                .iter()
                .enumerate()
                .map(|(i, a)| format!("  {i}: {}", describe(&a.get_info())))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let not_found = |wanted: &str| GpuError::AdapterNotFound {
            wanted: wanted.to_owned(),
            available: list(),
        };
        let index = match choice {
            AdapterChoice::Auto => 0,
            AdapterChoice::Hardware => adapters
                .iter()
                .position(|a| !is_software(&a.get_info()))
                .ok_or_else(|| not_found("hardware"))?,
            AdapterChoice::Software => adapters
                .iter()
                .position(|a| is_software(&a.get_info()))
                .ok_or_else(|| not_found("software"))?,
            AdapterChoice::Index(i) if *i < adapters.len() => *i,
            AdapterChoice::Index(i) => return Err(not_found(&i.to_string())),
            AdapterChoice::Name(name) => {
                let lower = name.to_ascii_lowercase();
                adapters
                    .iter()
                    .position(|a| a.get_info().name.to_ascii_lowercase().contains(&lower))
                    .ok_or_else(|| not_found(name))?
            }
        };
        let adapter = adapters.swap_remove(index);
        let info = adapter.get_info();
        if *choice == AdapterChoice::Auto && is_software(&info) {
            log::warn!(
                "GPU: {} — no hardware adapter found, using the software one (slow)",
                describe(&info)
            );
        } else {
            log::info!("GPU: {}", describe(&info));
        }
        // Ask for everything the adapter offers: 4K and 8K frames need storage buffers and
        // textures larger than WebGPU's defaults.
        let mut limits = adapter.limits();
        adjust(&mut limits);
        let desc = wgpu::DeviceDescriptor {
            label: Some(super::LABEL),
            required_limits: limits,
            // Timestamps feed the per-pass profile (gpu::PassTimer); optional everywhere.
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            GpuError::RequestDevice {
                adapter: describe(&info),
                cause: e,
            }
        })?;
        // wgpu's default for an error outside any error scope is to abort the program.
        // Every size a user controls is checked before anything is created, but should a
        // case slip through, the error is kept here instead, and the render loop, the
        // depth estimate and the preview turn it into an ordinary error (exit code 1, no
        // output) at their next check.
        let uncaught = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&uncaught);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let message = e.to_string();
            log::error!("GPU error: {message}");
            slot.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(message);
        }));
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
            info,
            uncaught,
        })
    }

    /// Fails with the first GPU error that no error scope caught since the last check.
    pub fn check_errors(&self) -> Result<(), GpuError> {
        let taken = self
            .uncaught
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match taken {
            Some(message) => Err(GpuError::Uncaught {
                adapter: self.describe(),
                message,
            }),
            None => Ok(()),
        }
    }

    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// A software rasteriser (lavapipe, llvmpipe, WARP): its "GPU" work runs on the CPU.
    pub fn is_software(&self) -> bool {
        is_software(&self.info)
    }

    /// Fails with a clear message when the warp's textures and buffers for frames of
    /// `frame` size, depth of `depth` size and output of `out` size cannot fit the device
    /// (creating them anyway would only give a GPU validation error).
    pub fn check_frame_fits(
        &self,
        frame: (u32, u32),
        depth: (u32, u32),
        out: (u32, u32),
    ) -> Result<(), GpuError> {
        let (width, height) = frame;
        let limits = self.device.limits();
        let too_large = |what, needed: u64, limit: u64| GpuError::TooLarge {
            width,
            height,
            what,
            needed,
            limit,
            adapter: self.describe(),
        };
        let max_dim = u64::from(limits.max_texture_dimension_2d);
        let widest = [frame, depth, out]
            .iter()
            .map(|&(w, h)| u64::from(w.max(h)))
            .max()
            .unwrap_or(0);
        if widest > max_dim {
            return Err(too_large("texture side", widest, max_dim));
        }
        // The z-buffer key keeps the source column in 14 bits.
        if width > 1 << 14 {
            return Err(too_large("width", u64::from(width), 1 << 14));
        }
        // The z-buffer needs no check: a frame whose z-buffer is larger than one storage
        // binding is warped in bands of rows (`Warper`). The I420 output is packed into
        // one storage buffer (`YuvPacker`).
        let packed = u64::from(crate::frame::I420Layout::new(out.0, out.1).len) + 4;
        let limit = self.storage_binding_limit();
        if packed > limit {
            return Err(too_large("I420 output buffer (bytes)", packed, limit));
        }
        Ok(())
    }

    /// The largest storage buffer one binding can give a shader.
    pub fn storage_binding_limit(&self) -> u64 {
        let limits = self.device.limits();
        limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
    }

    /// Fails with a clear message when a texture of `size` is larger than the device
    /// allows: `purpose` says what needs it, `advice` what to do instead.
    pub fn check_texture(
        &self,
        size: (u32, u32),
        purpose: &'static str,
        advice: &'static str,
    ) -> Result<(), GpuError> {
        let limit = self.device.limits().max_texture_dimension_2d;
        if size.0.max(size.1) <= limit {
            return Ok(());
        }
        Err(GpuError::TextureTooLarge {
            width: size.0,
            height: size.1,
            limit,
            adapter: self.describe(),
            purpose,
            advice,
        })
    }

    /// Builds a compute pipeline from one shader file inside a validation error scope, so
    /// a broken shader is an error value (the preview keeps its last good pipeline).
    pub fn compute_pipeline(
        &self,
        shaders: &super::ShaderSet,
        file: &str,
        layout: &wgpu::PipelineLayout,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        self.specialised_pipeline(shaders, file, layout, &[])
    }

    /// Like [`Self::compute_pipeline`], with values for the shader's `override` constants:
    /// the compiler then drops the branches they rule out (software rasterisers run every
    /// branch of a switch otherwise).
    pub fn specialised_pipeline(
        &self,
        shaders: &super::ShaderSet,
        file: &str,
        layout: &wgpu::PipelineLayout,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let source = shaders.source(file)?;
        self.pipeline_from_source(file, source, layout, constants)
    }

    /// Builds a compute pipeline from complete WGSL text (entry point `main`); `file`
    /// names it in labels and errors.
    pub fn pipeline_from_source(
        &self,
        file: &str,
        source: String,
        layout: &wgpu::PipelineLayout,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&format!("{}.{file}", super::LABEL)),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{}.{file}", super::LABEL)),
                layout: Some(layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_errors_outside_any_scope_become_error_values() {
        // A device of its own: the error must not reach other tests' checks.
        let ctx = GpuContext::new(&AdapterChoice::Auto).expect("an adapter (lavapipe in CI)");
        assert!(ctx.check_errors().is_ok());
        let side = ctx.device.limits().max_texture_dimension_2d + 1;
        let _texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("too wide on purpose"),
            size: wgpu::Extent3d {
                width: side,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let err = ctx
            .check_errors()
            .expect_err("the texture was refused")
            .to_string();
        assert!(err.contains("reported an error"), "{err}");
        assert!(err.contains(&side.to_string()), "{err}");
        assert!(ctx.check_errors().is_ok(), "an error is reported once");
    }
}
