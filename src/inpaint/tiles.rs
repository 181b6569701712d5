//! Where the model runs: tiles around the holes of a synthesised eye, each a core of
//! frame cells with context around it, at the model's size. Only hole pixels inside a
//! tile's core are written back, so each hole pixel is filled once, by the tile that has
//! the most context around it.

/// A tile: the area fed to the model (`x`, `y`, `w`, `h`, inside the frame) and the core
/// whose holes it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub core: Core,
}

/// The part of a tile whose hole pixels it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Core {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Tiles of `tile` size (at most the frame's) covering every hole of a `size` frame
/// (`hole(x, y)`). The frame is cut into cores of `tile - 2 * context` per side; a core
/// with any hole gets a tile centred on it, moved inside the frame where it would cross
/// an edge.
pub fn plan(
    size: (u32, u32),
    tile: (u32, u32),
    context: u32,
    hole: &dyn Fn(u32, u32) -> bool,
) -> Vec<Tile> {
    let (w, h) = size;
    let tile = (tile.0.min(w).max(1), tile.1.min(h).max(1));
    if tile == size {
        // One tile holds the whole frame: it fills every hole.
        let any = (0..h).any(|y| (0..w).any(|x| hole(x, y)));
        return any
            .then_some(Tile {
                x: 0,
                y: 0,
                w,
                h,
                core: Core { x: 0, y: 0, w, h },
            })
            .into_iter()
            .collect();
    }
    let core_w = tile.0.saturating_sub(2 * context).max(tile.0 / 2).max(1);
    let core_h = tile.1.saturating_sub(2 * context).max(tile.1 / 2).max(1);
    let mut out = Vec::new();
    for cy in (0..h).step_by(core_h as usize) {
        for cx in (0..w).step_by(core_w as usize) {
            let core = Core {
                x: cx,
                y: cy,
                w: core_w.min(w - cx),
                h: core_h.min(h - cy),
            };
            let any =
                (core.y..core.y + core.h).any(|y| (core.x..core.x + core.w).any(|x| hole(x, y)));
            if !any {
                continue;
            }
            // Centred on the core, kept inside the frame.
            let place = |c: u32, cl: u32, tl: u32, full: u32| {
                (c + cl / 2).saturating_sub(tl / 2).min(full - tl)
            };
            out.push(Tile {
                x: place(core.x, core.w, tile.0, w),
                y: place(core.y, core.h, tile.1, h),
                w: tile.0,
                h: tile.1,
                core,
            });
        }
    }
    out
}

/// How much of the model's colour a hole pixel takes: all of it inside the hole, and
/// `FEATHER` of it on the hole's rim (a hole pixel beside a covered one), blended with
/// the background fill there so the seam does not show as a line.
pub const FEATHER: f32 = 0.5;

/// The weight of the model's colour at hole pixel (x, y) of a `size` frame.
pub fn feather(size: (u32, u32), x: u32, y: u32, hole: &dyn Fn(u32, u32) -> bool) -> f32 {
    let (w, h) = size;
    let covered = |dx: i32, dy: i32| {
        let (nx, ny) = (x as i32 + dx, y as i32 + dy);
        nx >= 0 && ny >= 0 && (nx as u32) < w && (ny as u32) < h && !hole(nx as u32, ny as u32)
    };
    if covered(-1, 0) || covered(1, 0) || covered(0, -1) || covered(0, 1) {
        FEATHER
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hole_lies_in_exactly_one_core_and_tiles_stay_inside() {
        let size = (300, 170);
        let hole = |x: u32, y: u32| (x % 97 < 5 && y > 20) || (x > 280 && y < 9);
        let tiles = plan(size, (128, 96), 24, &hole);
        assert!(!tiles.is_empty());
        for y in 0..size.1 {
            for x in 0..size.0 {
                let cores = tiles
                    .iter()
                    .filter(|t| {
                        let c = t.core;
                        (c.x..c.x + c.w).contains(&x) && (c.y..c.y + c.h).contains(&y)
                    })
                    .count();
                if hole(x, y) {
                    assert_eq!(cores, 1, "hole ({x}, {y})");
                }
            }
        }
        for t in &tiles {
            assert!(t.x + t.w <= size.0 && t.y + t.h <= size.1, "{t:?}");
            assert_eq!((t.w, t.h), (128, 96));
            let c = t.core;
            assert!(c.x >= t.x && c.x + c.w <= t.x + t.w, "{t:?}");
            assert!(c.y >= t.y && c.y + c.h <= t.y + t.h, "{t:?}");
        }
        // A frame with no hole needs no tile; a frame smaller than the tile gets one of
        // its own size.
        assert!(plan(size, (128, 96), 24, &|_, _| false).is_empty());
        let small = plan((40, 30), (128, 96), 24, &|x, _| x == 3);
        assert_eq!(small.len(), 1);
        assert_eq!((small[0].w, small[0].h), (40, 30));
    }

    #[test]
    fn the_rim_of_a_hole_is_feathered() {
        let hole = |x: u32, y: u32| (3..7).contains(&x) && (2..5).contains(&y);
        assert_eq!(feather((10, 10), 3, 3, &hole), FEATHER);
        assert_eq!(feather((10, 10), 4, 3, &hole), 1.0);
        // The frame's edge is not a covered neighbour.
        assert_eq!(feather((4, 4), 0, 0, &|_, _| true), 1.0);
    }
}
