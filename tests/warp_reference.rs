//! The GPU warp against ../shared/docs/SPEC.md section 6, checks 1-3, and against a CPU
//! reference of the same splat (tests/warp_reference.rs::reference). Exact where the maths
//! is exact; the views are rgba8unorm, so colours compare within half an 8-bit step.

mod common;

use stereosplat::gpu::{Warper, read_texture};
use stereosplat::stereo::DepthRange;
use stereosplat::stereo::{Eye, FillMode, StereoParams};

const TOL: f32 = 0.5 / 255.0 + 1e-4;

struct WarpOut {
    /// Warped view before filling; alpha 0 = hole.
    warped: Vec<[f32; 4]>,
    filled: Vec<[f32; 4]>,
}

/// Runs the GPU warp on an RGBA8 image and a nearness map (0 far .. 1 near).
fn gpu_warp(
    rgba: &[u8],
    nearness: &[f32],
    (w, h): (u32, u32),
    stereo: StereoParams,
) -> Vec<WarpOut> {
    let ctx = common::gpu();
    let mut warper = Warper::new(ctx, &Default::default()).expect("pipelines");
    warper.prepare(ctx, (w, h), (w, h), stereo.eye);
    let raw: Vec<u8> = nearness
        .iter()
        .flat_map(|n| ((n.clamp(0.0, 1.0) * 65535.0).round() as u16).to_le_bytes())
        .collect();
    warper.upload_color(&ctx.queue, rgba, w * 4);
    warper.upload_depth(&ctx.queue, &raw, w * 2);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    warper.encode(&ctx.queue, &mut enc, &stereo, &DepthRange::default());
    ctx.queue.submit([enc.finish()]);
    let (_, warped, filled) = warper.debug_textures();
    warped
        .iter()
        .zip(filled)
        .map(|(w, f)| WarpOut {
            warped: common::view_pixels(ctx, w),
            filled: common::view_pixels(ctx, f),
        })
        .collect()
}

fn right_eye(max_disp: f32) -> StereoParams {
    StereoParams {
        max_disparity_px: max_disp,
        convergence: 0.5,
        eye: Eye::Right,
        max_stretch_px: 2.0,
        ..Default::default()
    }
}

/// Grey ramp: value x/255 in every channel.
fn ramp(w: u32, h: u32) -> Vec<u8> {
    (0..h)
        .flat_map(|_| (0..w).flat_map(|x| [x as u8, x as u8, x as u8, 255]))
        .collect()
}

#[test]
fn constant_depth_moves_every_pixel_by_exactly_d() {
    let (w, h) = (256, 8);
    let d = 7.0;
    // Nearness 1 with convergence 0.5: disparity (2*1 - 1) * d = d; the right view moves left.
    let out = &gpu_warp(
        &ramp(w, h),
        &vec![1.0; (w * h) as usize],
        (w, h),
        right_eye(d),
    )[0];
    for y in 0..h as usize {
        for t in 0..w as usize {
            let px = out.warped[y * w as usize + t];
            if t + (d as usize) < w as usize {
                assert_eq!(px[3], 1.0, "pixel ({t},{y}) should be covered");
                let want = (t as f32 + d) / 255.0;
                assert!(
                    (px[0] - want).abs() < TOL,
                    "({t},{y}) = {} want {want}",
                    px[0]
                );
            } else {
                assert_eq!(
                    px[3], 0.0,
                    "column {t} should be one of the {d} hole columns"
                );
            }
        }
    }
}

#[test]
fn fractional_shift_on_a_ramp_is_exact_in_the_interior() {
    let (w, h) = (256, 4);
    for d in [0.25f32, 2.5, 3.75, 10.125] {
        let out = &gpu_warp(
            &ramp(w, h),
            &vec![1.0; (w * h) as usize],
            (w, h),
            right_eye(d),
        )[0];
        for t in 1..(w as usize - d.ceil() as usize - 1) {
            let px = out.warped[t];
            let want = (t as f32 + d) / 255.0;
            assert!(
                (px[0] - want).abs() < TOL,
                "d={d}: x={t} is {} want {want}",
                px[0]
            );
        }
        // Shifting the other way (left eye) mirrors it.
        let mut left = right_eye(d);
        left.eye = Eye::Left;
        let out = &gpu_warp(&ramp(w, h), &vec![1.0; (w * h) as usize], (w, h), left)[0];
        for t in (d.ceil() as usize + 1)..(w as usize - 1) {
            let want = (t as f32 - d) / 255.0;
            assert!((out.warped[t][0] - want).abs() < TOL, "left d={d}: x={t}");
        }
    }
}

#[test]
fn no_missing_last_row_or_column_without_parallax() {
    let (w, h) = (37, 23); // odd sizes, not multiples of the workgroup
    let img: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % 251) as u8, (i * 3 % 256) as u8, 9, 255])
        .collect();
    // Nearness at the convergence plane: zero disparity everywhere. 0.5 is not a 16-bit
    // step, so converge on the step nearest to it.
    let half = 32768.0 / 65535.0;
    let stereo = StereoParams {
        convergence: half,
        ..right_eye(20.0)
    };
    let out = &gpu_warp(&img, &vec![half; (w * h) as usize], (w, h), stereo)[0];
    for (i, px) in out.warped.iter().enumerate() {
        assert_eq!(
            px[3],
            1.0,
            "pixel {i} ({}, {}) is a hole",
            i as u32 % w,
            i as u32 / w
        );
        assert!((px[0] - img[i * 4] as f32 / 255.0).abs() < TOL);
    }
}

/// Foreground square (nearness 1) over a textured background (nearness 0).
fn square_scene(w: u32, h: u32, a: u32, b: u32) -> (Vec<u8>, Vec<f32>) {
    let mut rgba = Vec::new();
    let mut near = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let inside = (a..=b).contains(&x) && (h / 4..3 * h / 4).contains(&y);
            if inside {
                rgba.extend_from_slice(&[250, 20, 20, 255]);
                near.push(1.0);
            } else {
                rgba.extend_from_slice(&[20, (x % 200) as u8 + 30, 200, 255]);
                near.push(0.0);
            }
        }
    }
    (rgba, near)
}

#[test]
fn nearer_surface_wins_outright_and_the_hole_is_2d_wide_and_filled_from_the_background() {
    // The square is wider than 2d, so no background from its left reaches the hole.
    let (w, h) = (200, 16);
    let (a, b) = (40u32, 120u32);
    let d = 20.0;
    let (rgba, near) = square_scene(w, h, a, b);
    let scanline = StereoParams {
        fill: FillMode::Scanline,
        ..right_eye(d)
    };
    let out = &gpu_warp(&rgba, &near, (w, h), scanline)[0];
    let y = (h / 2) as usize;
    let row = |t: u32| out.warped[y * w as usize + t as usize];
    // The square lands d to the left and is pure foreground colour: no blending at all.
    for t in (a - 20)..=(b - 20) {
        let px = row(t);
        assert_eq!(px[3], 1.0);
        assert!(
            (px[0] - 250.0 / 255.0).abs() < TOL && (px[1] - 20.0 / 255.0).abs() < TOL,
            "x={t}: {px:?}"
        );
    }
    // Disocclusion right of it: exactly 2d columns.
    let holes: Vec<u32> = (0..w).filter(|&t| row(t)[3] == 0.0).collect();
    let expected: Vec<u32> = (0..20).chain((b - 19)..=(b + 20)).collect();
    assert_eq!(
        holes, expected,
        "hole columns (left edge {d} px + disocclusion 2d)"
    );
    // Filled from the background side: the first background pixel right of the hole.
    let bg = row(b + 21);
    for t in (b - 19)..=(b + 20) {
        let f = out.filled[y * w as usize + t as usize];
        for c in 0..3 {
            assert!(
                (f[c] - bg[c]).abs() < TOL,
                "x={t} filled with {f:?}, background is {bg:?}"
            );
        }
    }
    // The default fill blends, but only background: no red from the square gets in.
    let blended = &gpu_warp(&rgba, &near, (w, h), right_eye(d))[0];
    for t in (b - 19)..=(b + 20) {
        let f = blended.filled[y * w as usize + t as usize];
        assert!(
            (f[0] - 20.0 / 255.0).abs() < TOL && f[2] > 0.7,
            "x={t} took foreground colour: {f:?}"
        );
    }
    // Rows above the square only move by +d (background nearness 0 -> shift +d).
    let top = |t: usize| out.warped[t];
    let source_x = 50 - 20;
    assert!((top(50)[1] - (source_x % 200 + 30) as f32 / 255.0).abs() < TOL);
}

#[test]
fn both_eyes_each_move_by_half() {
    let (w, h) = (128, 4);
    let d = 6.0;
    let stereo = StereoParams {
        eye: Eye::Both,
        ..right_eye(d)
    };
    let outs = gpu_warp(&ramp(w, h), &vec![1.0; (w * h) as usize], (w, h), stereo);
    assert_eq!(outs.len(), 2);
    // left eye: x_left = x + d/2; right eye: x_right = x - d/2
    for t in 10..100 {
        assert!((outs[0].warped[t][0] - (t as f32 - d / 2.0) / 255.0).abs() < TOL);
        assert!((outs[1].warped[t][0] - (t as f32 + d / 2.0) / 255.0).abs() < TOL);
    }
}

// ---- CPU reference of the same splat, for arbitrary depth maps -------------------------

fn pack_key(n: f32, x: u32) -> u32 {
    let q = (n.clamp(0.0, 1.0) * 262142.0 + 0.5) as u32 + 1;
    (q << 14) | (x & 0x3FFF)
}

fn same_surface(n0: f32, n1: f32, p0: f32, p1: f32, max_stretch: f32) -> bool {
    let s = p1 - p0;
    n0 >= 0.0 && n1 >= 0.0 && s > 0.0 && s <= max_stretch
}

/// Returns per pixel Some(colour) or None for a hole.
fn reference(
    rgba: &[u8],
    near: &[f32],
    w: usize,
    h: usize,
    gain: f32,
    c: f32,
    max_stretch: f32,
) -> Vec<Option<[f32; 3]>> {
    let col = |x: usize, y: usize| {
        let i = (y * w + x) * 4;
        [
            rgba[i] as f32 / 255.0,
            rgba[i + 1] as f32 / 255.0,
            rgba[i + 2] as f32 / 255.0,
        ]
    };
    let px = |x: usize, n: f32| x as f32 + gain * (n - c);
    let mut out = vec![None; w * h];
    for y in 0..h {
        let n = |x: usize| near[y * w + x];
        let mut z = vec![0u32; w];
        let mut put = |t: i64, key: u32| {
            if t >= 0 && (t as usize) < w {
                z[t as usize] = z[t as usize].max(key);
            }
        };
        for x in 0..w {
            let (n0, p0) = (n(x), px(x, n(x)));
            let right_ok =
                x + 1 < w && same_surface(n0, n(x + 1), p0, px(x + 1, n(x + 1)), max_stretch);
            if right_ok {
                let p1 = px(x + 1, n(x + 1));
                for t in (p0.ceil() as i64)..=(p1.floor() as i64) {
                    let f = ((t as f32 - p0) / (p1 - p0)).clamp(0.0, 1.0);
                    put(t, pack_key(n0 + (n(x + 1) - n0) * f, x as u32));
                }
            }
            let left_ok = x > 0 && same_surface(n(x - 1), n0, px(x - 1, n(x - 1)), p0, max_stretch);
            if !left_ok && !right_ok {
                let nl = if x > 0 { n(x - 1) } else { n0 };
                let nr = if x + 1 < w { n(x + 1) } else { n0 };
                let on_ramp = (nl < n0 && n0 < nr) || (nl > n0 && n0 > nr);
                if !on_ramp {
                    put(p0.round() as i64, pack_key(n0, x as u32));
                }
            }
        }
        for t in 0..w {
            if z[t] == 0 {
                continue;
            }
            let x = (z[t] & 0x3FFF) as usize;
            let mut c0 = col(x, y);
            if x + 1 < w {
                let (p0, p1) = (px(x, n(x)), px(x + 1, n(x + 1)));
                if same_surface(n(x), n(x + 1), p0, p1, max_stretch) {
                    let f = ((t as f32 - p0) / (p1 - p0)).clamp(0.0, 1.0);
                    let c1 = col(x + 1, y);
                    for k in 0..3 {
                        c0[k] += (c1[k] - c0[k]) * f;
                    }
                    // Compressed surface: box-filter the samples of the front surface.
                    if p1 - p0 < 1.0 {
                        let near = n(x) + (n(x + 1) - n(x)) * f;
                        let (mut sum, mut count) = ([0f32; 3], 0);
                        for s in x.saturating_sub(3)..(x + 5).min(w) {
                            let ps = px(s, n(s));
                            let d = ps - t as f32;
                            if n(s) >= 0.0
                                && (-0.5..0.5).contains(&d)
                                && (n(s) - near).abs() <= 0.02
                            {
                                let c = col(s, y);
                                for k in 0..3 {
                                    sum[k] += c[k];
                                }
                                count += 1;
                            }
                        }
                        if count >= 2 {
                            c0 = sum.map(|v| v / count as f32);
                        }
                    }
                }
            }
            out[y * w + t] = Some(c0);
        }
    }
    out
}

#[test]
fn gpu_matches_the_cpu_reference_on_a_rough_scene() {
    let (w, h) = (200usize, 40usize);
    // Smooth hills plus two hard steps, so segments stretch, fold and break.
    let mut near = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let hills = 0.3 + 0.2 * ((x as f32 * 0.07).sin() * (y as f32 * 0.2).cos());
            let step = if (50..80).contains(&x) {
                0.45
            } else if (120..125).contains(&x) {
                0.4
            } else {
                0.0
            };
            // Quantise as the 16-bit upload does, so both sides see the same values.
            near[y * w + x] = (((hills + step) * 65535.0).round()) / 65535.0;
        }
    }
    let rgba: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            [
                (i * 13 % 256) as u8,
                (i * 7 % 256) as u8,
                (i / w * 5) as u8,
                255,
            ]
        })
        .collect();
    let d = 13.0;
    let gpu = &gpu_warp(&rgba, &near, (w as u32, h as u32), right_eye(d))[0];
    let cpu = reference(&rgba, &near, w, h, -2.0 * d, 0.5, 2.0);
    let mut mask_mismatch = 0;
    let mut holes = 0;
    for (i, (g, c)) in gpu.warped.iter().zip(&cpu).enumerate() {
        let g = *g;
        match *c {
            None => {
                holes += 1;
                mask_mismatch += usize::from(g[3] != 0.0);
            }
            Some(c) if g[3] == 1.0 => {
                for k in 0..3 {
                    assert!((g[k] - c[k]).abs() < TOL, "pixel {i}: gpu {g:?} cpu {c:?}");
                }
            }
            Some(_) => mask_mismatch += 1,
        }
    }
    assert!(
        holes > 100,
        "the scene should have disocclusions ({holes} holes)"
    );
    // Float rounding may flip a segment exactly at the stretch limit; allow a handful.
    assert!(
        mask_mismatch <= 4,
        "{mask_mismatch} pixels differ in coverage"
    );
}

#[test]
fn a_frame_shifted_entirely_off_screen_fills_black_without_stalling() {
    // Every pixel lands outside the frame: all holes, nothing to fill from. The fill is
    // linear per row, so this is as cheap as any other frame.
    let (w, h) = (64, 8);
    let out = &gpu_warp(
        &ramp(w, h),
        &vec![1.0; (w * h) as usize],
        (w, h),
        right_eye(100.0),
    )[0];
    assert!(out.warped.iter().all(|p| p[3] == 0.0));
    assert!(
        out.filled
            .iter()
            .all(|p| p[..3] == [0.0, 0.0, 0.0] && p[3] == 1.0)
    );
}

#[test]
fn dilation_grows_the_foreground_by_the_radius() {
    let ctx = common::gpu();
    let (w, h) = (32u32, 9u32);
    // One near pixel in the middle of a far background.
    let near: Vec<f32> = (0..w * h)
        .map(|i| if i == 4 * w + 16 { 1.0 } else { 0.0 })
        .collect();
    let raw: Vec<u8> = near
        .iter()
        .flat_map(|n| ((n * 65535.0) as u16).to_le_bytes())
        .collect();
    let stereo = StereoParams {
        dilate_px: 2,
        ..right_eye(4.0)
    };
    let mut warper = Warper::new(ctx, &Default::default()).unwrap();
    warper.prepare(ctx, (w, h), (w, h), stereo.eye);
    warper.upload_color(&ctx.queue, &ramp(w, h), w * 4);
    warper.upload_depth(&ctx.queue, &raw, w * 2);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    warper.encode(&ctx.queue, &mut enc, &stereo, &DepthRange::default());
    ctx.queue.submit([enc.finish()]);
    let nearness = common::r32f(&read_texture(ctx, warper.debug_textures().0));
    for y in 0..h {
        for x in 0..w {
            let inside = x.abs_diff(16) <= 2 && y.abs_diff(4) <= 2;
            let v = nearness[(y * w + x) as usize];
            assert_eq!(v, if inside { 1.0 } else { 0.0 }, "({x}, {y})");
        }
    }
}

#[test]
fn compressed_surfaces_are_box_filtered_not_point_sampled() {
    // One-pixel black/white stripes on a surface slanted so the right view compresses it
    // to half its width: two source pixels per output pixel. Point sampling would give
    // pure black or white (aliasing); the visible surface's samples average to grey.
    let (w, h) = (160u32, 2u32);
    let rgba: Vec<u8> = (0..h)
        .flat_map(|_| {
            (0..w).flat_map(|x| {
                let v = if x % 2 == 0 { 0 } else { 255 };
                [v, v, v, 255]
            })
        })
        .collect();
    // Nearness rises 1/80 per column: with max_disp 20 the shift changes by -0.5 px per
    // column; converging at 0.5025 puts source x at x/2 + 20.1: each output pixel in
    // 21..60 gets exactly two samples (at -0.4 and +0.1), clear of the pixel borders.
    // Interpolating at the centre alone would give 0.2 or 0.8.
    let near: Vec<f32> = (0..w * h)
        .map(|i| ((i % w) as f32 / 80.0).min(1.0))
        .collect();
    let stereo = StereoParams {
        convergence: 0.5025,
        ..right_eye(20.0)
    };
    let out = &gpu_warp(&rgba, &near, (w, h), stereo)[0];
    let mut checked = 0;
    for t in 24..56usize {
        let px = out.warped[t];
        if px[3] == 0.0 {
            continue;
        }
        assert!(
            (px[0] - 0.5).abs() < 0.15,
            "x={t}: {} should be grey",
            px[0]
        );
        checked += 1;
    }
    assert!(checked > 20, "too few covered pixels ({checked})");
}

/// Nearness after depth prep of a low-resolution depth map upsampled to the frame.
fn upsampled_nearness(
    rgba: &[u8],
    size: (u32, u32),
    depth: &[u16],
    dsize: (u32, u32),
    guided: bool,
) -> Vec<f32> {
    let ctx = common::gpu();
    let stereo = StereoParams {
        guided_upsample: guided,
        ..right_eye(4.0)
    };
    let mut warper = Warper::new(ctx, &Default::default()).unwrap();
    warper.prepare(ctx, size, dsize, stereo.eye);
    let raw: Vec<u8> = depth.iter().flat_map(|v| v.to_le_bytes()).collect();
    warper.upload_color(&ctx.queue, rgba, size.0 * 4);
    warper.upload_depth(&ctx.queue, &raw, dsize.0 * 2);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    let range = DepthRange {
        min: 0.0,
        max: 1.0,
        ..Default::default()
    };
    warper.encode(&ctx.queue, &mut enc, &stereo, &range);
    ctx.queue.submit([enc.finish()]);
    common::r32f(&read_texture(ctx, warper.debug_textures().0))
}

#[test]
fn guided_upsampling_puts_depth_edges_on_the_frames_edges() {
    // A 64x16 frame: dark on the left, bright from x = 26 (not on the 4-pixel grid of
    // the quarter-size depth). The depth was estimated at 16x4: near where the frame is
    // bright, with the boundary texel (x 24..27 of the frame) half way, as a model's
    // output is at an edge.
    let (w, h) = (64u32, 16u32);
    let edge = 26;
    let rgba: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let v = if i % w >= edge { 230 } else { 20 };
            [v, v, v, 255]
        })
        .collect();
    let depth: Vec<u16> = (0..16 * 4)
        .map(|i| match i % 16 {
            x if x < 6 => 0,
            6 => 32768,
            _ => 65535,
        })
        .collect();
    let bilinear = upsampled_nearness(&rgba, (w, h), &depth, (16, 4), false);
    let guided = upsampled_nearness(&rgba, (w, h), &depth, (16, 4), true);
    let row = 8 * w as usize;
    // Bilinear leaks the near surface into the dark (far) side of the edge, so those
    // pixels would be torn along with the foreground; guided stops exactly at the colour
    // edge (the bright side still blends the boundary texel's own mixed value).
    let leaked = |n: &[f32]| (0..edge as usize).filter(|&x| n[row + x] > 0.1).count();
    assert!(
        leaked(&bilinear) >= 2,
        "bilinear: {:?}",
        &bilinear[row..row + w as usize]
    );
    assert_eq!(
        leaked(&guided),
        0,
        "guided: {:?}",
        &guided[row..row + w as usize]
    );
    for x in edge as usize..w as usize {
        let n = guided[row + x];
        assert!(
            n >= 0.5,
            "x {x}: {n} (the bright side comes near from the edge on)"
        );
    }
    // Away from edges, and at equal sizes, guided and bilinear agree.
    assert!((guided[row + 50] - bilinear[row + 50]).abs() < 1e-6);
    assert!((guided[row + 5] - bilinear[row + 5]).abs() < 1e-6);
}

#[test]
fn a_half_size_warp_shifts_by_the_same_frame_disparity() {
    // Frame 128 wide, warped at 64 (a half-SBS eye): the frame is averaged in pairs and
    // the shift, given in frame pixels, halves. Constant nearness 1, convergence 0.5,
    // max_disp 6: the right view moves 6 frame pixels = 3 warp pixels left.
    let (w, h) = (128u32, 4u32);
    let ctx = common::gpu();
    let mut warper = Warper::new(ctx, &Default::default()).expect("pipelines");
    let stereo = right_eye(6.0);
    warper.prepare_at(ctx, (w, h), (w, h), stereo.eye, (w / 2, h));
    warper.upload_color(&ctx.queue, &ramp(w, h), w * 4);
    let raw: Vec<u8> = (0..w * h).flat_map(|_| 65535u16.to_le_bytes()).collect();
    warper.upload_depth(&ctx.queue, &raw, w * 2);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    // Relative depth normalised over [0, 1]: stored 65535 is nearness 1.
    warper.encode(&ctx.queue, &mut enc, &stereo, &DepthRange::default());
    ctx.queue.submit([enc.finish()]);
    assert_eq!(warper.work_size(), Some((w / 2, h)));
    let (_, _, filled) = warper.debug_textures();
    let view = common::view_pixels(ctx, filled[0]);
    for (t, px) in view.iter().enumerate().take((w / 2 - 4) as usize) {
        // Warp pixel t shows the pair average of frame pixels 2(t+3) and 2(t+3)+1.
        let want = (2.0 * (t as f32 + 3.0) + 0.5) / 255.0;
        let got = px[0];
        assert!((got - want).abs() < TOL, "t={t}: {got} vs {want}");
    }
}
