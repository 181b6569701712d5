//! The frame as a coloured mesh, written as PLY points or an OBJ mesh
//! (`stereosplat depth INPUT --format ply|obj -o DIR`). The grid, the triangles and the
//! edge test are those of the GPU mesh (shaders/mesh.wgsl): one vertex every `step`
//! pixels, two triangles per cell, a triangle kept only when each pair of its corners is
//! one surface ([`SourceCamera::same_surface`]). The point cloud holds the vertices of
//! kept triangles, so a point left floating between a foreground edge and the background
//! (the depth upsampling's in-between values) is dropped, as in the 3D view.

use std::io::Write;
use std::path::Path;

use glam::Vec3;

use super::SourceCamera;
use crate::cpu::Rgba;

/// A frame's surface: coloured vertices (file axes: metres or depth-range units) and
/// triangles over them.
#[derive(Debug, Default)]
pub struct Mesh {
    pub positions: Vec<Vec3>,
    pub colours: Vec<[u8; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

/// The grid's corner offsets of a cell's two triangles (x, y in steps), in the order
/// mesh.wgsl draws them.
pub const CELL_TRIANGLES: [[(u32, u32); 3]; 2] =
    [[(0, 0), (1, 0), (0, 1)], [(1, 0), (1, 1), (0, 1)]];

/// Vertices along one side of `len` pixels with one every `step`: the last pixel is
/// always one, so the mesh reaches the frame's edge.
pub fn grid_len(len: u32, step: u32) -> u32 {
    (len - 1).div_ceil(step) + 1
}

/// The pixel of grid vertex `i` along a side of `len` pixels.
pub fn grid_pixel(i: u32, step: u32, len: u32) -> u32 {
    (i * step).min(len - 1)
}

impl Mesh {
    /// The mesh of one frame: `nearness` (the warp's depth quantity per pixel) and
    /// `colour` at `camera.size`.
    pub fn build(
        camera: &SourceCamera,
        nearness: &[f32],
        colour: Rgba<'_>,
        step: u32,
        edge_threshold: f32,
    ) -> Self {
        let (w, h) = camera.size;
        assert_eq!(nearness.len(), w as usize * h as usize);
        let step = step.max(1);
        let (gw, gh) = (grid_len(w, step), grid_len(h, step));
        let at = |gx: u32, gy: u32| {
            let (x, y) = (grid_pixel(gx, step, w), grid_pixel(gy, step, h));
            (x, y, nearness[y as usize * w as usize + x as usize])
        };
        // Grid vertex -> output index, given once a kept triangle uses it.
        let mut index = vec![u32::MAX; gw as usize * gh as usize];
        let mut mesh = Mesh::default();
        for gy in 0..gh.saturating_sub(1) {
            for gx in 0..gw.saturating_sub(1) {
                for tri in CELL_TRIANGLES {
                    let corners = tri.map(|(dx, dy)| (gx + dx, gy + dy));
                    let q = corners.map(|(x, y)| at(x, y).2);
                    let joined = (0..3).all(|i| {
                        camera.same_surface(q[i], q[(i + 1) % 3], edge_threshold)
                            && camera.distance(q[i]).is_some()
                    });
                    if !joined {
                        continue;
                    }
                    let ids = corners.map(|(x, y)| {
                        let slot = &mut index[(y * gw + x) as usize];
                        if *slot == u32::MAX {
                            let (px, py, q) = at(x, y);
                            let p = camera
                                .unproject(px as f32, py as f32, q)
                                .expect("joined vertices have a distance");
                            let c = colour.row(py as usize);
                            let i = px as usize * 4;
                            *slot = mesh.positions.len() as u32;
                            mesh.positions.push(p);
                            mesh.colours.push([c[i], c[i + 1], c[i + 2]]);
                        }
                        *slot
                    });
                    mesh.triangles.push(ids);
                }
            }
        }
        mesh
    }

    /// Writes the vertices as a coloured point cloud: binary little-endian PLY, or ASCII.
    pub fn write_ply(
        &self,
        out: &mut impl Write,
        ascii: bool,
        comment: &str,
    ) -> std::io::Result<()> {
        let format = if ascii {
            "ascii"
        } else {
            "binary_little_endian"
        };
        write!(
            out,
            "ply\nformat {format} 1.0\ncomment {comment}\nelement vertex {}\n\
             property float x\nproperty float y\nproperty float z\n\
             property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n",
            self.positions.len()
        )?;
        for (p, c) in self.positions.iter().zip(&self.colours) {
            if ascii {
                writeln!(out, "{} {} {} {} {} {}", p.x, p.y, p.z, c[0], c[1], c[2])?;
            } else {
                for v in p.to_array() {
                    out.write_all(&v.to_le_bytes())?;
                }
                out.write_all(c)?;
            }
        }
        Ok(())
    }

    /// Writes the mesh as OBJ with per-vertex colour (`v x y z r g b`, 0..1), which
    /// MeshLab, Blender and Open3D read.
    pub fn write_obj(&self, out: &mut impl Write, comment: &str) -> std::io::Result<()> {
        writeln!(out, "# {comment}")?;
        for (p, c) in self.positions.iter().zip(&self.colours) {
            let [r, g, b] = c.map(|v| f32::from(v) / 255.0);
            writeln!(out, "v {} {} {} {r:.4} {g:.4} {b:.4}", p.x, p.y, p.z)?;
        }
        for t in &self.triangles {
            writeln!(out, "f {} {} {}", t[0] + 1, t[1] + 1, t[2] + 1)?;
        }
        Ok(())
    }
}

/// Which file `stereosplat depth --format` writes per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryFormat {
    Ply { ascii: bool },
    Obj,
}

impl GeometryFormat {
    pub fn extension(self) -> &'static str {
        match self {
            GeometryFormat::Ply { .. } => "ply",
            GeometryFormat::Obj => "obj",
        }
    }

    /// Writes `mesh` to `path` through a temporary file, so `path` only ever holds a
    /// whole file.
    pub fn write(self, mesh: &Mesh, path: &Path, comment: &str) -> std::io::Result<()> {
        let tmp = crate::fsutil::temp_path_for(path);
        let result = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            match self {
                GeometryFormat::Ply { ascii } => mesh.write_ply(&mut out, ascii, comment)?,
                GeometryFormat::Obj => mesh.write_obj(&mut out, comment)?,
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stereo::{DepthRange, StereoParams};

    fn camera(size: (u32, u32)) -> SourceCamera {
        SourceCamera::new(
            &StereoParams::default(),
            &DepthRange::default(),
            size,
            size,
            None,
        )
    }

    #[test]
    fn a_depth_step_splits_the_mesh() {
        // 5 x 3: the left three columns near, the right two far.
        let (w, h) = (5u32, 3u32);
        let q = [0.9f32, 0.9, 0.9, 0.1, 0.1];
        let nearness: Vec<f32> = q.iter().cycle().take(15).copied().collect();
        let rgba = vec![200u8; 60];
        let colour = Rgba {
            data: &rgba,
            stride: 20,
            size: (w, h),
        };
        let cam = camera((w, h));
        let mesh = Mesh::build(&cam, &nearness, colour, 1, 0.05);
        // Cells 0-1 (near) and 3 (far) keep both triangles; cell 2 spans the step.
        assert_eq!(mesh.triangles.len(), 2 * 2 * 2 + 2 * 2);
        for t in &mesh.triangles {
            let z = t.map(|i| mesh.positions[i as usize].z);
            assert!(
                z.iter().all(|v| (v - z[0]).abs() < 1e-4),
                "a triangle across the step: {z:?}"
            );
        }
        assert_eq!(mesh.positions.len(), 15);
        let mut ply = Vec::new();
        mesh.write_ply(&mut ply, false, "test").unwrap();
        let header = b"end_header\n";
        let at = ply.windows(header.len()).position(|w| w == header).unwrap() + header.len();
        assert_eq!(ply.len() - at, 15 * 15);
        let mut obj = Vec::new();
        mesh.write_obj(&mut obj, "test").unwrap();
        let text = String::from_utf8(obj).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("f ")).count(), 12);
    }

    #[test]
    fn the_grid_reaches_the_last_pixel() {
        assert_eq!(grid_len(10, 1), 10);
        assert_eq!(grid_len(10, 4), 4);
        assert_eq!(grid_pixel(3, 4, 10), 9);
        assert_eq!(grid_len(1, 3), 1);
    }
}
