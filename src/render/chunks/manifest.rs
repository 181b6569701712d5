//! The work folder of a chunked render (`<output>.chunks/`): what the pieces are and the
//! settings they were rendered with (`manifest.json`), and one record per finished piece
//! (`piece-NNNNN.json`, written after its video, so a record always means a whole piece).
//! A piece is trusted again only when its file still has the size and the frame count its
//! record says (a parse to its last packet, no decoding).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::comfort::FrameFigures;
use crate::layout::Layout;
use crate::media::packet_count;
use crate::render::RenderJob;
use crate::stereo::DepthKind;

/// Bump when the folder's layout or the meaning of its files changes.
pub const VERSION: u32 = 1;

/// What the pieces of one chunked render are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// A digest of every setting that changes the pictures, and of the input file's
    /// identity (path, size, modification time).
    pub settings: String,
    pub input: PathBuf,
    pub output: PathBuf,
    pub layout: Layout,
    pub audio: bool,
    /// `--start`, in nanoseconds.
    pub start_nanos: u64,
    /// Index of the first frame rendered, and the nominal frame duration.
    pub first_frame: u64,
    pub frame_nanos: u64,
    /// Frames per piece (the last may have fewer), and how many pieces.
    pub piece_frames: u64,
    pub pieces: u64,
    /// For the comfort summary after the join.
    pub depth_kind: DepthKind,
    pub screen_width_m: f32,
    pub viewing_distance_m: f32,
}

/// A finished piece.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PieceRecord {
    pub index: u64,
    pub frames: u64,
    /// The piece file's size: a truncated or replaced file does not match.
    pub bytes: u64,
    /// Its first frame's timestamp and the end of its last, on the input's timeline.
    pub first_pts_nanos: u64,
    pub range_end_nanos: u64,
    pub output_size: (u32, u32),
    /// The frame width the comfort figures are in, and the figures.
    pub comfort_width: u32,
    pub comfort: Vec<FrameFigures>,
}

/// The work folder of `output`.
pub fn folder(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".chunks");
    output.with_file_name(name)
}

pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}

/// Piece `index` of a render into `output`: in the output's container, whose timing
/// precision the join then keeps exactly (Matroska keeps milliseconds, MP4 its track's
/// timescale).
pub fn piece_path(dir: &Path, index: u64, output: &Path) -> PathBuf {
    let ext = output
        .extension()
        .map_or("mkv".into(), |e| e.to_string_lossy().to_ascii_lowercase());
    dir.join(format!("piece-{index:05}.{ext}"))
}

pub fn record_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("piece-{index:05}.json"))
}

pub fn lock_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("piece-{index:05}.lock"))
}

pub fn join_lock_path(dir: &Path) -> PathBuf {
    dir.join("join.lock")
}

/// The digest of what makes `job`'s pictures what they are: every setting but where the
/// files go and how the work is split, and the input file's identity.
pub fn settings_digest(job: &RenderJob) -> String {
    let mut j = job.clone();
    j.output = PathBuf::new();
    j.report = None;
    j.trace = None;
    j.convergence_out = None;
    j.chunks = Default::default();
    j.preset = None;
    let meta = std::fs::metadata(&job.input).ok();
    let identity = meta.map(|m| {
        (
            m.len(),
            m.modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos()),
        )
    });
    let text = format!("{j:?} {identity:?}");
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(manifest_path(dir)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write_manifest(dir: &Path, m: &Manifest) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(m).expect("a manifest serialises");
    crate::fsutil::write_replacing(&manifest_path(dir), text)
}

pub fn write_record(dir: &Path, r: &PieceRecord) -> std::io::Result<()> {
    let text = serde_json::to_string(r).expect("a record serialises");
    crate::fsutil::write_replacing(&record_path(dir, r.index), text)
}

/// Why a piece cannot be used as it is.
#[derive(Clone, Debug, PartialEq)]
pub enum PieceState {
    Done(PieceRecord),
    Missing,
    /// Its file is gone, cut short or replaced since its record was written.
    Broken(String),
}

/// Piece `index`'s state: done only when its record, its file's size and the file's
/// frame count (every packet parsed, to the end of the file) agree.
pub fn check_piece(dir: &Path, index: u64, m: &Manifest) -> PieceState {
    let frame_nanos = m.frame_nanos;
    let Ok(text) = std::fs::read_to_string(record_path(dir, index)) else {
        return PieceState::Missing;
    };
    let Ok(record) = serde_json::from_str::<PieceRecord>(&text) else {
        return PieceState::Broken("its record cannot be read".into());
    };
    let path = piece_path(dir, index, &m.output);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if bytes != record.bytes {
        return PieceState::Broken(format!(
            "its file is {bytes} bytes where {} were written",
            record.bytes
        ));
    }
    match packet_count::count_packets(&path, Some(frame_nanos)) {
        Ok(Some(c)) if c.frames == record.frames => PieceState::Done(record),
        Ok(Some(c)) => PieceState::Broken(format!(
            "it holds {} frames where {} were written",
            c.frames, record.frames
        )),
        Ok(None) => PieceState::Broken("its frames cannot be counted".into()),
        Err(e) => PieceState::Broken(format!("it cannot be read ({e})")),
    }
}

/// Removes what an earlier run with other settings left (pieces, records, manifest).
pub fn clear(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ours = name.starts_with("piece-") || name == "manifest.json";
        if ours && !name.ends_with(".lock") {
            if !name.ends_with(".json") {
                removed += 1;
            }
            std::fs::remove_file(&path)?;
        }
    }
    Ok(removed)
}
