//! Brings the composed frame back to the CPU for the encoder, through a ring of staging
//! buffers so the GPU works on frame N while the CPU hands frame N-1 to GStreamer.
//! Rows are padded to 256 bytes (wgpu's copy alignment); the encoder is told the stride
//! rather than repacking.

use std::sync::{Arc, Mutex};

use super::{GpuContext, LABEL};

#[derive(Debug, thiserror::Error)]
pub enum ReadbackError {
    #[error("the GPU failed while reading a frame back: {0}")]
    Map(String),
    #[error("the GPU device was lost or timed out: {0}")]
    Poll(#[from] wgpu::PollError),
}

struct Slot {
    buffer: wgpu::Buffer,
    submission: Option<wgpu::SubmissionIndex>,
    mapped: Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>,
}

pub struct Readback {
    slots: Vec<Slot>,
    size: (u32, u32),
    padded_row_bytes: u32,
    /// Slot the next `record` uses; slots are read back in the same order.
    next: usize,
}

/// Bytes per row rounded up to wgpu's 256-byte copy alignment.
pub fn padded_row_bytes(width: u32, bytes_per_pixel: u32) -> u32 {
    (width * bytes_per_pixel).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
}

impl Readback {
    /// `slots` RGBA8 frames of `size` may be in flight at once.
    pub fn new(ctx: &GpuContext, size: (u32, u32), slots: usize) -> Self {
        Self::for_texture(ctx, size, 4, slots)
    }

    /// `slots` frames of `size` with `pixel_bytes` per pixel (8: RGBA half floats).
    pub fn for_texture(ctx: &GpuContext, size: (u32, u32), pixel_bytes: u32, slots: usize) -> Self {
        let padded_row_bytes = padded_row_bytes(size.0, pixel_bytes);
        let mut r = Self::with_len(ctx, u64::from(padded_row_bytes) * u64::from(size.1), slots);
        r.size = size;
        r.padded_row_bytes = padded_row_bytes;
        r
    }

    /// `slots` frames of `len` bytes copied from a buffer (`record_buffer`) may be in
    /// flight at once.
    pub fn with_len(ctx: &GpuContext, len: u64, slots: usize) -> Self {
        let slots = (0..slots)
            .map(|i| Slot {
                buffer: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("{LABEL}.readback.{i}")),
                    size: len,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                submission: None,
                mapped: Arc::new(Mutex::new(None)),
            })
            .collect();
        Self {
            slots,
            size: (0, 0),
            padded_row_bytes: 0,
            next: 0,
        }
    }

    /// Records the copy of the first bytes of `source` (a slot's length) into the next
    /// slot.
    pub fn record_buffer(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::Buffer,
    ) -> usize {
        let slot = self.take_slot();
        let s = &self.slots[slot];
        encoder.copy_buffer_to_buffer(source, 0, &s.buffer, 0, s.buffer.size());
        slot
    }

    fn take_slot(&mut self) -> usize {
        let slot = self.next;
        self.next = (self.next + 1) % self.slots.len();
        assert!(
            self.slots[slot].submission.is_none(),
            "readback slot {slot} reused before it was read"
        );
        slot
    }

    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    pub fn stride_bytes(&self) -> u32 {
        self.padded_row_bytes
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Records the copy of `texture` (RGBA8, this readback's size) into the next slot.
    pub fn record(&mut self, encoder: &mut wgpu::CommandEncoder, texture: &wgpu::Texture) -> usize {
        let slot = self.take_slot();
        let s = &self.slots[slot];
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &s.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row_bytes),
                    rows_per_image: Some(self.size.1),
                },
            },
            wgpu::Extent3d {
                width: self.size.0,
                height: self.size.1,
                depth_or_array_layers: 1,
            },
        );
        slot
    }

    /// Call right after `queue.submit` of the encoder that recorded `slot`.
    pub fn submitted(&mut self, slot: usize, index: wgpu::SubmissionIndex) {
        let s = &mut self.slots[slot];
        let mapped = s.mapped.clone();
        s.buffer
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                *mapped.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        s.submission = Some(index);
    }

    /// Waits for `slot`'s frame and hands its bytes (rows `stride_bytes()` apart) to `f`.
    pub fn read<R>(
        &mut self,
        ctx: &GpuContext,
        slot: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, ReadbackError> {
        let s = &mut self.slots[slot];
        let index = s.submission.take();
        loop {
            if let Some(result) = s.mapped.lock().unwrap_or_else(|e| e.into_inner()).take() {
                result.map_err(|e| ReadbackError::Map(e.to_string()))?;
                break;
            }
            ctx.device.poll(wgpu::PollType::Wait {
                submission_index: index.clone(),
                timeout: None,
            })?;
        }
        let out = {
            let view = s
                .buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| ReadbackError::Map(e.to_string()))?;
            f(&view)
        };
        s.buffer.unmap();
        Ok(out)
    }
}

/// Reads any 2D texture back synchronously, tightly packed (tests and tools, not per frame).
pub fn read_texture(ctx: &GpuContext, texture: &wgpu::Texture) -> Vec<u8> {
    let size = texture.size();
    let bpp = texture
        .format()
        .block_copy_size(None)
        .expect("readable colour format");
    let padded = padded_row_bytes(size.width, bpp);
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{LABEL}.read_texture")),
        size: u64::from(padded) * u64::from(size.height),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(size.height),
            },
        },
        wgpu::Extent3d {
            width: size.width,
            height: size.height,
            depth_or_array_layers: 1,
        },
    );
    ctx.queue.submit([encoder.finish()]);
    buffer.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("GPU poll failed");
    let view = buffer.slice(..).get_mapped_range().expect("mapped range");
    let row = (size.width * bpp) as usize;
    let mut out = Vec::with_capacity(row * size.height as usize);
    for y in 0..size.height as usize {
        let start = y * padded as usize;
        out.extend_from_slice(&view[start..start + row]);
    }
    out
}
