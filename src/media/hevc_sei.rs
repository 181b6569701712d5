//! The frame-packing arrangement SEI for H.265 streams. x264 writes this message itself
//! (`frame-packing`), and YouTube, TVs and players detect 3D from it. x265 and the
//! hardware H.265 encoders have no such option, so a pad probe on the encoder's output
//! puts one prefix SEI NAL unit before the first slice of every key frame (ITU-T H.265
//! D.2.16 and D.3.16; the message persists until the next key frame repeats it).

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::layout::Layout;

/// The packing of a stereo layout: (frame_packing_arrangement_type, whether the right
/// view is frame 0). None for layouts that are not a packed stereo pair.
fn packing(layout: Layout) -> Option<(u8, bool)> {
    match layout {
        Layout::Sbs | Layout::HalfSbs => Some((3, false)),
        Layout::Cross | Layout::HalfCross => Some((3, true)),
        Layout::Tb | Layout::HalfTb => Some((4, false)),
        _ => None,
    }
}

/// Writes bits most significant first.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            let last = self.bytes.last_mut().expect("pushed above");
            *last |= bit << (7 - self.used % 8);
            self.used += 1;
        }
    }
}

/// The SEI NAL unit (with its 4-byte start code) that marks a stream as `layout`, or
/// None when the layout is not a stereo pair.
pub fn frame_packing_nal(layout: Layout) -> Option<Vec<u8>> {
    let (kind, right_first) = packing(layout)?;
    let mut b = Bits::default();
    b.put(1, 1); // frame_packing_arrangement_id = 0, as ue(v)
    b.put(0, 1); // frame_packing_arrangement_cancel_flag
    b.put(u32::from(kind), 7);
    b.put(0, 1); // quincunx_sampling_flag
    // content_interpretation_type: 1 = frame 0 is the left view, 2 = the right view.
    b.put(if right_first { 2 } else { 1 }, 6);
    // spatial_flipping, frame0_flipped, field_views, current_frame_is_frame0,
    // frame0_self_contained, frame1_self_contained
    b.put(0, 6);
    b.put(0, 16); // the four grid positions (no quincunx sampling, type != 5)
    b.put(0, 8); // frame_packing_arrangement_reserved_byte
    b.put(1, 1); // frame_packing_arrangement_persistence_flag
    b.put(0, 1); // upsampled_aspect_ratio_flag
    debug_assert!(b.used.is_multiple_of(8));
    let payload = b.bytes;
    // sei_message: payloadType 45, payloadSize, payload; then rbsp_trailing_bits.
    let mut rbsp = vec![45u8, payload.len() as u8];
    rbsp.extend_from_slice(&payload);
    rbsp.push(0x80);
    // NAL header: forbidden 0, nal_unit_type 39 (prefix SEI), layer 0, temporal id 0 + 1.
    let mut nal = vec![0, 0, 0, 1, 39 << 1, 1];
    nal.extend(escape(&rbsp));
    Some(nal)
}

/// Emulation prevention: a 0x03 after any two zero bytes followed by a byte <= 3.
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + 4);
    let mut zeros = 0;
    for &byte in rbsp {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// Offset of the start code of the first slice (VCL NAL unit, types 0..=31) in an H.265
/// byte-stream access unit.
fn first_slice(au: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            let start = if i > 0 && au[i - 1] == 0 { i - 1 } else { i };
            let nal_type = (au[i + 3] >> 1) & 0x3f;
            if nal_type <= 31 {
                return Some(start);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// Adds the SEI to every key frame leaving `encoder` (an H.265 encoder with byte-stream
/// output), for a stereo `layout`; does nothing for other layouts.
pub fn mark_stereo(encoder: &gst::Element, layout: Layout) {
    let Some(nal) = frame_packing_nal(layout) else {
        return;
    };
    let Some(pad) = encoder.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(gst::PadProbeData::Buffer(ref mut buffer)) = info.data else {
            return gst::PadProbeReturn::Ok;
        };
        if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            return gst::PadProbeReturn::Ok;
        }
        let with_sei = {
            let Ok(map) = buffer.map_readable() else {
                return gst::PadProbeReturn::Ok;
            };
            let Some(at) = first_slice(&map) else {
                return gst::PadProbeReturn::Ok;
            };
            let mut out = Vec::with_capacity(map.len() + nal.len());
            out.extend_from_slice(&map[..at]);
            out.extend_from_slice(&nal);
            out.extend_from_slice(&map[at..]);
            out
        };
        let mut new = gst::Buffer::from_mut_slice(with_sei);
        {
            let b = new.get_mut().expect("a new buffer is ours alone");
            b.set_pts(buffer.pts());
            b.set_dts(buffer.dts());
            b.set_duration(buffer.duration());
            b.set_flags(buffer.flags());
        }
        *buffer = new;
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_message_bits() {
        let nal = frame_packing_nal(Layout::Sbs).unwrap();
        // start code, NAL header (type 39), payload type 45, size 6, then the bits
        // id ue(0) = 1, cancel 0, type 3 = 0000011, quincunx 0, content 000001 (left
        // first), six flags, 16 grid bits, 8 reserved, persistence 1, upsampled 0:
        // 1000 0001 | 1000 0001 | 0 x 30 | 10, with emulation prevention in the zeros.
        assert_eq!(
            nal,
            [
                0, 0, 0, 1, 0x4e, 0x01, 45, 6, 0x81, 0x81, 0x00, 0x00, 0x03, 0x00, 0x02, 0x80
            ]
        );
        let tb = frame_packing_nal(Layout::HalfTb).unwrap();
        assert_eq!(tb[8..10], [0x82, 0x01], "type 4: top-bottom");
        let cross = frame_packing_nal(Layout::Cross).unwrap();
        assert_eq!(
            cross[8..10],
            [0x81, 0x82],
            "content 2: the right view is frame 0"
        );
        assert!(frame_packing_nal(Layout::Anaglyph).is_none());
    }

    #[test]
    fn escapes_and_finds_the_first_slice() {
        assert_eq!(escape(&[0, 0, 1, 0, 0, 0, 0]), [0, 0, 3, 1, 0, 0, 3, 0, 0]);
        // AUD (35), VPS (32), then an IDR slice (19) after a 3-byte start code.
        let au = [
            0,
            0,
            0,
            1,
            35 << 1,
            1,
            0x50,
            0,
            0,
            0,
            1,
            32 << 1,
            1,
            9,
            0,
            0,
            1,
            19 << 1,
            1,
            7,
        ];
        assert_eq!(first_slice(&au), Some(14));
        assert_eq!(first_slice(&au[..14]), None);
    }
}
