//! HDR sources: a 10-bit BT.2020 stream with the PQ (SMPTE ST 2084) or HLG (ARIB
//! STD-B67) transfer, told by its caps' colorimetry, with the static metadata (mastering
//! display, content light level) the caps carry. `--hdr keep` passes them through to a
//! 10-bit H.265 output; `--hdr tonemap` (and the preview, and outputs that cannot hold
//! HDR) maps each frame to SDR BT.709 as it is decoded ([`ToneMapper`]).
//!
//! The tone map, in display light:
//! 1. R'G'B' (BT.2020, from the stream's Y'CbCr matrix and range, chroma upsampled
//!    bilinearly from MPEG-2 siting) to linear light: the PQ EOTF in nits, or for HLG the
//!    inverse OETF and the BT.2100 OOTF for a 1000-nit display (system gamma 1.2);
//! 2. scaled so 203 nits, BT.2408's HDR reference white, is SDR white (1.0);
//! 3. BT.2020 primaries to BT.709 (the BT.2087 matrix), negatives clipped;
//! 4. maxRGB tone curve: the largest channel m is kept below a knee at 0.5 and above it
//!    compressed by an extended Reinhard shoulder that reaches 1.0 at the content's peak
//!    (MaxCLL, else the mastering display's maximum, else 1000 nits), all channels scaled
//!    by f(m) / m so hues stay;
//! 5. encoded with the BT.1886 display's inverse EOTF (gamma 2.4) to 8 bits.

use gstreamer_video as gst_video;

use crate::frame::{FramePixels, YuvColours};

/// `--hdr`: what becomes of an HDR source.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum HdrMode {
    /// Keep the transfer, primaries and metadata: a 10-bit H.265 output (where the output
    /// can hold it; a still or an 8-bit encoder gets the tone map instead, with a note).
    #[default]
    Keep,
    /// Map to SDR BT.709, for players and screens that cannot show HDR.
    Tonemap,
}

/// The HDR transfer functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    Pq,
    Hlg,
}

impl Transfer {
    pub fn name(self) -> &'static str {
        match self {
            Transfer::Pq => "PQ",
            Transfer::Hlg => "HLG",
        }
    }

    /// GStreamer's colorimetry for BT.2100 with this transfer.
    pub fn colorimetry(self) -> &'static str {
        match self {
            Transfer::Pq => "bt2100-pq",
            Transfer::Hlg => "bt2100-hlg",
        }
    }
}

/// What an HDR stream is, from its caps.
#[derive(Clone, Debug, PartialEq)]
pub struct HdrInfo {
    pub transfer: Transfer,
    /// GStreamer's `mastering-display-info` caps field (display primaries, white point and
    /// luminance range), as the source has it.
    pub mastering_display: Option<String>,
    /// GStreamer's `content-light-level` caps field (MaxCLL:MaxFALL, nits).
    pub content_light: Option<String>,
}

/// The peak the tone curve maps to SDR white when the stream says none.
pub const DEFAULT_PEAK_NITS: f32 = 1000.0;
/// BT.2408's HDR reference white: SDR white after the tone map.
pub const REFERENCE_WHITE_NITS: f32 = 203.0;

impl HdrInfo {
    /// The stream's HDR description, when its caps say PQ or HLG.
    pub fn from_caps(caps: &gstreamer::CapsRef, info: &gst_video::VideoInfo) -> Option<Self> {
        let transfer = match info.colorimetry().transfer() {
            gst_video::VideoTransferFunction::Smpte2084 => Transfer::Pq,
            gst_video::VideoTransferFunction::AribStdB67 => Transfer::Hlg,
            _ => return None,
        };
        let s = caps.structure(0)?;
        let field = |name: &str| s.get::<String>(name).ok();
        Some(Self {
            transfer,
            mastering_display: field("mastering-display-info"),
            content_light: field("content-light-level"),
        })
    }

    /// The brightest the content gets, in nits: MaxCLL, else the mastering display's
    /// maximum luminance (stored in 0.0001 cd/m²), else [`DEFAULT_PEAK_NITS`]; HLG is
    /// relative to a 1000-nit display.
    pub fn peak_nits(&self) -> f32 {
        if self.transfer == Transfer::Hlg {
            return 1000.0;
        }
        let cll = self
            .content_light
            .as_deref()
            .and_then(|c| c.split(':').next()?.parse::<f32>().ok())
            .filter(|v| *v > 0.0);
        let mastering = self
            .mastering_display
            .as_deref()
            .and_then(|m| m.split(':').nth(8)?.parse::<f32>().ok())
            .map(|v| v / 10000.0)
            .filter(|v| *v > 0.0);
        cll.or(mastering).unwrap_or(DEFAULT_PEAK_NITS)
    }

    /// "PQ, BT.2020, mastered to 1000 nits" for the log.
    pub fn describe(&self) -> String {
        let mut s = format!("{} BT.2020", self.transfer.name());
        if self.mastering_display.is_some() || self.content_light.is_some() {
            s.push_str(&format!(", peak {:.0} nits", self.peak_nits()));
        }
        s
    }
}

// SMPTE ST 2084's constants.
const PQ_M1: f32 = 2610.0 / 16384.0;
const PQ_M2: f32 = 2523.0 / 4096.0 * 128.0;
const PQ_C1: f32 = 3424.0 / 4096.0;
const PQ_C2: f32 = 2413.0 / 4096.0 * 32.0;
const PQ_C3: f32 = 2392.0 / 4096.0 * 32.0;

/// PQ (ST 2084) code value 0..1 to nits.
pub fn pq_to_nits(e: f32) -> f32 {
    let p = e.clamp(0.0, 1.0).powf(1.0 / PQ_M2);
    10000.0 * ((p - PQ_C1).max(0.0) / (PQ_C2 - PQ_C3 * p)).powf(1.0 / PQ_M1)
}

/// Nits to a PQ code value 0..1 (the inverse EOTF; tests and test media).
pub fn nits_to_pq(nits: f32) -> f32 {
    let y = (nits / 10000.0).clamp(0.0, 1.0).powf(PQ_M1);
    ((PQ_C1 + PQ_C2 * y) / (1.0 + PQ_C3 * y)).powf(PQ_M2)
}

/// HLG code value 0..1 to scene light 0..1 (the inverse OETF).
pub fn hlg_to_scene(e: f32) -> f32 {
    const A: f32 = 0.178_832_77;
    const B: f32 = 0.284_668_92;
    const C: f32 = 0.559_910_7;
    let e = e.clamp(0.0, 1.0);
    if e <= 0.5 {
        e * e / 3.0
    } else {
        (((e - C) / A).exp() + B) / 12.0
    }
}

/// Linear BT.2020 RGB to linear BT.709 RGB (ITU-R BT.2087).
const BT2020_TO_BT709: [[f32; 3]; 3] = [
    [1.6605, -0.5876, -0.0728],
    [-0.1246, 1.1329, -0.0083],
    [-0.0182, -0.1006, 1.1187],
];

/// Where the tone curve starts to bend (SDR units: 1.0 is reference white).
const KNEE: f32 = 0.5;
/// Entries of the code-value-to-light table (interpolated).
const LINEAR_LUT: usize = 4096;
/// Entries of the light-to-8-bit table.
const ENCODE_LUT: usize = 4096;

/// Maps HDR frames to SDR BT.709 RGBA8 (see the module's description).
pub struct ToneMapper {
    transfer: Transfer,
    /// Code value (R', G' or B' in 0..1, LINEAR_LUT - 1 steps) to light, 1.0 = reference
    /// white (HLG: scene light, the OOTF comes per pixel).
    to_light: Vec<f32>,
    /// Light 0..1 (ENCODE_LUT - 1 steps) to 8-bit BT.1886 code values.
    encode: Vec<u8>,
    /// The peak in SDR units, minus the knee, over 1 minus the knee.
    shoulder: f32,
}

impl ToneMapper {
    pub fn new(hdr: &HdrInfo) -> Self {
        let to_light = (0..LINEAR_LUT)
            .map(|i| {
                let e = i as f32 / (LINEAR_LUT - 1) as f32;
                match hdr.transfer {
                    Transfer::Pq => pq_to_nits(e) / REFERENCE_WHITE_NITS,
                    Transfer::Hlg => hlg_to_scene(e),
                }
            })
            .collect();
        let encode = (0..ENCODE_LUT)
            .map(|i| {
                let l = i as f32 / (ENCODE_LUT - 1) as f32;
                (l.powf(1.0 / 2.4) * 255.0).round() as u8
            })
            .collect();
        let peak = hdr.peak_nits() / REFERENCE_WHITE_NITS;
        Self {
            transfer: hdr.transfer,
            to_light,
            encode,
            shoulder: ((peak - KNEE) / (1.0 - KNEE)).max(1.0),
        }
    }

    fn light(&self, e: f32) -> f32 {
        let x = e.clamp(0.0, 1.0) * (LINEAR_LUT - 1) as f32;
        let i = (x as usize).min(LINEAR_LUT - 2);
        let f = x - i as f32;
        self.to_light[i] + (self.to_light[i + 1] - self.to_light[i]) * f
    }

    /// The tone curve on the largest channel (SDR units in, 0..1 out).
    pub fn curve(&self, m: f32) -> f32 {
        if m <= KNEE {
            return m;
        }
        let w = self.shoulder;
        let t = (m - KNEE) / (1.0 - KNEE);
        (KNEE + (1.0 - KNEE) * t * (1.0 + t / (w * w)) / (1.0 + t)).min(1.0)
    }

    /// One pixel: R'G'B' code values (BT.2020, 0..1) to SDR BT.709 RGBA8.
    pub fn pixel(&self, rgb: [f32; 3]) -> [u8; 4] {
        let mut l = rgb.map(|e| self.light(e));
        if self.transfer == Transfer::Hlg {
            // BT.2100 OOTF for a 1000-nit display: Fd = Lw Ys^(1.2 - 1) E, in SDR units.
            let ys = 0.2627 * l[0] + 0.6780 * l[1] + 0.0593 * l[2];
            let gain = 1000.0 / REFERENCE_WHITE_NITS * ys.max(1e-6).powf(0.2);
            l = l.map(|v| v * gain);
        }
        let m = BT2020_TO_BT709.map(|r| (r[0] * l[0] + r[1] * l[1] + r[2] * l[2]).max(0.0));
        let top = m[0].max(m[1]).max(m[2]);
        let scale = if top > 1e-6 {
            self.curve(top) / top
        } else {
            1.0
        };
        let code = |v: f32| {
            let i = ((v * scale).clamp(0.0, 1.0) * (ENCODE_LUT - 1) as f32).round() as usize;
            self.encode[i]
        };
        [code(m[0]), code(m[1]), code(m[2]), 255]
    }

    /// A frame's pixels (`size`) to tightly packed SDR RGBA8 rows in `out`, on the CPU
    /// warp's worker threads.
    pub fn frame(&self, pixels: &FramePixels<'_>, size: (u32, u32), out: &mut Vec<u8>) {
        use rayon::prelude::*;
        let (w, h) = (size.0 as usize, size.1 as usize);
        out.resize(w * h * 4, 0);
        crate::cpu::workers().install(|| {
            out.par_chunks_mut(w * 4).enumerate().for_each(|(y, row)| {
                let mut codes = vec![[0f32; 3]; w];
                read_row(pixels, (w, h), y, &mut codes);
                for (px, rgb) in row.chunks_exact_mut(4).zip(&codes) {
                    px.copy_from_slice(&self.pixel(*rgb));
                }
            });
        });
        debug_assert_eq!(out.len(), w * h * 4);
    }
}

/// R'G'B' code values (0..1) of row `y`.
fn read_row(pixels: &FramePixels<'_>, (w, h): (usize, usize), y: usize, out: &mut [[f32; 3]]) {
    let u16_at =
        |plane: &[u8], i: usize| f32::from(u16::from_le_bytes([plane[2 * i], plane[2 * i + 1]]));
    match *pixels {
        FramePixels::Rgba { data, stride } => {
            let row = &data[y * stride as usize..];
            for (x, o) in out.iter_mut().enumerate() {
                *o = std::array::from_fn(|c| f32::from(row[4 * x + c]) / 255.0);
            }
        }
        FramePixels::I420 { planes, colours } => yuv_row(colours, (w, h), y, out, |p, x, row| {
            let (data, stride) = planes[p];
            f32::from(data[row * stride as usize + x])
        }),
        FramePixels::Nv12 { planes, colours } => yuv_row(colours, (w, h), y, out, |p, x, row| {
            let (data, stride) = planes[p.min(1)];
            let i = if p == 0 { x } else { 2 * x + p - 1 };
            f32::from(data[row * stride as usize + i])
        }),
        // 10-bit samples read as 8-bit code values with two fractional bits.
        FramePixels::I420Ten { planes, colours } => {
            yuv_row(colours, (w, h), y, out, |p, x, row| {
                let (data, stride) = planes[p];
                u16_at(&data[row * stride as usize..], x) / 4.0
            })
        }
        FramePixels::P010 { planes, colours } => yuv_row(colours, (w, h), y, out, |p, x, row| {
            let (data, stride) = planes[p.min(1)];
            let i = if p == 0 { x } else { 2 * x + p - 1 };
            u16_at(&data[row * stride as usize..], i) / 256.0
        }),
    }
}

/// One row of 4:2:0 Y'CbCr to R'G'B': `sample(plane, x, row)` gives a code value on the
/// 8-bit scale; chroma is interpolated from MPEG-2 siting (co-sited horizontally, between
/// rows vertically), as the warp's conversion does.
fn yuv_row(
    colours: YuvColours,
    (w, h): (usize, usize),
    y: usize,
    out: &mut [[f32; 3]],
    sample: impl Fn(usize, usize, usize) -> f32,
) {
    let rows = colours.matrix.to_rgb_rows(colours.full_range);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let cy = ((y as f32 + 0.5) / 2.0 - 0.5).max(0.0);
    let (r0, fy) = (cy.floor() as usize, cy.fract());
    let r1 = (r0 + 1).min(ch - 1);
    let chroma = |p: usize, cx: usize| {
        let cx = cx.min(cw - 1);
        sample(p, cx, r0) * (1.0 - fy) + sample(p, cx, r1) * fy
    };
    for (x, o) in out.iter_mut().enumerate() {
        let yv = sample(0, x, y);
        let (cb, cr) = if x % 2 == 0 {
            (chroma(1, x / 2), chroma(2, x / 2))
        } else {
            (
                0.5 * (chroma(1, x / 2) + chroma(1, x / 2 + 1)),
                0.5 * (chroma(2, x / 2) + chroma(2, x / 2 + 1)),
            )
        };
        *o = rows.map(|r| (r[0] * yv + r[1] * cb + r[2] * cr + r[3]).clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pq(peak: Option<&str>) -> HdrInfo {
        HdrInfo {
            transfer: Transfer::Pq,
            mastering_display: None,
            content_light: peak.map(str::to_owned),
        }
    }

    #[test]
    fn pq_known_values_and_round_trip() {
        // ST 2084: code 0.5081 is 100 nits, 0.7518 is 1000 nits, 1.0 is 10000.
        assert!((pq_to_nits(0.5081) - 100.0).abs() < 0.5);
        assert!((pq_to_nits(0.7518) - 1000.0).abs() < 3.0);
        assert!((pq_to_nits(1.0) - 10000.0).abs() < 1.0);
        for nits in [0.1f32, 5.0, 203.0, 4000.0] {
            assert!((pq_to_nits(nits_to_pq(nits)) / nits - 1.0).abs() < 1e-3);
        }
        assert!((hlg_to_scene(0.5) - 1.0 / 12.0).abs() < 1e-6);
        assert!((hlg_to_scene(1.0) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn the_curve_is_smooth_monotonic_and_reaches_white_at_the_peak() {
        let t = ToneMapper::new(&pq(Some("1000:400")));
        let peak = 1000.0 / REFERENCE_WHITE_NITS;
        assert!((t.curve(peak) - 1.0).abs() < 1e-4);
        assert_eq!(t.curve(0.3), 0.3);
        let mut last = 0.0;
        for i in 1..200 {
            let v = t.curve(i as f32 * peak / 199.0);
            assert!(v > last && v <= 1.0);
            last = v;
        }
        // Just above the knee the slope is still 1.
        assert!(((t.curve(KNEE + 1e-3) - KNEE) / 1e-3 - 1.0).abs() < 0.01);
    }

    #[test]
    fn reference_white_is_bright_grey_and_hues_stay() {
        let t = ToneMapper::new(&pq(None));
        let code = |nits: f32| nits_to_pq(nits);
        let white = t.pixel([code(203.0); 3]);
        let dim = t.pixel([code(10.0); 3]);
        let peak = t.pixel([code(1000.0); 3]);
        assert!(
            white[0] > 200 && white[0] == white[1] && white[1] == white[2],
            "{white:?}"
        );
        assert!(dim[0] < 100, "{dim:?}");
        assert_eq!(peak[0], 255);
        // A saturated BT.2020 red stays red, not pink or clipped white.
        let red = t.pixel([code(400.0), code(5.0), code(5.0)]);
        assert!(red[0] > 200 && red[1] < 80 && red[2] < 80, "{red:?}");
        // The peak from the mastering display when there is no MaxCLL.
        let m = HdrInfo {
            mastering_display: Some(
                "35400:14600:8500:39850:6550:2300:15635:16450:40000000:50".into(),
            ),
            ..pq(None)
        };
        assert_eq!(m.peak_nits(), 4000.0);
    }
}
