//! The pixels a decoder hands out: the formats the appsink asks for ([`PixelFormat`],
//! chosen by `--colour-convert` for video and by the depth reader for depth), and one
//! decoded frame ([`Frame`]) with its planes as GStreamer laid them out.

use gst_video::prelude::*;
use gstreamer_video as gst_video;

use crate::frame::{FramePixels, YuvColours, YuvMatrix};

/// Where decoded YUV frames become RGB (`--colour-convert`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColourConvert {
    /// Where the warp runs: the decoder's I420/NV12 planes go to the warp, which converts
    /// them (a shader, or the CPU warp's own code) with bilinear chroma. On a software
    /// rasteriser the GPU warp gets them converted by that same CPU code (the shader
    /// costs about fifteen times the CPU there).
    #[default]
    Auto,
    /// In a shader: as `auto`, and the GPU warp even where `--warp-device auto` would
    /// pick the CPU.
    Gpu,
    /// GStreamer's videoconvert to RGBA before the warp. Its SIMD path repeats each
    /// chroma sample over 2x2 pixels (stair steps along colour edges).
    Cpu,
}

impl ColourConvert {
    /// The decoder output format for the frames the warp reads.
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            ColourConvert::Cpu => PixelFormat::Rgba,
            ColourConvert::Auto | ColourConvert::Gpu => PixelFormat::Native,
        }
    }
}

/// What the appsink asks videoconvert for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba,
    Gray16,
    /// Grey depth: 16-bit, or 8-bit when the source has no more bits (converting 8-bit
    /// video to 16-bit grey costs videoconvert twice the CPU of 8-bit grey). 8-bit 4:2:0
    /// video (I420, NV12) comes as it is decoded and its luma plane is the depth
    /// (`Frame::grey8`): videoconvert's grey conversion cost more CPU than the decoding.
    Depth,
    /// 4:2:0 as most decoders produce it (8-bit I420, NV12 and P010 from hardware decoders,
    /// 10-bit I420), which the warp converts (`Frame::pixels`): 10-bit samples keep their two
    /// extra bits that way and skip videoconvert's pass. videoconvert turns 4:2:2, 4:4:4
    /// and RGB into RGBA (no chroma lost).
    Native,
}

impl PixelFormat {
    /// The formats the appsink asks for, preferred first, given the decoder's output
    /// format once it is known. Depth from 8-bit 4:2:0 video stays in that format (only
    /// its luma is read); anything else, 10-bit video included, becomes grey
    /// (videoconvert would otherwise pick 8-bit I420 for 10-bit input and drop its extra
    /// bits), and so does everything before the format is known.
    pub(super) fn for_decoded(self, decoded: Option<&str>) -> &'static [gst_video::VideoFormat] {
        use gst_video::VideoFormat as F;
        match (self, decoded) {
            (PixelFormat::Depth, Some("I420")) => &[F::I420],
            (PixelFormat::Depth, Some("NV12")) => &[F::Nv12],
            // 10-bit 4:2:0 depth: its luma too, widened by `Frame::grey10`.
            (PixelFormat::Depth, Some("I420_10LE")) => &[F::I42010le],
            (PixelFormat::Depth, Some("P010_10LE")) => &[F::P01010le],
            (PixelFormat::Depth, _) => &[F::Gray16Le, F::Gray8],
            (PixelFormat::Native, Some("I420_10LE")) => &[F::I42010le],
            // Hardware decoders' 10-bit output (NVDEC, VA-API): read as it is, where
            // videoconvert would spend CPU time squeezing it to 8-bit I420.
            (PixelFormat::Native, Some("P010_10LE")) => &[F::P01010le],
            // Offered 10-bit 4:2:0, videoconvert would prefer it to RGBA for 10-bit 4:2:2
            // and drop chroma.
            (PixelFormat::Native, _) => &[F::I420, F::Nv12, F::Rgba],
            _ => self.gst(),
        }
    }

    /// Every format frames may arrive in.
    pub(super) fn gst(self) -> &'static [gst_video::VideoFormat] {
        use gst_video::VideoFormat as F;
        match self {
            PixelFormat::Rgba => &[F::Rgba],
            PixelFormat::Gray16 => &[F::Gray16Le],
            PixelFormat::Depth => &[
                F::Gray16Le,
                F::Gray8,
                F::I420,
                F::Nv12,
                F::I42010le,
                F::P01010le,
            ],
            PixelFormat::Native => &[F::I420, F::Nv12, F::I42010le, F::P01010le, F::Rgba],
        }
    }
}

/// One decoded frame, mapped; the buffer stays alive as long as this does.
pub struct Frame {
    pub(super) frame: gst_video::VideoFrame<gst_video::video_frame::Readable>,
    /// Presentation time since the file's first frame.
    pub pts_nanos: u64,
    pub duration_nanos: Option<u64>,
}

impl Frame {
    /// The same picture again (the buffer is shared, not copied) at `pts_nanos`: a still
    /// image shown for more than one output frame.
    pub fn repeated(&self, pts_nanos: u64, duration_nanos: Option<u64>) -> Frame {
        let frame = gst_video::VideoFrame::from_buffer_readable(
            self.frame.buffer_owned(),
            self.frame.info(),
        )
        .expect("a buffer that mapped once maps again");
        Frame {
            frame,
            pts_nanos,
            duration_nanos,
        }
    }

    pub fn width(&self) -> u32 {
        self.frame.width()
    }
    pub fn height(&self) -> u32 {
        self.frame.height()
    }
    pub fn stride_bytes(&self) -> u32 {
        self.frame.plane_stride()[0] as u32
    }
    pub fn data(&self) -> &[u8] {
        self.frame.plane_data(0).expect("plane 0 of a mapped frame")
    }

    /// 8-bit grey in plane 0 (from `PixelFormat::Depth` on an 8-bit source): GRAY8, or
    /// the luma of 8-bit 4:2:0 video, which may be limited range (16..235).
    pub fn grey8(&self) -> Option<Grey8Range> {
        use gst_video::VideoFormat as F;
        match self.frame.format() {
            F::Gray8 => Some(Grey8Range::Full),
            F::I420 | F::Nv12 => Some(match self.frame.info().colorimetry().range() {
                gst_video::VideoColorRange::Range0_255 => Grey8Range::Full,
                // Unknown range in YUV video means limited, as GStreamer assumes.
                _ => Grey8Range::Limited,
            }),
            _ => None,
        }
    }

    /// 10-bit grey in plane 0 (from `PixelFormat::Depth` on a 10-bit source): the luma
    /// of 10-bit 4:2:0 video, in the low (I420_10LE) or high (P010) bits of each sample.
    pub fn grey10(&self) -> Option<Grey10> {
        use gst_video::VideoFormat as F;
        let high_bits = match self.frame.format() {
            F::I42010le => false,
            F::P01010le => true,
            _ => return None,
        };
        let range = match self.frame.info().colorimetry().range() {
            gst_video::VideoColorRange::Range0_255 => Grey8Range::Full,
            _ => Grey8Range::Limited,
        };
        Some(Grey10 { high_bits, range })
    }

    /// The pixels in whichever format was negotiated (see `PixelFormat::Native`).
    pub fn pixels(&self) -> FramePixels<'_> {
        Self::pixels_of(&self.frame)
    }

    /// [`Self::pixels`] of a mapped frame.
    pub(super) fn pixels_of(
        frame: &gst_video::VideoFrame<gst_video::video_frame::Readable>,
    ) -> FramePixels<'_> {
        let plane = |i: u32| {
            (
                frame.plane_data(i).expect("plane of a mapped frame"),
                frame.plane_stride()[i as usize] as u32,
            )
        };
        let colours = || {
            let c = frame.info().colorimetry();
            let matrix = match c.matrix() {
                gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
                gst_video::VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
                gst_video::VideoColorMatrix::Bt601 => YuvMatrix::Bt601,
                _ => YuvMatrix::for_height(frame.height()),
            };
            YuvColours {
                matrix,
                full_range: c.range() == gst_video::VideoColorRange::Range0_255,
            }
        };
        match frame.format() {
            gst_video::VideoFormat::I420 => FramePixels::I420 {
                planes: [plane(0), plane(1), plane(2)],
                colours: colours(),
            },
            gst_video::VideoFormat::Nv12 => FramePixels::Nv12 {
                planes: [plane(0), plane(1)],
                colours: colours(),
            },
            gst_video::VideoFormat::I42010le => FramePixels::I420Ten {
                planes: [plane(0), plane(1), plane(2)],
                colours: colours(),
            },
            gst_video::VideoFormat::P01010le => FramePixels::P010 {
                planes: [plane(0), plane(1)],
                colours: colours(),
            },
            _ => FramePixels::Rgba {
                data: frame.plane_data(0).expect("plane 0 of a mapped frame"),
                stride: frame.plane_stride()[0] as u32,
            },
        }
    }
}

/// The value range of 8-bit grey in a frame's plane 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grey8Range {
    /// 0..255.
    Full,
    /// 16..235 (video luma): black 16 and white 235.
    Limited,
}

impl Grey8Range {
    /// The table from stored values to full-range ones (16 -> 0, 235 -> 255, clamped).
    pub fn to_full(self) -> &'static [u8; 256] {
        static FULL: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut i = 0;
            while i < 256 {
                t[i] = i as u8;
                i += 1;
            }
            t
        };
        static LIMITED: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut i = 0;
            while i < 256 {
                // round((v - 16) * 255 / 219) in integers, clamped to 0..255.
                let v = (i as i32 - 16) * 255;
                let r = if v <= 0 { 0 } else { (v + 109) / 219 };
                t[i] = if r > 255 { 255 } else { r as u8 };
                i += 1;
            }
            t
        };
        match self {
            Grey8Range::Full => &FULL,
            Grey8Range::Limited => &LIMITED,
        }
    }
}

/// How 10-bit grey is stored: which bits of each little-endian u16, and its range
/// (limited: black 64, white 940).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grey10 {
    pub high_bits: bool,
    pub range: Grey8Range,
}

impl Grey10 {
    /// The 10-bit value in a stored sample.
    #[inline]
    pub fn value(self, stored: u16) -> u16 {
        if self.high_bits {
            stored >> 6
        } else {
            stored & 0x3FF
        }
    }

    /// The table from 10-bit values to full-range 16-bit ones: v * 65535 / 1023, or
    /// (v - 64) * 65535 / 876 for limited range, rounded and clamped.
    pub fn to_16(self) -> &'static [u16; 1024] {
        const fn table(black: i64, span: i64) -> [u16; 1024] {
            let mut t = [0u16; 1024];
            let mut i = 0;
            while i < 1024 {
                let v = (i as i64 - black) * 65535;
                let r = if v <= 0 { 0 } else { (v + span / 2) / span };
                t[i] = if r > 65535 { 65535 } else { r as u16 };
                i += 1;
            }
            t
        }
        static FULL: [u16; 1024] = table(0, 1023);
        static LIMITED: [u16; 1024] = table(64, 876);
        match self.range {
            Grey8Range::Full => &FULL,
            Grey8Range::Limited => &LIMITED,
        }
    }
}

/// Bits per sample of a GStreamer raw video format name.
pub(super) fn bits_of(format: &str) -> u32 {
    if format.contains("16") || format.contains("64") {
        16
    } else if format.contains("12") {
        12
    } else if format.contains("10") {
        10
    } else {
        8
    }
}
