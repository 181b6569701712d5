//! `stereosplat depth INPUT --format ply|obj -o DIR` on the ray-traced scene, whose
//! metric depth and surfaces are known: every exported point lies on a true surface,
//! and the mesh has no triangle spanning a sphere's silhouette (while the same export
//! without edge removal does, so the check can fail).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stereosplat::media::synth::{Camera, Scene, Surface};

const SIZE: (u32, u32) = (320, 180);
const SCENE: Scene = Scene { time: 0.4 };

/// The scene's view as a PNG and its metric depth as a 16-bit PNG (20 m full scale).
fn scene(dir: &Path) -> (PathBuf, PathBuf, f32) {
    let cam = Camera::with_fov(SIZE.0, SIZE.1, 60.0);
    let (rgba, z) = SCENE.render(&cam);
    let colour = dir.join("view.png");
    let depth = dir.join("view_depth.png");
    common::write_png(&colour, SIZE, "RGBA", rgba);
    let step = 20.0 / 65535.0;
    let raw: Vec<u8> = z
        .iter()
        .flat_map(|z| ((z / step).round().clamp(1.0, 65535.0) as u16).to_be_bytes())
        .collect();
    common::write_png(&depth, SIZE, "GRAY16_BE", raw);
    (colour, depth, cam.fx)
}

fn export(colour: &Path, depth: &Path, format: &str, out: &Path, extra: &[&str]) -> String {
    let (colour, depth, out) = (
        colour.to_str().unwrap(),
        depth.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let args = [
        &[
            "depth", colour, "--format", format, "-o", out, "--depth", depth,
        ][..],
        &[
            "--depth-kind",
            "metric",
            "--max-depth",
            "20",
            "--xfov",
            "60",
        ],
        extra,
    ]
    .concat();
    common::run_ok(&args)
}

/// (position, colour) of every vertex of a binary little-endian PLY.
fn read_ply(path: &Path) -> Vec<([f32; 3], [u8; 3])> {
    let bytes = std::fs::read(path).unwrap();
    let end = b"end_header\n";
    let at = bytes.windows(end.len()).position(|w| w == end).unwrap() + end.len();
    let header = String::from_utf8_lossy(&bytes[..at]);
    assert!(
        header.starts_with("ply\nformat binary_little_endian 1.0\n"),
        "{header}"
    );
    let n: usize = header
        .lines()
        .find_map(|l| l.strip_prefix("element vertex "))
        .unwrap()
        .parse()
        .unwrap();
    let body = &bytes[at..];
    assert_eq!(
        body.len(),
        n * 15,
        "12 bytes of position and 3 of colour per point"
    );
    body.chunks_exact(15)
        .map(|p| {
            let f = |i: usize| f32::from_le_bytes(p[i..i + 4].try_into().unwrap());
            ([f(0), f(4), f(8)], [p[12], p[13], p[14]])
        })
        .collect()
}

/// Vertices and triangles (0-based) of an OBJ.
fn read_obj(path: &Path) -> (Vec<[f32; 3]>, Vec<[usize; 3]>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut v, mut f) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        match parts.next() {
            Some("v") => {
                let n: Vec<f32> = parts.map(|p| p.parse().unwrap()).collect();
                assert_eq!(n.len(), 6, "x y z r g b: {line}");
                v.push([n[0], n[1], n[2]]);
            }
            Some("f") => {
                let n: Vec<usize> = parts.map(|p| p.parse::<usize>().unwrap() - 1).collect();
                f.push([n[0], n[1], n[2]]);
            }
            _ => {}
        }
    }
    (v, f)
}

/// The surface a point lies on, and how far from it.
fn nearest(surfaces: &[Surface], p: [f32; 3]) -> (usize, f32) {
    surfaces
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.distance(p)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn ply_points_lie_on_the_true_surfaces() {
    let dir = common::work_dir("geometry_ply");
    let (colour, depth, _) = scene(&dir);
    let out = dir.join("points");
    let log = export(&colour, &depth, "ply", &out, &[]);
    assert!(log.contains("wrote 1 ply file(s)"), "{log}");
    let points = read_ply(&out.join("view.ply"));
    let surfaces = SCENE.surfaces();
    let mut errors: Vec<f32> = points
        .iter()
        .map(|(p, _)| nearest(&surfaces, *p).1)
        .collect();
    errors.sort_by(f32::total_cmp);
    let worst = errors[errors.len() - 1];
    let p99 = errors[errors.len() * 99 / 100];
    println!(
        "{} points; distance to the nearest true surface: 99 % within {:.2} mm, worst {:.2} mm",
        points.len(),
        p99 * 1e3,
        worst * 1e3
    );
    // Depth is stored in 0.3 mm steps and unprojected at pixel centres, as rendered:
    // measured 2026-12-07, 99 % within 0.13 mm, the worst 0.16 mm.
    assert!(p99 < 1e-3 && worst < 5e-3, "99 % {p99} m, worst {worst} m");
    // Most of the frame is kept; edge removal takes only thin bands at silhouettes.
    let total = (SIZE.0 * SIZE.1) as usize;
    assert!(
        points.len() > total * 9 / 10 && points.len() <= total,
        "{} of {total}",
        points.len()
    );
    // Coloured from the frame: the red-and-white sphere's points are red or white.
    let red_sphere = points
        .iter()
        .filter(|(p, _)| nearest(&surfaces, *p) == (2, nearest(&surfaces, *p).1))
        .filter(|(_, c)| c[0] > 100 && c[1] < 80)
        .count();
    assert!(
        red_sphere > 500,
        "red points on the red sphere: {red_sphere}"
    );
}

/// Triangles joining two different objects away from where they touch.
fn across_silhouettes(v: &[[f32; 3]], f: &[[usize; 3]], fx: f32) -> usize {
    let surfaces = SCENE.surfaces();
    f.iter()
        .filter(|t| {
            let ids = t.map(|i| nearest(&surfaces, v[i]).0);
            (0..3).any(|k| {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                let (ia, ib) = (ids[k], ids[(k + 1) % 3]);
                // Where a sphere rests on the floor the two meet: a vertex there is within
                // a few pixels' footprint of the other surface.
                let tolerance = 3.0 * -v[a][2] / fx;
                ia != ib
                    && surfaces[ib].distance(v[a]) > tolerance
                    && surfaces[ia].distance(v[b]) > tolerance
            })
        })
        .count()
}

#[test]
fn obj_mesh_has_no_triangle_across_a_silhouette() {
    let dir = common::work_dir("geometry_obj");
    let (colour, depth, fx) = scene(&dir);
    let out = dir.join("mesh");
    // A 5 % jump of 1/z between neighbours breaks the surface. (The default cuts surfaces
    // seen within a degree of edge-on: at this small size, one pixel is 8 mm at 2.3 m, so
    // a sphere 30 cm in front of the floor is joined to it at 88.5 degrees and stays.)
    export(&colour, &depth, "obj", &out, &["--edge-threshold", "0.05"]);
    let (v, f) = read_obj(&out.join("view.obj"));
    let cells = ((SIZE.0 - 1) * (SIZE.1 - 1) * 2) as usize;
    assert!(
        f.len() > cells * 9 / 10,
        "{} of {cells} triangles kept",
        f.len()
    );
    assert_eq!(across_silhouettes(&v, &f, fx), 0);
    let default = dir.join("default");
    export(&colour, &depth, "obj", &default, &[]);
    let (dv, df) = read_obj(&default.join("view.obj"));
    let left = across_silhouettes(&dv, &df, fx);
    // Without edge removal the spheres are joined to the wall and floor behind them.
    let joined = dir.join("joined");
    export(
        &colour,
        &depth,
        "obj",
        &joined,
        &["--edge-threshold", "100"],
    );
    let (v, f) = read_obj(&joined.join("view.obj"));
    assert_eq!(f.len(), cells);
    let across = across_silhouettes(&v, &f, fx);
    println!(
        "triangles across silhouettes: {across} without edge removal, {left} with the default, 0 at 5 %"
    );
    assert!(
        across > 200,
        "{across} triangles across silhouettes without edge removal"
    );
    assert!(
        left * 4 < across,
        "the default removes most: {left} of {across} remain"
    );
    // Half the vertices every other pixel.
    let coarse = dir.join("coarse");
    export(&colour, &depth, "obj", &coarse, &["--grid-step", "2"]);
    let (v2, _) = read_obj(&coarse.join("view.obj"));
    assert!(
        v2.len() * 3 < v.len() && v2.len() * 5 > v.len(),
        "{} vs {}",
        v2.len(),
        v.len()
    );
}

#[test]
fn videos_give_one_file_per_frame_and_bad_outputs_are_refused() {
    let dir = common::work_dir("geometry_video");
    let clip = dir.join("clip.mp4");
    stereosplat::media::synth::colour_clip(&clip, (96, 64), 6, 24, false).unwrap();
    let out = dir.join("frames");
    let o = Command::new(common::bin())
        .args([
            "depth",
            clip.to_str().unwrap(),
            "--format",
            "ply",
            "--ascii",
            "--frames",
            "3",
            "-o",
        ])
        .arg(&out)
        .env("XDG_RUNTIME_DIR", "/tmp/stereosplat-xdg")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["clip_000000.ply", "clip_000001.ply", "clip_000002.ply"]
    );
    let text = std::fs::read_to_string(out.join("clip_000001.ply")).unwrap();
    assert!(text.starts_with("ply\nformat ascii 1.0\n"));
    // -o naming a file, and a geometry flag on a depth video export.
    let o = Command::new(common::bin())
        .args(["depth", clip.to_str().unwrap(), "--format", "obj", "-o"])
        .arg(&clip)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give a folder"));
    let o = Command::new(common::bin())
        .args(["depth", clip.to_str().unwrap(), "--xfov", "60", "-o"])
        .arg(dir.join("d.mkv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format ply or obj"));
}
