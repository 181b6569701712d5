//! The clip the preview shows: frames and their depth by index, with seeking (reopening
//! the decoders at the frame's time) and an in-memory cache, so stepping or scrubbing
//! back to a frame already seen costs nothing. Depth comes from a file, or from the
//! estimate (model or cues), computed once per clip and cached on disk.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::control::Cancel;
use crate::depth::scan::ScanNeed;
use crate::depth::{DepthScan, DepthStream, prerendered};
use crate::gpu::GpuContext;
use crate::layout::{Autocrop, Canvas, Rect};
use crate::media::decode::{DecodeOptions, Decoder, PixelFormat, StreamInfo};
use crate::progress::Progress;
use crate::render::{RenderError, RenderJob, ResolvedDepth, resolve_depth};
use crate::stereo::DepthRange;

/// Frames kept in memory (colour + depth); about 0.5 GB of 1080p.
const CACHE_BYTES: usize = 512 << 20;

/// One frame and its depth, as uploaded to the GPU.
pub struct CachedFrame {
    pub index: u64,
    pub pts_nanos: u64,
    pub rgba: Vec<u8>,
    pub stride: u32,
    pub depth: Vec<u8>,
    pub depth_stride: u32,
}

pub struct Source {
    pub input: PathBuf,
    pub info: StreamInfo,
    /// The job as resolved for this clip's depth (kind, scale... of the file in use).
    pub depth_job: RenderJob,
    pub depth_path: PathBuf,
    pub scan: DepthScan,
    matching: prerendered::Matching,
    decoder: Decoder,
    depth: DepthStream,
    /// Index of the frame `decoder` yields next.
    next: u64,
    frame_nanos: u64,
    cache: HashMap<u64, Arc<CachedFrame>>,
    order: VecDeque<u64>,
    bytes: usize,
    _resolved: ResolvedDepth,
    /// `--autocrop` as the clip was opened with, and the bars it found: frames are the
    /// picture alone, and depth is cropped to match.
    pub autocrop: Option<Autocrop>,
    pub canvas: Option<Canvas>,
    pub depth_crop: Option<Rect>,
}

impl Source {
    pub fn open(
        ctx: &GpuContext,
        job: &RenderJob,
        progress: &mut dyn Progress,
    ) -> Result<Self, RenderError> {
        crate::media::decode::check_input_file(&job.input)?;
        let resolved = resolve_depth(ctx, job, None, progress, &Cancel::default())?;
        let depth_job = resolved.job.clone();
        let depth_path = resolved.path.clone();
        // Everything: the depth kind can change while the preview runs.
        let scan = DepthScan::run_cached(
            &depth_path,
            depth_job.depth_rgb,
            ScanNeed::All,
            &depth_job.estimate,
        )?;
        let canvas = match job.autocrop {
            Some(_) => crate::media::bars::find_bars(&job.input)?,
            None => None,
        };
        let decoder = Decoder::open(
            &job.input,
            PixelFormat::Native,
            &DecodeOptions {
                crop: canvas,
                // The window shows SDR: HDR sources tone-mapped (the status says so).
                tonemap_hdr: true,
                ..Default::default()
            },
        )?;
        let info = decoder.info().clone();
        if let Some(h) = &info.hdr {
            log::info!(
                "preview: {} is HDR ({}); the window shows it tone-mapped to SDR",
                job.input.display(),
                h.describe()
            );
        }
        // Depth pairs with the whole frame, bars included (as in `render`).
        let uncropped = StreamInfo {
            width: canvas.map_or(info.width, |c| c.size.0),
            height: canvas.map_or(info.height, |c| c.size.1),
            ..info.clone()
        };
        let matching = prerendered::choose_matching(&scan, &uncropped, None)?;
        let depth_crop = canvas.map(|c| c.scaled_picture((scan.width, scan.height)));
        let mut depth = DepthStream::open(&scan, matching, 0, 0)?;
        depth.set_crop(depth_crop);
        let frame_nanos = info.frame_duration_nanos().unwrap_or(40_000_000).max(1);
        Ok(Self {
            input: job.input.clone(),
            info,
            depth_job,
            depth_path,
            scan,
            matching,
            decoder,
            depth,
            next: 0,
            frame_nanos,
            cache: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            _resolved: resolved,
            autocrop: job.autocrop,
            canvas,
            depth_crop,
        })
    }

    pub fn matching(&self) -> prerendered::Matching {
        self.matching
    }

    pub fn frame_nanos(&self) -> u64 {
        self.frame_nanos
    }

    /// Frames in the clip, when the container says.
    pub fn frame_count(&self) -> Option<u64> {
        self.info.estimated_frames().map(|n| n.max(1))
    }

    pub fn size(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }

    pub fn depth_size(&self) -> (u32, u32) {
        self.depth.size()
    }

    /// The normalisation for the current settings of the depth file in use.
    pub fn range(&self, job: &RenderJob) -> DepthRange {
        self.scan.range(
            job.depth_kind,
            job.depth_far_is_bright,
            job.depth_scale,
            job.max_depth_m,
        )
    }

    /// The depth is an estimate (model or cues), not a file the user gave.
    pub fn is_estimated(&self) -> bool {
        self._resolved.estimated.is_some()
    }

    pub fn is_cached(&self, index: u64) -> bool {
        self.cache.contains_key(&index)
    }

    /// Frame `index` with its depth; `None` past the end of the clip.
    pub fn frame(&mut self, index: u64) -> Result<Option<Arc<CachedFrame>>, RenderError> {
        if let Some(f) = self.cache.get(&index) {
            return Ok(Some(f.clone()));
        }
        if index != self.next {
            // Seeking: a short hop forward decodes through, anything else reopens.
            if index < self.next || index > self.next + 12 {
                let start = index * self.frame_nanos;
                self.decoder = Decoder::open(
                    &self.input,
                    PixelFormat::Native,
                    &DecodeOptions {
                        start_nanos: start,
                        with_audio: false,
                        crop: self.canvas,
                        // The window shows SDR: HDR sources tone-mapped (the status says so).
                        tonemap_hdr: true,
                    },
                )?;
                self.depth = DepthStream::open(&self.scan, self.matching, start, index)?;
                self.depth.set_crop(self.depth_crop);
                self.next = index;
            }
            while self.next < index {
                if self.decoder.next_frame()?.is_none() {
                    return Ok(None);
                }
                self.next += 1;
            }
        }
        let Some(frame) = self.decoder.next_frame()? else {
            return Ok(None);
        };
        self.next += 1;
        let depth_rows = self.depth.size().1 as usize;
        let (d, _) = self.depth.frame_for(index, frame.pts_nanos, false)?;
        let cached = Arc::new(CachedFrame {
            index,
            pts_nanos: frame.pts_nanos,
            // Converted here as the render's CPU warp does (videoconvert's RGBA has
            // blocky chroma), so the preview shows what the render will write.
            rgba: crate::cpu::frame_to_rgba(&frame.pixels(), (frame.width(), frame.height())),
            stride: frame.width() * 4,
            // (A crop's rows run on past its width: only what the warp reads is kept.)
            depth: d.data[..d.data.len().min(d.stride as usize * depth_rows)].to_vec(),
            depth_stride: d.stride,
        });
        self.remember(cached.clone());
        Ok(Some(cached))
    }

    fn remember(&mut self, f: Arc<CachedFrame>) {
        self.bytes += f.rgba.len() + f.depth.len();
        self.order.push_back(f.index);
        self.cache.insert(f.index, f);
        while self.bytes > CACHE_BYTES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front().and_then(|i| self.cache.remove(&i)) {
                self.bytes -= old.rgba.len() + old.depth.len();
            }
        }
    }
}
