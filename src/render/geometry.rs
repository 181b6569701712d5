//! `stereosplat depth INPUT --format ply|obj -o DIR`: each frame's depth as geometry, one
//! file per frame. The frames and their depth come as a render's do ([`Plan`]: a depth
//! file, a model or the built-in estimate, with the same range, shaping and dilation),
//! and the depth is prepared by the CPU warp's own first stage, so the files hold the
//! surface the warp moves pixels by; `crate::view3d` turns it into points.

use std::path::{Path, PathBuf};

use super::plan::Plan;
use super::{RenderError, RenderJob, tracks};
use crate::control::{Cancel, Stopped};
use crate::cpu::{CpuWarper, DepthFormat, RawDepth};
use crate::gpu::GpuContext;
use crate::media::encode::Container;
use crate::progress::Progress;
use crate::stereo::{NO_EDGE_THRESHOLD, frame_params};
use crate::view3d::SourceCamera;
use crate::view3d::export::{GeometryFormat, Mesh};

/// What the export wrote.
#[derive(Debug)]
pub struct GeometryReport {
    pub files: Vec<PathBuf>,
    /// Points and triangles in the last file.
    pub points: usize,
    pub triangles: usize,
}

/// Writes `job.input`'s frames (with `job.frames`, `job.start_secs`) as `format` files
/// into `dir`: `<stem>_<frame>.<ext>`, or `<stem>.<ext>` for a still. `step`: pixels
/// between vertices.
pub fn export_geometry(
    ctx: &GpuContext,
    job: &RenderJob,
    format: GeometryFormat,
    step: u32,
    dir: &Path,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<GeometryReport, RenderError> {
    job.validate_settings()?;
    let (mut plan, mut decoder) = Plan::open_as(ctx, job, Container::Matroska, progress, cancel)?;
    // Made once the input and its depth opened: a bad input leaves no empty folder.
    std::fs::create_dir_all(dir).map_err(|source| RenderError::Io {
        context: format!(
            "cannot create the output folder {} (is part of the path a file, or read-only?)",
            dir.display()
        ),
        source,
    })?;
    let spec = plan.spec;
    let still = plan.info.is_still;
    let stem = job
        .input
        .file_stem()
        .map_or("frame".into(), |s| s.to_string_lossy().into_owned());
    let mut warper = CpuWarper::new(spec.frame, spec.depth, plan.stereo.eye, spec.work);
    let mut stereo = plan.stereo;
    let mut report = GeometryReport {
        files: Vec::new(),
        points: 0,
        triangles: 0,
    };
    progress.start(plan.total_frames());
    while plan
        .frames_wanted
        .is_none_or(|n| (report.files.len() as u64) < n)
    {
        if cancel.is_cancelled() || cancel.is_interrupted() {
            return Err(Stopped::Cancelled.into());
        }
        let Some(frame) = decoder.next_frame()? else {
            break;
        };
        let index = plan.start_index + report.files.len() as u64;
        let (depth, _) = plan.depth.frame_for(index, frame.pts_nanos, true)?;
        if let Some(track) = &plan.tracks.convergence {
            stereo = tracks::with_convergence(stereo, plan.range.kind, track.at(index));
        }
        let params = frame_params(&stereo, &plan.range, spec.frame, spec.work, spec.depth);
        let pixels = frame.pixels();
        warper.prepare_depth(
            &pixels,
            RawDepth {
                data: depth.data,
                stride: depth.stride as usize,
                size: spec.depth,
                format: DepthFormat::of(spec.rgb_depth, depth.gray8),
            },
            &params,
        );
        let camera = SourceCamera::new(&stereo, &plan.range, spec.frame, spec.work, job.xfov_deg);
        let edge = if stereo.edge_threshold < NO_EDGE_THRESHOLD {
            stereo.edge_threshold
        } else {
            camera.edge_on_threshold(step)
        };
        let colour = warper.colour((&pixels).into());
        let mesh = Mesh::build(&camera, warper.nearness(), colour, step, edge);
        let name = if still {
            format!("{stem}.{}", format.extension())
        } else {
            format!("{stem}_{index:06}.{}", format.extension())
        };
        let path = dir.join(name);
        let unit = if camera.metric {
            "metres"
        } else {
            "units of the depth range"
        };
        let comment = format!(
            "stereosplat: {} frame {index}, {unit}, camera at the origin looking down -z, y up, fx {:.2} px",
            job.input.display(),
            camera.fx
        );
        format
            .write(&mesh, &path, &comment)
            .map_err(|source| RenderError::Io {
                context: format!("cannot write {}", path.display()),
                source,
            })?;
        report.points = mesh.positions.len();
        report.triangles = mesh.triangles.len();
        report.files.push(path);
        progress.frame(report.files.len() as u64);
        if still {
            break;
        }
    }
    progress.finish();
    if report.files.is_empty() {
        return Err(RenderError::Invalid(format!(
            "{} has no video frames in the requested range",
            job.input.display()
        )));
    }
    Ok(report)
}
