//! GPU time per compute pass: the profile behind `warp-bench` and `stereosplat bench`.
//! Hardware adapters use timestamp queries. Software rasterisers (lavapipe) do not wait
//! for a dispatch before writing its end timestamp, so there each pass is submitted on
//! its own and timed on the CPU clock. A disabled timer records passes plainly, so timed
//! and untimed frames run the same code.

use std::time::Instant;

use super::{GpuContext, LABEL};

/// Passes one timer can record per frame (two timestamps each).
const MAX_PASSES: u32 = 32;

pub struct PassTimer {
    mode: Mode,
    /// Names of the passes recorded since `begin`, in order.
    labels: Vec<&'static str>,
}

enum Mode {
    Off,
    Timestamps(Queries),
    /// Submit and wait around every pass; milliseconds per pass in `labels` order.
    Serial {
        device: wgpu::Device,
        queue: wgpu::Queue,
        ms: Vec<f64>,
    },
}

struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    period_ns: f64,
}

impl PassTimer {
    /// A timer that records nothing.
    pub fn disabled() -> Self {
        Self {
            mode: Mode::Off,
            labels: Vec::new(),
        }
    }

    /// The best timer the adapter allows: timestamps on hardware, serial CPU timing on a
    /// software rasteriser or where timestamps are missing.
    pub fn new(ctx: &GpuContext) -> Self {
        let software = ctx.is_software();
        let timestamps = ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY);
        let mode = if software || !timestamps {
            Mode::Serial {
                device: ctx.device.clone(),
                queue: ctx.queue.clone(),
                ms: Vec::new(),
            }
        } else {
            Mode::Timestamps(Queries::new(ctx))
        };
        Self {
            mode,
            labels: Vec::new(),
        }
    }

    /// "timestamp queries", "serial submits (CPU clock)" or "off".
    pub fn method(&self) -> &'static str {
        match self.mode {
            Mode::Off => "off",
            Mode::Timestamps(_) => "timestamp queries",
            Mode::Serial { .. } => "one submit per pass, CPU clock",
        }
    }

    /// Starts a new frame's record.
    pub fn begin(&mut self) {
        self.labels.clear();
        if let Mode::Serial { ms, .. } = &mut self.mode {
            ms.clear();
        }
    }

    /// Records one compute pass named `name` into `encoder`, timed when the timer is on.
    pub fn pass(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        name: &'static str,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) {
        match &mut self.mode {
            Mode::Off => {
                let mut pass = encoder.begin_compute_pass(&descriptor(name, None));
                record(&mut pass);
            }
            Mode::Timestamps(q) => {
                let index = self.labels.len() as u32;
                let writes = (index < MAX_PASSES).then(|| wgpu::ComputePassTimestampWrites {
                    query_set: &q.set,
                    beginning_of_pass_write_index: Some(index * 2),
                    end_of_pass_write_index: Some(index * 2 + 1),
                });
                if writes.is_some() {
                    self.labels.push(name);
                }
                let mut pass = encoder.begin_compute_pass(&descriptor(name, writes));
                record(&mut pass);
            }
            Mode::Serial { device, queue, ms } => {
                // Finish what came before, then time this pass alone.
                let flush = |encoder: &mut wgpu::CommandEncoder| {
                    let fresh = device.create_command_encoder(&Default::default());
                    queue.submit([std::mem::replace(encoder, fresh).finish()]);
                    device.poll(wgpu::PollType::wait_indefinitely())
                };
                let _ = flush(encoder);
                let start = Instant::now();
                {
                    let mut pass = encoder.begin_compute_pass(&descriptor(name, None));
                    record(&mut pass);
                }
                let _ = flush(encoder);
                ms.push(start.elapsed().as_secs_f64() * 1000.0);
                self.labels.push(name);
            }
        }
    }

    /// Records the copy of this frame's timestamps; call after the last timed pass.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if let Mode::Timestamps(q) = &self.mode
            && !self.labels.is_empty()
        {
            let n = self.labels.len() as u32 * 2;
            encoder.resolve_query_set(&q.set, 0..n, &q.resolve, 0);
            encoder.copy_buffer_to_buffer(&q.resolve, 0, &q.read, 0, u64::from(n) * 8);
        }
    }

    /// Milliseconds per recorded pass, once the submission holding `resolve` finished.
    /// Empty when the timer is off.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<(&'static str, f64)>, wgpu::PollError> {
        let times: Vec<f64> = match &self.mode {
            Mode::Off => return Ok(Vec::new()),
            Mode::Serial { ms, .. } => ms.clone(),
            Mode::Timestamps(q) => {
                if self.labels.is_empty() {
                    return Ok(Vec::new());
                }
                let slice = q.read.slice(..self.labels.len() as u64 * 16);
                slice.map_async(wgpu::MapMode::Read, |_| {});
                ctx.device.poll(wgpu::PollType::wait_indefinitely())?;
                let ticks: Vec<u64> = match slice.get_mapped_range() {
                    Ok(view) => bytemuck::pod_collect_to_vec(&view),
                    Err(_) => return Ok(Vec::new()),
                };
                q.read.unmap();
                ticks
                    .chunks_exact(2)
                    .map(|t| t[1].saturating_sub(t[0]) as f64 * q.period_ns / 1e6)
                    .collect()
            }
        };
        Ok(self.labels.iter().copied().zip(times).collect())
    }
}

impl Queries {
    fn new(ctx: &GpuContext) -> Self {
        let bytes = u64::from(MAX_PASSES) * 2 * 8;
        let buffer = |name: &str, usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{LABEL}.profile.{name}")),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Self {
            set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some(&format!("{LABEL}.profile")),
                ty: wgpu::QueryType::Timestamp,
                count: MAX_PASSES * 2,
            }),
            resolve: buffer(
                "resolve",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            read: buffer(
                "read",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            period_ns: f64::from(ctx.queue.get_timestamp_period()),
        }
    }
}

fn descriptor<'a>(
    name: &'static str,
    timestamp_writes: Option<wgpu::ComputePassTimestampWrites<'a>>,
) -> wgpu::ComputePassDescriptor<'a> {
    wgpu::ComputePassDescriptor {
        label: Some(name),
        timestamp_writes,
    }
}
