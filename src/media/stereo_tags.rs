//! Stereo metadata that GStreamer's muxers write wrong or cannot write, mended in the
//! finished file before it gets its final name. Each fix rewrites bytes in place, so
//! nothing else in the file moves.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Rewrites the value of the first Matroska StereoMode element (ID 0x53B8, one-byte
/// value) in place. matroskamux writes it from caps, but GStreamer has no multiview mode
/// for anaglyph or right-first side by side, so those are written as side by side and
/// corrected here.
pub fn set_matroska_stereo_mode(path: &Path, mode: u8) -> io::Result<()> {
    let mut f = File::options().read(true).write(true).open(path)?;
    let mut head = vec![0u8; 64 * 1024];
    let n = f.read(&mut head)?;
    head.truncate(n);
    let at = find_stereo_mode(&head)
        .ok_or_else(|| io::Error::other("no StereoMode element in the track header"))?;
    if head[at] != mode {
        f.seek(SeekFrom::Start(at as u64))?;
        f.write_all(&[mode])?;
    }
    Ok(())
}

/// Offset of the value byte of the first StereoMode element in `bytes`.
pub fn find_stereo_mode(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w[0] == 0x53 && w[1] == 0xB8 && w[2] == 0x81)
        .map(|i| i + 3)
}

/// Sets the `is_left_first` bit of every stereo video information box ('svmi', ISO/IEC
/// 23000-11, in a track's sample table) of an MP4 or QuickTime file. Returns how many
/// boxes there were.
///
/// GStreamer 1.22's mp4mux and qtmux write that box for side-by-side H.264 (x264's
/// frame-packing SEI puts side-by-side in the caps; they write none for top-bottom) but
/// set the bit from the caps' right-view-first flag, which is its inverse. Left alone, every side-by-side MP4 would
/// tell qtdemux, and any reader that follows the standard, that the right view is on the
/// left, and the eyes would be swapped, against the SEI in the same stream.
pub fn set_mp4_left_first(path: &Path, left_first: bool) -> io::Result<usize> {
    let mut f = File::options().read(true).write(true).open(path)?;
    let Some((moov_at, moov_len)) = find_top_level(&mut f, *b"moov")? else {
        return Err(io::Error::other("no moov box"));
    };
    // A moov holds sample tables; even a feature film's is a few tens of MiB.
    if moov_len > 512 << 20 {
        return Err(io::Error::other("the moov box is implausibly large"));
    }
    let mut moov = vec![0u8; moov_len as usize];
    f.seek(SeekFrom::Start(moov_at))?;
    f.read_exact(&mut moov)?;
    let flags = svmi_flag_offsets(&moov);
    for &at in &flags {
        let old = moov[at];
        let new = (old & !1) | u8::from(left_first);
        if new != old {
            f.seek(SeekFrom::Start(moov_at + at as u64))?;
            f.write_all(&[new])?;
        }
    }
    Ok(flags.len())
}

/// Offset and length of the first top-level box of type `kind`.
fn find_top_level(f: &mut File, kind: [u8; 4]) -> io::Result<Option<(u64, u64)>> {
    let end = f.seek(SeekFrom::End(0))?;
    let mut at = 0u64;
    while at + 8 <= end {
        let mut head = [0u8; 16];
        f.seek(SeekFrom::Start(at))?;
        let n = (end - at).min(16) as usize;
        f.read_exact(&mut head[..n])?;
        let Some(b) = parse_box_header(&head[..n], end - at) else {
            return Ok(None);
        };
        if b.kind == kind {
            return Ok(Some((at, b.len)));
        }
        at += b.len;
    }
    Ok(None)
}

struct BoxHeader {
    kind: [u8; 4],
    /// Header bytes: 8, or 16 with a 64-bit size.
    header: u64,
    /// Whole box, header included.
    len: u64,
}

/// The box starting at `bytes[0]`, with at most `room` bytes left in its parent; `None`
/// when the header is cut short or its size does not fit.
fn parse_box_header(bytes: &[u8], room: u64) -> Option<BoxHeader> {
    let size = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let (header, len) = match size {
        0 => (8, room), // to the end of the parent
        1 => (16, u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?)),
        n => (8, u64::from(n)),
    };
    (len >= header && len <= room).then_some(BoxHeader { kind, header, len })
}

/// Offsets, within `moov` (the whole moov box), of the byte holding each version-0
/// svmi box's is_left_first bit: moov / trak / mdia / minf / stbl / svmi.
pub fn svmi_flag_offsets(moov: &[u8]) -> Vec<usize> {
    const PATH: [&[u8; 4]; 5] = [b"trak", b"mdia", b"minf", b"stbl", b"svmi"];
    let mut found = Vec::new();
    let Some(top) = parse_box_header(moov, moov.len() as u64) else {
        return found;
    };
    walk(
        moov,
        top.header as usize,
        top.len as usize,
        &PATH,
        &mut found,
    );
    found
}

/// Looks for `path[0]` among the children in `bytes[from..to]`, then into each match for
/// the rest of the path. The last box is a full box: 4 bytes of version and flags, then
/// stereo_composition_type, then the byte whose low bit is is_left_first.
fn walk(bytes: &[u8], mut from: usize, to: usize, path: &[&[u8; 4]], found: &mut Vec<usize>) {
    while from + 8 <= to {
        let Some(b) = parse_box_header(&bytes[from..to], (to - from) as u64) else {
            return;
        };
        let (start, end) = (from + b.header as usize, from + b.len as usize);
        if &b.kind == path[0] {
            if path.len() > 1 {
                walk(bytes, start, end, &path[1..], found);
            } else if end >= start + 6 && bytes[start] == 0 {
                found.push(start + 5);
            }
        }
        from = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn svmi(left_first: u8) -> Vec<u8> {
        // version 0, flags 0, side by side, is_left_first, then a 32-bit count.
        boxed(b"svmi", &[0, 0, 0, 0, 0, left_first, 0, 0, 0, 0])
    }

    fn moov_with(stbl_children: &[Vec<u8>]) -> Vec<u8> {
        let stbl = boxed(b"stbl", &stbl_children.concat());
        let minf = boxed(b"minf", &[boxed(b"vmhd", &[0; 12]), stbl].concat());
        let mdia = boxed(b"mdia", &[boxed(b"mdhd", &[0; 24]), minf].concat());
        let trak = boxed(b"trak", &[boxed(b"tkhd", &[0; 84]), mdia].concat());
        boxed(b"moov", &[boxed(b"mvhd", &[0; 100]), trak].concat())
    }

    #[test]
    fn finds_the_flag_of_an_svmi_in_the_sample_table() {
        let moov = moov_with(&[boxed(b"stsd", &[0; 16]), svmi(0), boxed(b"stco", &[0; 8])]);
        let at = svmi_flag_offsets(&moov);
        assert_eq!(at.len(), 1);
        let svmi_at = moov.windows(4).position(|w| w == b"svmi").unwrap() - 4;
        assert_eq!(at[0], svmi_at + 8 + 5);
    }

    #[test]
    fn ignores_svmi_elsewhere_or_of_another_version_or_cut_short() {
        // An svmi outside a sample table (here in the moov itself) is not the stereo box.
        let stray = boxed(b"moov", &[svmi(0)].concat());
        assert!(svmi_flag_offsets(&stray).is_empty());
        let mut v1 = svmi(0);
        v1[8] = 1;
        assert!(svmi_flag_offsets(&moov_with(&[v1])).is_empty());
        assert!(svmi_flag_offsets(&moov_with(&[boxed(b"svmi", &[0, 0, 0])])).is_empty());
        // A size running past its parent ends the walk instead of reading beyond it.
        let mut bad = moov_with(&[svmi(0)]);
        let len = bad.len();
        bad[3] = bad[3].wrapping_add(40);
        assert!(svmi_flag_offsets(&bad).is_empty());
        assert_eq!(bad.len(), len);
    }

    #[test]
    fn follows_64_bit_sizes_boxes_to_the_end_and_every_track() {
        // The first trak's stbl in a box with a 64-bit size; a second trak; the moov's
        // last child sized 0 ("to the end of its parent").
        let moov = moov_with(&[svmi(0)]);
        let mut trak_a = moov[8..].to_vec(); // mvhd + trak
        let mvhd_len = 8 + 100;
        let trak_only = trak_a.split_off(mvhd_len);
        let mut wide = Vec::new();
        wide.extend_from_slice(&1u32.to_be_bytes());
        wide.extend_from_slice(b"trak");
        wide.extend_from_slice(&((trak_only.len() + 8) as u64).to_be_bytes());
        wide.extend_from_slice(&trak_only[8..]);
        let mut last = trak_only.clone();
        last[..4].copy_from_slice(&0u32.to_be_bytes());
        let body = [trak_a, wide, last].concat();
        let moov = boxed(b"moov", &body);
        let at = svmi_flag_offsets(&moov);
        assert_eq!(at.len(), 2, "both tracks' boxes");
        assert!(at.iter().all(|&i| moov[i - 5..i - 1] == [0, 0, 0, 0]));
    }

    #[test]
    fn sets_the_bit_in_a_file_and_leaves_the_rest() {
        let dir = std::env::temp_dir().join(format!("svmi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.mp4");
        let mdat = boxed(b"mdat", &[7; 64]);
        let file = [
            boxed(b"ftyp", b"isom\0\0\0\0"),
            mdat,
            moov_with(&[svmi(0x80)]),
        ]
        .concat();
        std::fs::write(&path, &file).unwrap();
        assert_eq!(set_mp4_left_first(&path, true).unwrap(), 1);
        let after = std::fs::read(&path).unwrap();
        let changed: Vec<usize> = (0..file.len()).filter(|&i| file[i] != after[i]).collect();
        assert_eq!(changed.len(), 1);
        // Only the flag bit moved; the reserved bits are kept.
        assert_eq!(after[changed[0]], 0x81);
        assert_eq!(set_mp4_left_first(&path, false).unwrap(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), file);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
