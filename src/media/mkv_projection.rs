//! The Matroska Projection element of a VR180 `.mkv` (`--layout vr180`), which
//! matroskamux does not write: in the video track's Video element, ProjectionType 1
//! (equirectangular) and ProjectionPrivate holding what an ISOBMFF `equi` box holds
//! (version and flags, then the bounds cropped from the 360 x 180 frame: a quarter left
//! and right, so the front 180 degrees). With StereoMode 1 (side by side, left first),
//! players and YouTube read the file as VR180.
//!
//! matroskamux leaves no room in the track header, so the element grows the Tracks
//! element and moves everything after it: the file is written anew beside itself, the
//! head (up to the first Cluster) rebuilt, the Clusters copied as they are, and every
//! position that points past the insertion (the SeekHead's SeekPosition, the Cues'
//! CueClusterPosition, a Cluster's own Position) moved by the same bytes.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_POSITION: u32 = 0x53AC;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const VIDEO: u32 = 0xE0;
const PROJECTION: u32 = 0x7670;
const PROJECTION_TYPE: u32 = 0x7671;
const PROJECTION_PRIVATE: u32 = 0x7672;
const CLUSTER: u32 = 0x1F43_B675;
const CLUSTER_POSITION: u32 = 0xA7;
const CUES: u32 = 0x1C53_BB6B;
const CUE_CLUSTER_POSITION: u32 = 0xF1;
/// Masters whose children the rewrite walks into.
const MASTERS: [u32; 9] = [
    SEEK_HEAD,
    SEEK,
    TRACKS,
    TRACK_ENTRY,
    VIDEO,
    PROJECTION,
    CUES,
    0xBB, // CuePoint
    0xB7, // CueTrackPositions
];

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Matroska: {what}"))
}

/// An element ID (with its length marker, as IDs are written) and its length in bytes.
fn read_id(b: &[u8]) -> io::Result<(u32, usize)> {
    let first = *b.first().ok_or_else(|| bad("cut short"))?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 || b.len() < len {
        return Err(bad("bad element ID"));
    }
    Ok((
        b[..len].iter().fold(0, |v, &x| (v << 8) | u32::from(x)),
        len,
    ))
}

/// A size: (value, length in bytes); None as the value for "unknown".
fn read_size(b: &[u8]) -> io::Result<(Option<u64>, usize)> {
    let first = *b.first().ok_or_else(|| bad("cut short"))?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || b.len() < len {
        return Err(bad("bad element size"));
    }
    let mut v = u64::from(first) & (0xFF >> len);
    for &x in &b[1..len] {
        v = (v << 8) | u64::from(x);
    }
    let unknown = v == (1u64 << (7 * len)) - 1;
    Ok(((!unknown).then_some(v), len))
}

/// `v` as a size of exactly `len` bytes (the width the muxer chose), or wider when it
/// does not fit.
fn write_size(v: u64, len: usize) -> Vec<u8> {
    let need = (1..=8).find(|&l| v < (1u64 << (7 * l)) - 1).unwrap_or(8);
    let len = len.max(need);
    let mut out = v.to_be_bytes()[8 - len..].to_vec();
    out[0] |= 0x80 >> (len - 1);
    out
}

fn write_id(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    bytes[skip..].to_vec()
}

/// An element parsed from memory: a master's children, or its data.
#[derive(Clone, Debug)]
struct Node {
    id: u32,
    size_len: usize,
    body: Body,
}

#[derive(Clone, Debug)]
enum Body {
    Data(Vec<u8>),
    Children(Vec<Node>),
}

fn parse(b: &[u8]) -> io::Result<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (id, il) = read_id(&b[i..])?;
        let (size, sl) = read_size(&b[i + il..])?;
        let size = size.ok_or_else(|| bad("unknown size inside the head"))? as usize;
        let data = i + il + sl;
        let body = b
            .get(data..data + size)
            .ok_or_else(|| bad("element past its parent"))?;
        nodes.push(Node {
            id,
            size_len: sl,
            body: if MASTERS.contains(&id) {
                Body::Children(parse(body)?)
            } else {
                Body::Data(body.to_vec())
            },
        });
        i = data + size;
    }
    Ok(nodes)
}

impl Node {
    fn data(id: u32, data: Vec<u8>) -> Self {
        Node {
            id,
            size_len: 1,
            body: Body::Data(data),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let body = match &self.body {
            Body::Data(d) => d.clone(),
            Body::Children(c) => c.iter().flat_map(Node::bytes).collect(),
        };
        [
            write_id(self.id),
            write_size(body.len() as u64, self.size_len),
            body,
        ]
        .concat()
    }

    fn children_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.body {
            Body::Children(c) => Some(c),
            Body::Data(_) => None,
        }
    }

    fn uint(&self) -> Option<u64> {
        match &self.body {
            Body::Data(d) if d.len() <= 8 => {
                Some(d.iter().fold(0, |v, &x| (v << 8) | u64::from(x)))
            }
            _ => None,
        }
    }

    /// Sets an unsigned integer's value, keeping its width when it fits.
    fn set_uint(&mut self, v: u64) {
        let old = match &self.body {
            Body::Data(d) => d.len(),
            Body::Children(_) => 0,
        };
        let need = (1..=8)
            .find(|&l| l == 8 || v < 1u64 << (8 * l))
            .unwrap_or(8);
        let len = old.max(need);
        self.body = Body::Data(v.to_be_bytes()[8 - len..].to_vec());
    }

    /// Every descendant with `id`, depth first.
    fn visit(&mut self, id: u32, f: &mut dyn FnMut(&mut Node)) {
        if self.id == id {
            f(self);
        }
        if let Some(children) = self.children_mut() {
            for c in children {
                c.visit(id, f);
            }
        }
    }
}

/// The Projection element of a VR180 video track.
fn projection() -> Node {
    let quarter = 0x4000_0000u32.to_be_bytes();
    let equi = [[0; 4], [0; 4], [0; 4], quarter, quarter].concat();
    Node {
        id: PROJECTION,
        size_len: 1,
        body: Body::Children(vec![
            Node::data(PROJECTION_TYPE, vec![1]),
            Node::data(PROJECTION_PRIVATE, equi),
        ]),
    }
}

/// Adds the VR180 Projection element to the video track of the Matroska file at `path`.
pub fn add_vr180_projection(path: &Path) -> io::Result<()> {
    let mut src = BufReader::new(File::open(path)?);
    let file_len = src.seek(SeekFrom::End(0))?;
    src.seek(SeekFrom::Start(0))?;
    // The EBML header, then the Segment's header.
    let mut head = vec![0u8; 64.min(file_len as usize)];
    src.read_exact(&mut head)?;
    let (id, il) = read_id(&head)?;
    let (ebml_size, sl) = read_size(&head[il..])?;
    let segment_at = il + sl + ebml_size.ok_or_else(|| bad("unknown EBML header size"))? as usize;
    let (seg_id, seg_il) = read_id(&head[segment_at..])?;
    if id != 0x1A45_DFA3 || seg_id != SEGMENT {
        return Err(bad("not a Matroska file"));
    }
    let (seg_size, seg_sl) = read_size(&head[segment_at + seg_il..])?;
    let data_start = (segment_at + seg_il + seg_sl) as u64;
    // The Segment's children up to the first Cluster, with their places in the file.
    let mut tops: Vec<(u32, u64, u64)> = Vec::new(); // (id, start, end)
    let mut at = data_start;
    let segment_end = seg_size.map_or(file_len, |s| data_start + s);
    while at < segment_end {
        let mut h = [0u8; 12];
        src.seek(SeekFrom::Start(at))?;
        let n = src.read(&mut h)?;
        let (id, il) = read_id(&h[..n])?;
        let (size, sl) = read_size(&h[il..n])?;
        let end = match size {
            Some(s) => at + (il + sl) as u64 + s,
            // Only a last Cluster may run to the end unsized.
            None => segment_end,
        };
        tops.push((id, at, end));
        at = end;
    }
    let first_cluster = tops
        .iter()
        .position(|t| t.0 == CLUSTER)
        .unwrap_or(tops.len());
    let tracks_at = tops
        .iter()
        .find(|t| t.0 == TRACKS)
        .map(|t| t.1)
        .ok_or_else(|| bad("no Tracks element"))?;
    let read_range = |src: &mut BufReader<File>, (s, e): (u64, u64)| -> io::Result<Vec<u8>> {
        let mut b = vec![0u8; (e - s) as usize];
        src.seek(SeekFrom::Start(s))?;
        src.read_exact(&mut b)?;
        Ok(b)
    };
    // The head as nodes; the projection goes into the video track.
    let mut head_nodes = Vec::new();
    for t in &tops[..first_cluster] {
        head_nodes.extend(parse(&read_range(&mut src, (t.1, t.2))?)?);
    }
    let old_head_len: u64 = tops[..first_cluster].iter().map(|t| t.2 - t.1).sum();
    let mut added = false;
    for n in head_nodes.iter_mut().filter(|n| n.id == TRACKS) {
        n.visit(TRACK_ENTRY, &mut |entry| {
            let Some(children) = entry.children_mut() else {
                return;
            };
            let video = children
                .iter()
                .any(|c| c.id == TRACK_TYPE && c.uint() == Some(1));
            if !video {
                return;
            }
            for c in children.iter_mut().filter(|c| c.id == VIDEO) {
                if let Some(v) = c.children_mut() {
                    v.retain(|p| p.id != PROJECTION);
                    v.push(projection());
                    added = true;
                }
            }
        });
    }
    if !added {
        return Err(bad("no Video element in a video track"));
    }
    // Where each old position lands: the head grows after the Tracks, the Cues may grow
    // after themselves. Positions are relative to the Segment's data.
    let head_len = |nodes: &[Node]| nodes.iter().map(|n| n.bytes().len() as u64).sum::<u64>();
    let cues = tops.iter().find(|t| t.0 == CUES).copied();
    let mut cue_nodes = match cues {
        Some(c) => parse(&read_range(&mut src, (c.1, c.2))?)?,
        None => Vec::new(),
    };
    // Two rounds: new SeekPosition values may widen the SeekHead, which moves the rest.
    let mut head_delta = 0i64;
    let mut cues_delta = 0i64;
    for _ in 0..3 {
        let moved = |pos: u64| -> u64 {
            let abs = data_start + pos;
            let mut p = pos as i64;
            if abs > tracks_at {
                p += head_delta;
            }
            if cues.is_some_and(|c| abs > c.1) {
                p += cues_delta;
            }
            p as u64
        };
        let mut seek_nodes = head_nodes.clone();
        for n in seek_nodes.iter_mut().filter(|n| n.id == SEEK_HEAD) {
            n.visit(SEEK_POSITION, &mut |p| {
                if let Some(v) = p.uint() {
                    p.set_uint(moved(v));
                }
            });
        }
        let mut new_cues = cue_nodes.clone();
        for n in &mut new_cues {
            n.visit(CUE_CLUSTER_POSITION, &mut |p| {
                if let Some(v) = p.uint() {
                    p.set_uint(moved(v));
                }
            });
        }
        // matroskamux writes 8-byte positions, so the SeekHead keeps its size and only
        // what follows the Tracks moves.
        let seek_len = |nodes: &[Node]| {
            nodes
                .iter()
                .filter(|n| n.id == SEEK_HEAD)
                .map(|n| n.bytes().len())
                .sum::<usize>()
        };
        if seek_len(&seek_nodes) != seek_len(&head_nodes) {
            return Err(bad("the SeekHead would have to grow"));
        }
        let new_head_delta = head_len(&seek_nodes) as i64 - old_head_len as i64;
        let new_cues_delta = match cues {
            Some(c) => head_len(&new_cues) as i64 - (c.2 - c.1) as i64,
            None => 0,
        };
        if new_head_delta == head_delta && new_cues_delta == cues_delta {
            head_nodes = seek_nodes;
            cue_nodes = new_cues;
            break;
        }
        head_delta = new_head_delta;
        cues_delta = new_cues_delta;
    }
    // Write the new file beside the old one, then replace it.
    let tmp = crate::fsutil::temp_path_for(path);
    let result = (|| -> io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        src.seek(SeekFrom::Start(0))?;
        let mut prefix = vec![0u8; segment_at + seg_il];
        src.read_exact(&mut prefix)?;
        out.write_all(&prefix)?;
        let new_size = seg_size.map(|s| (s as i64 + head_delta + cues_delta) as u64);
        match new_size {
            Some(s) => out.write_all(&write_size(s, seg_sl))?,
            None => out.write_all(&head[segment_at + seg_il..segment_at + seg_il + seg_sl])?,
        }
        for n in &head_nodes {
            out.write_all(&n.bytes())?;
        }
        for t in &tops[first_cluster..] {
            if Some(*t) == cues {
                for n in &cue_nodes {
                    out.write_all(&n.bytes())?;
                }
            } else if t.0 == CLUSTER {
                copy_cluster(&mut src, &mut out, *t, head_delta)?;
            } else {
                src.seek(SeekFrom::Start(t.1))?;
                io::copy(&mut (&mut src).take(t.2 - t.1), &mut out)?;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies one Cluster, moving its own Position element (if the muxer wrote one) by
/// `delta`: the element keeps its width, so the Cluster keeps its size.
fn copy_cluster(
    src: &mut BufReader<File>,
    out: &mut impl Write,
    (_, start, end): (u32, u64, u64),
    delta: i64,
) -> io::Result<()> {
    src.seek(SeekFrom::Start(start))?;
    let mut h = vec![0u8; (end - start).min(64) as usize];
    src.read_exact(&mut h)?;
    let (_, il) = read_id(&h)?;
    let (_, sl) = read_size(&h[il..])?;
    let mut i = il + sl;
    // Position comes before the first block, among the Cluster's first children.
    while i + 2 < h.len() {
        let Ok((id, cil)) = read_id(&h[i..]) else {
            break;
        };
        let Ok((Some(size), csl)) = read_size(&h[i + cil..]) else {
            break;
        };
        let data = i + cil + csl;
        if id == CLUSTER_POSITION && data + size as usize <= h.len() {
            let old = h[data..data + size as usize]
                .iter()
                .fold(0u64, |v, &x| (v << 8) | u64::from(x));
            let new = (old as i64 + delta) as u64;
            if size < 8 && new >= 1u64 << (8 * size) {
                return Err(bad("a Cluster's Position no longer fits its width"));
            }
            h[data..data + size as usize].copy_from_slice(&new.to_be_bytes()[8 - size as usize..]);
            break;
        }
        if matches!(id, 0xA3 | 0xA0) {
            break;
        }
        i = data + size as usize;
    }
    out.write_all(&h)?;
    io::copy(&mut (&mut *src).take(end - start - h.len() as u64), out)?;
    Ok(())
}

/// The Projection of the first video track of a Matroska file's bytes: (ProjectionType,
/// ProjectionPrivate), for tests and checks.
pub fn read_projection(file: &[u8]) -> io::Result<Option<(u64, Vec<u8>)>> {
    let (_, il) = read_id(file)?;
    let (size, sl) = read_size(&file[il..])?;
    let seg = il + sl + size.ok_or_else(|| bad("unknown EBML header size"))? as usize;
    let (_, sil) = read_id(&file[seg..])?;
    let (_, ssl) = read_size(&file[seg + sil..])?;
    let mut i = seg + sil + ssl;
    while i < file.len() {
        let (id, cil) = read_id(&file[i..])?;
        let (size, csl) = read_size(&file[i + cil..])?;
        let data = i + cil + csl;
        let Some(size) = size else { break };
        if id == TRACKS {
            let mut nodes = parse(&file[data..data + size as usize])?;
            let mut found = None;
            for n in &mut nodes {
                n.visit(PROJECTION, &mut |p| {
                    if found.is_some() {
                        return;
                    }
                    if let Body::Children(c) = &p.body {
                        let kind = c
                            .iter()
                            .find(|x| x.id == PROJECTION_TYPE)
                            .and_then(Node::uint);
                        let private = c.iter().find_map(|x| match (&x.body, x.id) {
                            (Body::Data(d), PROJECTION_PRIVATE) => Some(d.clone()),
                            _ => None,
                        });
                        found = kind.map(|k| (k, private.unwrap_or_default()));
                    }
                });
            }
            return Ok(found);
        }
        i = data + size as usize;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_their_width_and_grow_when_they_must() {
        assert_eq!(write_size(5, 1), vec![0x85]);
        assert_eq!(write_size(5, 8), vec![0x01, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(write_size(200, 1), vec![0x40, 200]);
        assert_eq!(read_size(&write_size(70000, 2)).unwrap(), (Some(70000), 3));
        assert_eq!(read_size(&[0xFF]).unwrap(), (None, 1));
        let mut n = Node::data(CUE_CLUSTER_POSITION, vec![0xFF, 0xF0]);
        n.set_uint(0xFFF0 + 40);
        assert_eq!(n.uint(), Some(0x1_0018));
        n.set_uint(7);
        assert_eq!(n.bytes(), vec![0xF1, 0x83, 0, 0, 7]);
    }

    #[test]
    fn the_projection_is_equirectangular_cropped_to_the_front_half() {
        let p = projection().bytes();
        let nodes = parse(&p).unwrap();
        let Body::Children(c) = &nodes[0].body else {
            panic!("a master");
        };
        assert_eq!(c[0].uint(), Some(1));
        let Body::Data(equi) = &c[1].body else {
            panic!("data");
        };
        assert_eq!(equi.len(), 20);
        assert_eq!(&equi[12..16], &0x4000_0000u32.to_be_bytes());
    }
}
