//! Long renders in pieces (`render --chunk-seconds N`, the default above
//! [`AUTO_ABOVE_SECS`]): each piece of about N seconds is rendered on its own, from an
//! exact frame (the decoder seeks there; the piece's encoder starts with a key frame),
//! into `<output>.chunks/`, and the output is joined from the pieces without re-encoding,
//! with the source audio copied once, whole (`media::encode::Joiner`).
//!
//! - Resume: a rerun of the same command reuses every piece whose record, size and frame
//!   count agree (see [`manifest`]) and renders the rest; pieces of other settings are
//!   discarded. A crash loses at most the piece in progress.
//! - Workers: `--chunk-worker I/N` renders the pieces `k` with `k mod N = I`. Every piece
//!   is claimed with an exclusive lock on its lock file while it renders (released by the
//!   system if the process dies), so two processes never render one piece at once; the
//!   process that finds every piece done joins them, under another lock, and
//!   `stereosplat join OUTPUT` joins them by hand.
//! - Depth: found or estimated once, for the whole range, before any piece: every piece
//!   reads the same normalised depth as a one-piece render, so joins cannot jump.

pub mod manifest;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{RenderError, RenderJob, RenderReport, render, resolve_depth};
use crate::comfort::{ComfortReport, Viewing};
use crate::control::{Cancel, Stopped};
use crate::gpu::GpuContext;
use crate::media::decode::{DecodeOptions, Decoder, PixelFormat};
use crate::media::encode::{Container, Joiner};
use crate::media::packet_count;
use crate::progress::Progress;
use manifest::{Manifest, PieceRecord, PieceState};

/// Inputs longer than this render in pieces unless `--no-chunks` is given.
pub const AUTO_ABOVE_SECS: f64 = 600.0;
/// Piece length when chunking is the default.
pub const DEFAULT_PIECE_SECS: f64 = 60.0;

/// How a render is split (`--chunk-seconds`, `--no-chunks`, `--chunk-worker`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChunkOptions {
    pub seconds: Option<f64>,
    pub off: bool,
    pub worker: Option<Worker>,
    /// `--no-join`: leave the finished pieces for `stereosplat join`.
    pub no_join: bool,
    /// Set on the job of one piece (its index): the whole render's summary is logged at
    /// the join instead of each piece's.
    pub piece: Option<u64>,
}

/// `--chunk-worker I/N`: this process renders the pieces `k` with `k mod N = I`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Worker {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Worker {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--chunk-worker takes I/N: this worker's index from 0 and the number of \
                 workers, as in 0/4; got {s:?}"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(format!(
                "--chunk-worker {s}: the index counts from 0 and must be below the number of \
                 workers (0/{count} .. {}/{count})",
                count.saturating_sub(1)
            ));
        }
        Ok(Worker { index, count })
    }
}

/// What a chunked render did.
#[derive(Debug)]
pub struct ChunkedReport {
    /// The joined output; None when pieces are still missing (other workers').
    pub output: Option<PathBuf>,
    pub pieces: u64,
    pub rendered: u64,
    pub reused: u64,
    /// Frames rendered by this process, and in the whole output once joined.
    pub frames_rendered: u64,
    pub frames_total: u64,
    pub size: (u32, u32),
    pub audio: bool,
    pub seconds: f64,
    /// Seconds the join took.
    pub join_seconds: f64,
}

/// What `render` did: one piece, or pieces.
pub enum Outcome {
    Whole(RenderReport),
    Chunked(ChunkedReport),
}

/// Renders `job`, in pieces when it asks for them or its input is long (see the module).
pub fn render_auto(
    ctx: &GpuContext,
    job: &RenderJob,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<Outcome, RenderError> {
    job.validate()?;
    let asked = job.chunks.seconds.is_some() || job.chunks.worker.is_some() || job.chunks.no_join;
    let output = job.final_output();
    let still = Container::from_path(&output).is_ok_and(|c| c.is_still());
    if still && asked {
        return Err(RenderError::Invalid(format!(
            "{}: a still image renders in one piece; leave out --chunk-seconds and \
             --chunk-worker",
            output.display()
        )));
    }
    if job.chunks.off || still || job.chunks.piece.is_some() {
        return Ok(Outcome::Whole(render(ctx, job, progress, cancel)?));
    }
    let info = {
        let dec = Decoder::open(&job.input, PixelFormat::Native, &DecodeOptions::default())?;
        dec.info().clone()
    };
    let Some(frame_nanos) = info.frame_duration_nanos().filter(|_| !info.is_still) else {
        if asked {
            return Err(RenderError::Invalid(format!(
                "{}: --chunk-seconds and --chunk-worker need a video with a constant frame \
                 rate (this is a still or has a variable rate); render it whole",
                job.input.display()
            )));
        }
        return Ok(Outcome::Whole(render(ctx, job, progress, cancel)?));
    };
    let length_secs = info.duration_nanos.unwrap_or(0) as f64 / 1e9 - job.start_secs;
    let limited = job.frames.map(|n| n as f64 * frame_nanos as f64 / 1e9);
    let length_secs = limited.map_or(length_secs, |l| l.min(length_secs));
    if !asked {
        if length_secs <= AUTO_ABOVE_SECS {
            return Ok(Outcome::Whole(render(ctx, job, progress, cancel)?));
        }
        if job.mask_out.is_some() || job.trace.is_some() {
            return Ok(Outcome::Whole(render(ctx, job, progress, cancel)?));
        }
        log::info!(
            "{}: {:.0} minutes long, so it renders in {DEFAULT_PIECE_SECS:.0} s pieces in {}, \
             joined at the end: an interrupted render resumes where it stopped when the same \
             command runs again (--no-chunks renders it in one piece)",
            job.input.display(),
            length_secs / 60.0,
            manifest::folder(&output).display()
        );
    }
    if job.mask_out.is_some() {
        return Err(RenderError::Invalid(
            "--mask-out is not written by chunked renders yet: leave out --chunk-seconds and \
             --chunk-worker (or give --no-chunks)"
                .into(),
        ));
    }
    let seconds = job.chunks.seconds.unwrap_or(DEFAULT_PIECE_SECS);
    let start_index =
        super::plan::first_frame_index((job.start_secs * 1e9).round() as u64, frame_nanos);
    let total = match job.frames {
        Some(n) => n,
        None => match packet_count::count_packets(&job.input, Some(frame_nanos)) {
            Ok(Some(c)) => c.frames.saturating_sub(start_index),
            _ => info
                .estimated_frames()
                .unwrap_or(0)
                .saturating_sub(start_index),
        },
    };
    let piece_frames = ((seconds * 1e9 / frame_nanos as f64).round() as u64).max(1);
    let m = Manifest {
        version: manifest::VERSION,
        settings: manifest::settings_digest(job),
        input: job.input.clone(),
        output: output.clone(),
        layout: job.layout,
        audio: job.audio,
        start_nanos: start_index * frame_nanos,
        first_frame: start_index,
        frame_nanos,
        piece_frames,
        pieces: total.div_ceil(piece_frames).max(1),
        depth_kind: job.depth_kind,
        screen_width_m: job.viewing.screen_width_m,
        viewing_distance_m: job.viewing.viewing_distance_m,
    };
    Ok(Outcome::Chunked(render_pieces(
        ctx, job, &m, progress, cancel,
    )?))
}

/// Renders the pieces this process is asked for and not yet done, then joins when all
/// are.
fn render_pieces(
    ctx: &GpuContext,
    job: &RenderJob,
    m: &Manifest,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<ChunkedReport, RenderError> {
    let started = Instant::now();
    let dir = manifest::folder(&m.output);
    let io = |context: String| move |source| RenderError::Io { context, source };
    std::fs::create_dir_all(&dir).map_err(io(format!(
        "cannot create the work folder {} (choose an output in a writable folder)",
        dir.display()
    )))?;
    match manifest::read_manifest(&dir) {
        Some(old) if old == *m => {}
        Some(_) => {
            let n = manifest::clear(&dir).map_err(io(format!("cannot clear {}", dir.display())))?;
            log::info!(
                "{}: {n} piece(s) from a render with other settings are discarded",
                dir.display()
            );
            manifest::write_manifest(&dir, m)
                .map_err(io(format!("cannot write {}", dir.display())))?;
        }
        None => manifest::write_manifest(&dir, m)
            .map_err(io(format!("cannot write {}", dir.display())))?,
    }
    // Depth once, for the whole range, as a one-piece render finds it.
    let limit = job.frames.filter(|_| job.start_secs == 0.0);
    let resolved = resolve_depth(ctx, job, limit, progress, cancel)?;
    let mine = |k: u64| {
        job.chunks
            .worker
            .is_none_or(|w| k % u64::from(w.count) == u64::from(w.index))
    };
    let (mut rendered, mut reused, mut frames_rendered, mut busy) = (0, 0, 0, 0);
    for k in (0..m.pieces).filter(|&k| mine(k)) {
        match manifest::check_piece(&dir, k, m) {
            PieceState::Done(_) => {
                reused += 1;
                continue;
            }
            PieceState::Broken(why) => {
                log::warn!("piece {k} of {}: {why}; rendering it again", m.pieces)
            }
            PieceState::Missing => {}
        }
        if cancel.is_interrupted() || cancel.is_cancelled() {
            break;
        }
        let Some(_claim) = claim(&manifest::lock_path(&dir, k))
            .map_err(io(format!("cannot lock a piece in {}", dir.display())))?
        else {
            log::info!("piece {k}: another process is rendering it");
            busy += 1;
            continue;
        };
        // Claimed: it may have been finished by another process meanwhile.
        if let PieceState::Done(_) = manifest::check_piece(&dir, k, m) {
            reused += 1;
            continue;
        }
        log::info!(
            "piece {} of {} (frames from {})",
            k + 1,
            m.pieces,
            m.first_frame + k * m.piece_frames
        );
        let piece = manifest::piece_path(&dir, k, &m.output);
        let report = match render_piece(ctx, &resolved.job, job, m, k, progress, cancel) {
            Ok(r) => r,
            Err(RenderError::Stopped(Stopped::Interrupted { partial, .. })) => {
                // A part of a piece is of no use: the rerun renders the piece whole.
                let _ = std::fs::remove_file(partial);
                break;
            }
            Err(_) if cancel.is_interrupted() => {
                // A part of a piece is of no use: the rerun renders the piece whole.
                let _ = std::fs::remove_file(crate::fsutil::partial_path(&piece));
                break;
            }
            Err(e) => return Err(e),
        };
        let record = PieceRecord {
            index: k,
            frames: report.frames,
            bytes: std::fs::metadata(&piece).map(|md| md.len()).unwrap_or(0),
            first_pts_nanos: report.first_pts_nanos,
            range_end_nanos: report.range_end_nanos,
            output_size: report.size,
            comfort_width: report.comfort.width,
            comfort: report.comfort.frames.clone(),
        };
        manifest::write_record(&dir, &record).map_err(io(format!(
            "cannot write a piece record in {}",
            dir.display()
        )))?;
        rendered += 1;
        frames_rendered += report.frames;
    }
    let states: Vec<PieceState> = (0..m.pieces)
        .map(|k| manifest::check_piece(&dir, k, m))
        .collect();
    let done = states
        .iter()
        .filter(|s| matches!(s, PieceState::Done(_)))
        .count() as u64;
    log::info!(
        "pieces: {rendered} rendered now, {reused} reused from an earlier run, {done} of {} done",
        m.pieces
    );
    if cancel.is_interrupted() && done < m.pieces {
        return Err(Stopped::InterruptedPieces {
            done,
            total: m.pieces,
            folder: dir,
        }
        .into());
    }
    let mut report = ChunkedReport {
        output: None,
        pieces: m.pieces,
        rendered,
        reused,
        frames_rendered,
        frames_total: 0,
        size: (0, 0),
        audio: false,
        seconds: 0.0,
        join_seconds: 0.0,
    };
    if done < m.pieces {
        log::info!(
            "{} of {} pieces are not done yet{}: whichever process finishes the last one joins \
             them into {} (or run `stereosplat join {}` once they are done)",
            m.pieces - done,
            m.pieces,
            if busy > 0 {
                " (others are rendering some)"
            } else {
                ""
            },
            m.output.display(),
            m.output.display()
        );
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    if job.chunks.no_join {
        log::info!(
            "every piece is done; `stereosplat join {}` joins them (--no-join)",
            m.output.display()
        );
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let joined = join_folder(&dir, job.report.as_deref())?;
    report.output = joined.output;
    report.frames_total = joined.frames;
    report.size = joined.size;
    report.audio = joined.audio;
    report.join_seconds = joined.seconds;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Renders piece `k` of `m` with the resolved job `resolved` (`original` for the
/// settings the user gave).
fn render_piece(
    ctx: &GpuContext,
    resolved: &RenderJob,
    original: &RenderJob,
    m: &Manifest,
    k: u64,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<RenderReport, RenderError> {
    let dir = manifest::folder(&m.output);
    let first = m.first_frame + k * m.piece_frames;
    let last_piece = k + 1 == m.pieces;
    let mut job = resolved.clone();
    job.output = manifest::piece_path(&dir, k, &m.output);
    job.name_tags = false;
    job.start_secs = (first * m.frame_nanos) as f64 / 1e9;
    // The last piece runs to the range's end (the frame count may be an estimate).
    job.frames = match (last_piece, original.frames) {
        (false, _) => Some(m.piece_frames),
        (true, Some(n)) => Some(n - k * m.piece_frames),
        (true, None) => None,
    };
    job.audio = false;
    job.report = None;
    job.trace = None;
    job.preset = None;
    job.chunks = ChunkOptions {
        piece: Some(k),
        ..Default::default()
    };
    // A camera path runs on the whole range's clock.
    job.novel.clock_start_secs = Some(original.start_secs);
    // Written once, by the piece that starts the range.
    job.convergence_out = original.convergence_out.clone().filter(|_| k == 0);
    render(ctx, &job, progress, cancel)
}

/// What [`join_folder`] wrote.
pub struct Joined {
    pub output: Option<PathBuf>,
    pub frames: u64,
    pub size: (u32, u32),
    pub audio: bool,
    pub seconds: f64,
}

/// Joins the finished pieces in `dir` into the output its manifest names, with the
/// source audio, logs the comfort summary (and writes `report` when given), and removes
/// the folder. Another process already joining is not an error: it finishes the job.
pub fn join_folder(dir: &Path, report: Option<&Path>) -> Result<Joined, RenderError> {
    let started = Instant::now();
    let m = manifest::read_manifest(dir).ok_or_else(|| {
        RenderError::Invalid(format!(
            "{} holds no chunked render (no readable manifest.json): give the output of a \
             render run with --chunk-seconds or --chunk-worker",
            dir.display()
        ))
    })?;
    let io = |context: String| move |source| RenderError::Io { context, source };
    let Some(_lock) = claim(&manifest::join_lock_path(dir))
        .map_err(io(format!("cannot lock {}", dir.display())))?
    else {
        log::info!("another process is joining the pieces in {}", dir.display());
        return Ok(Joined {
            output: None,
            frames: 0,
            size: (0, 0),
            audio: false,
            seconds: 0.0,
        });
    };
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for k in 0..m.pieces {
        match manifest::check_piece(dir, k, &m) {
            PieceState::Done(r) => records.push(r),
            PieceState::Missing => missing.push(format!("{k} (not rendered)")),
            PieceState::Broken(why) => missing.push(format!("{k} ({why})")),
        }
    }
    if !missing.is_empty() {
        return Err(RenderError::Invalid(format!(
            "{}: pieces {} are not done; run the render again (the same command, or the \
             worker whose pieces they are) and it renders only those",
            dir.display(),
            missing.join(", ")
        )));
    }
    let first_pts = records.first().map_or(0, |r| r.first_pts_nanos);
    let range_end = records.last().map_or(0, |r| r.range_end_nanos);
    // The audio as a one-piece render takes it: from the input, timed by its first frame.
    let mut audio = None;
    if m.audio {
        let video = Decoder::open(
            &m.input,
            PixelFormat::Native,
            &DecodeOptions {
                start_nanos: m.start_nanos,
                with_audio: false,
                ..Default::default()
            },
        )?;
        let mut dec = Decoder::audio_of(&video, m.start_nanos)?;
        drop(video);
        let lead = dec.start_output(first_pts);
        audio = dec.audio_caps().map(|caps| (dec, caps, lead));
    }
    // Each piece where its first frame is in the one-piece output: its time since the
    // range's first frame, after any audio that starts earlier.
    let lead = audio.as_ref().map_or(0, |(_, _, lead)| *lead);
    let pieces: Vec<(PathBuf, u64)> = records
        .iter()
        .map(|r| {
            (
                manifest::piece_path(dir, r.index, &m.output),
                r.first_pts_nanos - first_pts + lead,
            )
        })
        .collect();
    let mut joiner = Joiner::open(
        &m.output,
        &pieces,
        m.layout,
        audio.as_ref().map(|(_, caps, _)| caps),
    )?;
    let had_audio = audio.is_some();
    if let Some((mut dec, _, _)) = audio {
        dec.drain_audio(range_end, &mut |buf| joiner.push_audio(buf))?;
    }
    let output = joiner.finish()?;
    let frames: u64 = records.iter().map(|r| r.frames).sum();
    let seconds = started.elapsed().as_secs_f64();
    log::info!(
        "joined {} pieces into {} ({frames} frames) in {seconds:.1} s",
        m.pieces,
        output.display()
    );
    let mut comfort = ComfortReport::new(
        m.depth_kind,
        records.first().map_or(0, |r| r.comfort_width),
        Viewing {
            screen_width_m: m.screen_width_m,
            viewing_distance_m: m.viewing_distance_m,
        },
    );
    for f in records.iter().flat_map(|r| r.comfort.iter()) {
        comfort.push(*f);
    }
    log::info!("{}", comfort.describe());
    for warning in comfort.warnings() {
        log::warn!("{warning}");
    }
    if let Some(path) = report {
        comfort
            .write_json(path, &m.input, &output)
            .map_err(io(format!("cannot write the report {}", path.display())))?;
    }
    if let Err(e) = std::fs::remove_dir_all(dir) {
        log::warn!(
            "the pieces are joined, but {} could not be removed: {e}",
            dir.display()
        );
    }
    Ok(Joined {
        output: Some(output),
        frames,
        size: records.first().map_or((0, 0), |r| r.output_size),
        audio: had_audio,
        seconds,
    })
}

/// An exclusive lock on `path` (created if needed), or None when another process holds
/// it. The system releases it when the process ends, however it ends, so a killed
/// render never leaves a piece claimed. (flock; over NFS, Linux maps it to NFS locks.)
fn claim(path: &Path) -> std::io::Result<Option<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}
