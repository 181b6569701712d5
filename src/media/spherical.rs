//! The Spherical Video V2 metadata of a VR180 MP4 or MOV (`--layout vr180`), which
//! GStreamer's muxers do not write: in the video track's sample entry, a stereo box
//! (`st3d`, left-right) and a spherical box (`sv3d`: `svhd` naming the writer, and `proj`
//! holding `prhd`, no rotation, and `equi`, an equirectangular projection cropped to the
//! front 180 degrees). YouTube and VR players read these.
//!
//! The boxes are added to the finished file's `moov`, which mp4mux and qtmux write after
//! the media: growing it moves nothing else, and the boxes around the sample entry grow
//! by the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Sample entries of the video codecs stereosplat writes.
const VIDEO_ENTRIES: [&[u8; 4]; 4] = [b"avc1", b"avc3", b"hvc1", b"hev1"];

/// Adds `st3d` and `sv3d` (VR180: left-right, equirectangular, 180 degrees) to the video
/// sample entry of the MP4 or MOV at `path`.
pub fn add_vr180_boxes(path: &Path) -> io::Result<()> {
    let mut f = File::options().read(true).write(true).open(path)?;
    let end = f.seek(SeekFrom::End(0))?;
    let (at, len) = last_top_level(&mut f, end)?;
    if at + len != end {
        return Err(io::Error::other(
            "the moov box is not at the end of the file, so it cannot grow in place",
        ));
    }
    let mut moov = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut moov)?;
    let boxes = [st3d(), sv3d()].concat();
    const PATH: [&[u8; 4]; 5] = [b"trak", b"mdia", b"minf", b"stbl", b"stsd"];
    if !insert(&mut moov, 0, &PATH, &boxes)? {
        return Err(io::Error::other("no video sample entry in the moov box"));
    }
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&moov)?;
    Ok(())
}

/// The stereo video box: left and right side by side.
fn st3d() -> Vec<u8> {
    full_box(b"st3d", &[2])
}

/// The spherical video box: who wrote it, and the projection.
fn sv3d() -> Vec<u8> {
    let svhd = full_box(b"svhd", b"stereosplat\0");
    // No yaw, pitch or roll.
    let prhd = full_box(b"prhd", &[0; 12]);
    // Bounds as 0.32 fixed-point shares of the full 360 x 180 frame cropped from each
    // side: a quarter (90 degrees) left and right leaves the front 180 degrees.
    let quarter = 0x4000_0000u32.to_be_bytes();
    let equi = full_box(b"equi", &[[0; 4], [0; 4], quarter, quarter].concat());
    let proj = plain_box(b"proj", &[prhd, equi].concat());
    plain_box(b"sv3d", &[svhd, proj].concat())
}

fn plain_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// A box with a version (0) and flags (0) before `body`.
fn full_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    plain_box(kind, &[&[0u8; 4][..], body].concat())
}

/// The last top-level box: (offset, length); an error unless it is the moov.
fn last_top_level(f: &mut File, end: u64) -> io::Result<(u64, u64)> {
    let (mut at, mut last) = (0u64, None);
    while at + 8 <= end {
        let mut head = [0u8; 16];
        f.seek(SeekFrom::Start(at))?;
        let n = (end - at).min(16) as usize;
        f.read_exact(&mut head[..n])?;
        let (kind, _, len) = header(&head[..n], end - at)?;
        last = Some((at, len, kind));
        at += len;
    }
    match last {
        Some((at, len, kind)) if &kind == b"moov" => Ok((at, len)),
        _ => Err(io::Error::other("no moov box at the end of the file")),
    }
}

/// (type, header length, box length) of the box at the start of `bytes`, with `room`
/// bytes left in its parent.
fn header(bytes: &[u8], room: u64) -> io::Result<([u8; 4], usize, u64)> {
    let bad = || io::Error::other("a box header is cut short or does not fit its parent");
    let size = u32::from_be_bytes(bytes.get(0..4).ok_or_else(bad)?.try_into().unwrap());
    let kind: [u8; 4] = bytes.get(4..8).ok_or_else(bad)?.try_into().unwrap();
    let (header, len) = match size {
        0 => (8, room),
        1 => (
            16,
            u64::from_be_bytes(bytes.get(8..16).ok_or_else(bad)?.try_into().unwrap()),
        ),
        n => (8, u64::from(n)),
    };
    if len < header as u64 || len > room {
        return Err(bad());
    }
    Ok((kind, header, len))
}

/// Adds `by` to the size of the box at `at`.
fn grow(buf: &mut [u8], at: usize, by: usize) {
    let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
    if size == 1 {
        let big = u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap()) + by as u64;
        buf[at + 8..at + 16].copy_from_slice(&big.to_be_bytes());
    } else if size != 0 {
        buf[at..at + 4].copy_from_slice(&(size + by as u32).to_be_bytes());
    }
}

/// Inserts `data` at the end of the first video sample entry found along `path` below
/// the box at `at`, growing every box on the way; false when there is none.
fn insert(buf: &mut Vec<u8>, at: usize, path: &[&[u8; 4]], data: &[u8]) -> io::Result<bool> {
    let (kind, hdr, len) = header(&buf[at..], (buf.len() - at) as u64)?;
    let end = at + len as usize;
    let is_entry = VIDEO_ENTRIES.contains(&&kind);
    if path.is_empty() && is_entry {
        buf.splice(end..end, data.iter().copied());
        grow(buf, at, data.len());
        return Ok(true);
    }
    // stsd is a full box with an entry count before its entries.
    let mut from = at + hdr + if &kind == b"stsd" { 8 } else { 0 };
    while from + 8 <= end {
        let (child, _, child_len) = header(&buf[from..end], (end - from) as u64)?;
        let wanted = match path.first() {
            Some(next) => &child == *next,
            None => false,
        };
        if wanted || (path.is_empty() && VIDEO_ENTRIES.contains(&&child)) {
            let rest = if wanted { &path[1..] } else { path };
            if insert(buf, from, rest, data)? {
                grow(buf, at, data.len());
                return Ok(true);
            }
        }
        from += child_len as usize;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boxes_go_into_the_video_entry_and_every_parent_grows() {
        let entry = |kind: &[u8; 4]| plain_box(kind, &[0; 86 - 8]);
        let stsd = |e: Vec<u8>| full_box(b"stsd", &[&1u32.to_be_bytes()[..], &e].concat());
        let trak = |e: Vec<u8>| {
            let stbl = plain_box(b"stbl", &stsd(e));
            let minf = plain_box(b"minf", &stbl);
            let mdia = plain_box(b"mdia", &minf);
            plain_box(b"trak", &mdia)
        };
        let moov = plain_box(
            b"moov",
            &[trak(entry(b"mp4a")), trak(entry(b"avc1"))].concat(),
        );
        let mut buf = moov.clone();
        let data = [st3d(), sv3d()].concat();
        assert!(
            insert(
                &mut buf,
                0,
                &[b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
                &data
            )
            .unwrap()
        );
        assert_eq!(buf.len(), moov.len() + data.len());
        assert_eq!(
            u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize,
            buf.len()
        );
        // The audio track is untouched; the video entry ends with the boxes.
        let audio_len = trak(entry(b"mp4a")).len();
        assert_eq!(&buf[8..8 + audio_len], &moov[8..8 + audio_len]);
        assert!(buf.ends_with(&data));
        let st = buf.windows(4).position(|w| w == b"st3d").unwrap();
        assert_eq!(buf[st + 8], 2, "left-right");
    }
}
