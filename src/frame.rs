//! Pixels between the stages: the layouts of decoded frames ([`FramePixels`]) and of the
//! encoder's I420 input ([`I420Layout`]), and the Y'CbCr matrices that relate them to
//! RGB ([`YuvMatrix`]). Decode, both warps and encode share these; none of them owns them.

/// Where the planes of an I420 frame lie in one buffer (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct I420Layout {
    pub size: (u32, u32),
    pub y_stride: u32,
    pub c_stride: u32,
    pub u_offset: u32,
    pub v_offset: u32,
    /// Bytes of the whole frame.
    pub len: u32,
}

impl I420Layout {
    /// GStreamer's default layout for I420 (`gst_video_info_set_format`): rows rounded up
    /// to 4 bytes, planes back to back. Both sides must be even.
    pub fn new(width: u32, height: u32) -> Self {
        let y_stride = width.next_multiple_of(4);
        let c_stride = width.div_ceil(2).next_multiple_of(4);
        let u_offset = y_stride * height;
        let c_len = c_stride * height.div_ceil(2);
        Self {
            size: (width, height),
            y_stride,
            c_stride,
            u_offset,
            v_offset: u_offset + c_len,
            len: u_offset + 2 * c_len,
        }
    }
}

/// Which Y'CbCr matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
    Bt2020,
}

impl YuvMatrix {
    /// GStreamer's default for a frame this tall (HD and up is BT.709); the encoder's caps
    /// name the same one, so players decode the colours back as they were.
    pub fn for_height(height: u32) -> Self {
        if height >= 720 {
            YuvMatrix::Bt709
        } else {
            YuvMatrix::Bt601
        }
    }

    /// GStreamer colorimetry name.
    pub fn colorimetry(self) -> &'static str {
        match self {
            YuvMatrix::Bt601 => "bt601",
            YuvMatrix::Bt709 => "bt709",
            YuvMatrix::Bt2020 => "bt2020",
        }
    }

    /// The luma weights of red and blue.
    fn kr_kb(self) -> (f32, f32) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
        }
    }

    /// Rows (weights, offset) mapping 8-bit Y, Cb, Cr code values to R'G'B' in 0..1, for
    /// limited (16..235, 16..240) or full (0..255) range.
    pub fn to_rgb_rows(self, full_range: bool) -> [[f32; 4]; 3] {
        let (kr, kb) = self.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y_scale, c_scale, y_offset) = if full_range {
            (1.0 / 255.0, 1.0 / 255.0, 0.0)
        } else {
            (1.0 / 219.0, 1.0 / 224.0, 16.0)
        };
        // R = Y' + 2 (1 - kr) Cr; B = Y' + 2 (1 - kb) Cb; G = (Y' - kr R - kb B) / kg,
        // with Y' = (Y - y_offset) y_scale and Cb, Cr = (C - 128) c_scale.
        let cr_r = 2.0 * (1.0 - kr) * c_scale;
        let cb_b = 2.0 * (1.0 - kb) * c_scale;
        let cb_g = -kb * cb_b / kg;
        let cr_g = -kr * cr_r / kg;
        let base = -y_offset * y_scale;
        [
            [y_scale, 0.0, cr_r, base - 128.0 * cr_r],
            [y_scale, cb_g, cr_g, base - 128.0 * (cb_g + cr_g)],
            [y_scale, cb_b, 0.0, base - 128.0 * cb_b],
        ]
    }

    /// Rows (weights, offset) mapping R'G'B' in 0..1 to 8-bit Y, Cb, Cr code values.
    pub fn rows(self) -> [[f32; 4]; 3] {
        let (kr, kb) = self.kr_kb();
        let kg = 1.0 - kr - kb;
        // Y' = kr R + kg G + kb B; Cb = (B - Y') / (2 (1 - kb)); Cr = (R - Y') / (2 (1 - kr)).
        let y = [kr, kg, kb];
        let cb_scale = 0.5 / (1.0 - kb);
        let cr_scale = 0.5 / (1.0 - kr);
        let cb = [-kr * cb_scale, -kg * cb_scale, (1.0 - kb) * cb_scale];
        let cr = [(1.0 - kr) * cr_scale, -kg * cr_scale, -kb * cr_scale];
        let row = |w: [f32; 3], range: f32, offset: f32| {
            [w[0] * range, w[1] * range, w[2] * range, offset]
        };
        [
            row(y, 219.0, 16.0),
            row(cb, 224.0, 128.0),
            row(cr, 224.0, 128.0),
        ]
    }
}

/// A decoded frame's pixels as GStreamer delivers them: RGBA rows, or the planes of
/// 4:2:0 video, which the warp converts to RGB (yuv_unpack.wgsl on the GPU,
/// `cpu::yuv_to_rgba` on the CPU).
pub enum FramePixels<'a> {
    Rgba {
        data: &'a [u8],
        stride: u32,
    },
    /// Y, U, V planes (data, bytes per row).
    I420 {
        planes: [(&'a [u8], u32); 3],
        colours: YuvColours,
    },
    /// Y plane and interleaved UV plane (hardware decoders' format).
    Nv12 {
        planes: [(&'a [u8], u32); 2],
        colours: YuvColours,
    },
    /// Y, U, V planes of 10-bit samples (little-endian u16, 0..1023; bytes per row).
    I420Ten {
        planes: [(&'a [u8], u32); 3],
        colours: YuvColours,
    },
    /// Y plane and interleaved UV plane of 10-bit samples in the top bits of
    /// little-endian u16s (P010: hardware decoders' 10-bit format).
    P010 {
        planes: [(&'a [u8], u32); 2],
        colours: YuvColours,
    },
}

/// How a Y'CbCr frame's code values map to R'G'B'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YuvColours {
    pub matrix: YuvMatrix,
    pub full_range: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(rows: &[[f32; 4]; 3], v: [f32; 3]) -> [f32; 3] {
        rows.map(|r| r[0] * v[0] + r[1] * v[1] + r[2] * v[2] + r[3])
    }

    #[test]
    fn to_rgb_inverts_the_encoder_matrix_and_honours_the_range() {
        for m in [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020] {
            for rgb in [
                [0.0, 0.0, 0.0],
                [1.0, 1.0, 1.0],
                [0.9, 0.2, 0.4],
                [0.1, 0.7, 0.3],
            ] {
                let back = apply(&m.to_rgb_rows(false), apply(&m.rows(), rgb));
                for c in 0..3 {
                    assert!((back[c] - rgb[c]).abs() < 1e-4, "{m:?} {rgb:?} -> {back:?}");
                }
            }
            let full = m.to_rgb_rows(true);
            let white = apply(&full, [255.0, 128.0, 128.0]);
            let black = apply(&full, [0.0, 128.0, 128.0]);
            assert!(white.iter().all(|v| (v - 1.0).abs() < 1e-4), "{white:?}");
            assert!(black.iter().all(|v| v.abs() < 1e-4), "{black:?}");
        }
    }
}
