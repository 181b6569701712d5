//! The CPU warp (stereosplat::cpu) against the GPU passes it mirrors: the same frame,
//! depth and settings through Warper + Composer (+ YuvPacker) on the GPU and through
//! CpuWarper + CpuComposer must give the same output frame. Both store 8-bit values, and
//! float rounding may flip a segment at the stretch limit, so the comparison allows one
//! level almost everywhere and a few pixels more.

mod common;

use stereosplat::cpu::{CpuComposer, CpuWarper, DepthFormat, RawDepth, Rgba};
use stereosplat::frame::YuvMatrix;
use stereosplat::gpu::{
    AdapterChoice, Composer, GpuContext, PassTimer, ShaderSet, Warper, YuvPacker, read_texture,
};
use stereosplat::layout::{Anaglyph, Canvas, Layout, Rect};
use stereosplat::media::encode::FrameInput;
use stereosplat::stereo::DepthRange;
use stereosplat::stereo::{
    DepthCurve, DepthKind, Eye, FillMode, Shape, StereoParams, frame_params,
};

#[derive(Clone)]
struct Case {
    frame: (u32, u32),
    depth_size: (u32, u32),
    layout: Layout,
    stereo: StereoParams,
    range: DepthRange,
    even: bool,
    i420: bool,
    /// Metric depth: leave holes of unknown depth (stored 0).
    unknown_patches: bool,
    /// Depth in the metric depth toolbox's RGB encoding (value R * 256 + B).
    rgb_depth: bool,
    /// 8-bit grey depth: the GPU gets it widened (v * 257), the CPU as it is.
    gray8: bool,
    /// Instead of the scene: one slope, 0 at the left edge to this at the right.
    ramp: Option<f32>,
    /// `--floating-window` bands and the frame around the picture (`--autocrop`).
    window: [f32; 2],
    canvas: Option<Canvas>,
}

fn case(frame: (u32, u32), layout: Layout) -> Case {
    Case {
        frame,
        depth_size: frame,
        layout,
        stereo: StereoParams {
            max_disparity_px: 9.0,
            convergence: 0.4,
            eye: Eye::Right,
            ..Default::default()
        },
        range: DepthRange::default(),
        even: false,
        i420: false,
        unknown_patches: false,
        rgb_depth: false,
        gray8: false,
        ramp: None,
        window: [0.0; 2],
        canvas: None,
    }
}

/// Textured frame: stripes, a gradient and noise-like hashes, so every resampling and
/// interpolation error shows.
fn frame(size: (u32, u32)) -> Vec<u8> {
    let (w, h) = (size.0 as usize, size.1 as usize);
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let hash = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) % 97;
            [
                (x * 255 / w) as u8,
                ((y * 7 + hash) % 256) as u8,
                if (x / 3 + y / 5) % 2 == 0 { 40 } else { 210 },
                255,
            ]
        })
        .collect()
}

/// 16-bit depth: smooth hills plus hard steps (a near box and a thin pole), a steep slope
/// (compressed to a fifth in the right eye: the box filter's whole reach) and a soft
/// edge (its ramp pixels are flying pixels), so segments stretch, compress, fold and break.
fn depth(c: &Case) -> Vec<u8> {
    let (w, h) = (c.depth_size.0 as usize, c.depth_size.1 as usize);
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let hills = 0.3 + 0.2 * ((u * 14.0).sin() * (v * 9.0).cos());
            let step = if (0.25..0.4).contains(&u) && (0.2..0.8).contains(&v) {
                0.45
            } else if (0.6..0.62).contains(&u) {
                0.35
            } else if (0.05..0.2).contains(&u) {
                // Gentle: compressed only by large disparities, and then many samples
                // per pixel are within the box filter's depth tolerance.
                (u - 0.05) / 0.15 * 0.14
            } else if (0.45..0.52).contains(&u) {
                (u - 0.45) / 0.07 * 0.5
            } else if (0.80..0.85).contains(&u) {
                0.45
            } else if (0.85..0.87).contains(&u) {
                0.45 * (0.87 - u) / 0.02
            } else {
                0.0
            };
            let scene = c.ramp.map_or(hills + step, |top| u * top);
            let mut value = (scene * 65535.0) as u16;
            if c.unknown_patches && (0.7..0.8).contains(&u) && (0.4..0.6).contains(&v) {
                value = 0;
            }
            if c.rgb_depth {
                let [lo, hi] = value.to_le_bytes();
                vec![hi, hi, lo, 255]
            } else if c.gray8 {
                (value / 257 * 257).to_le_bytes().to_vec()
            } else {
                value.to_le_bytes().to_vec()
            }
        })
        .collect()
}

fn depth_bpp(c: &Case) -> u32 {
    if c.rgb_depth { 4 } else { 2 }
}

fn work_size(c: &Case) -> (u32, u32) {
    c.layout.shown_eye_size(c.frame.0, c.frame.1)
}

fn gpu(c: &Case, rgba: &[u8], raw: &[u8]) -> Vec<u8> {
    gpu_on(common::gpu(), c, rgba, raw).0
}

/// The GPU's output frame, and how many bands of rows the warp ran in.
fn gpu_on(ctx: &GpuContext, c: &Case, rgba: &[u8], raw: &[u8]) -> (Vec<u8>, usize) {
    let mut warper = Warper::new(ctx, &ShaderSet::Embedded).expect("pipelines");
    warper.set_rgb_depth(c.rgb_depth);
    warper.prepare_at(ctx, c.frame, c.depth_size, c.stereo.eye, work_size(c));
    let mut composer = Composer::new(ctx, &ShaderSet::Embedded).expect("pipelines");
    composer.set_canvas(c.canvas);
    composer.set_window(c.window[0], c.window[1]);
    composer
        .prepare(ctx, &warper, c.layout, Anaglyph::Dubois, c.even)
        .expect("layout");
    warper.upload_color(&ctx.queue, rgba, c.frame.0 * 4);
    warper.upload_depth(&ctx.queue, raw, c.depth_size.0 * depth_bpp(c));
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    warper.encode(&ctx.queue, &mut enc, &c.stereo, &c.range);
    composer.encode(&ctx.queue, &mut enc);
    ctx.queue.submit([enc.finish()]);
    let bands = warper.bands();
    if !c.i420 {
        return (read_texture(ctx, composer.output_texture()), bands);
    }
    let size = composer.output_size();
    let mut packer = YuvPacker::new(ctx, &ShaderSet::Embedded).expect("pipeline");
    packer.prepare(ctx, composer.output_view(), size, 1, matrix(size));
    let len = u64::from(packer.layout().len);
    let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: len,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    packer.encode(&mut enc, &mut PassTimer::disabled());
    enc.copy_buffer_to_buffer(packer.planes(), 0, &read, 0, len);
    ctx.queue.submit([enc.finish()]);
    read.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    (read.slice(..).get_mapped_range().unwrap().to_vec(), bands)
}

fn matrix(size: (u32, u32)) -> YuvMatrix {
    YuvMatrix::for_height(size.1)
}

fn cpu(c: &Case, rgba: &[u8], raw: &[u8]) -> (Vec<u8>, CpuWarper) {
    let work = work_size(c);
    // 8-bit depth: the high bytes of the widened values the GPU gets.
    let narrow: Vec<u8> = raw.chunks_exact(2).map(|v| v[1]).collect();
    let (raw, bpp) = if c.gray8 {
        (narrow.as_slice(), 1)
    } else {
        (raw, depth_bpp(c))
    };
    let mut warper = CpuWarper::new(c.frame, c.depth_size, c.stereo.eye, work);
    let params = frame_params(&c.stereo, &c.range, c.frame, work, c.depth_size);
    let frame_in = Rgba {
        data: rgba,
        stride: c.frame.0 as usize * 4,
        size: c.frame,
    };
    warper.warp(
        frame_in,
        RawDepth {
            data: raw,
            stride: (c.depth_size.0 * bpp) as usize,
            size: c.depth_size,
            format: DepthFormat::of(c.rgb_depth, c.gray8),
        },
        &params,
    );
    let (out, _) = c.layout.frame_sizes(c.frame, c.even);
    let input = if c.i420 {
        FrameInput::I420(matrix(out))
    } else {
        FrameInput::Rgba
    };
    let mut composer = CpuComposer::new(c.layout, Anaglyph::Dubois, c.frame, work, c.even, input);
    if let Some(canvas) = c.canvas {
        composer = composer.with_canvas(canvas);
    }
    composer.set_window(c.window);
    let bytes = composer.compose(&warper, frame_in).to_vec();
    (bytes, warper)
}

/// Runs both and checks they agree; returns the CPU warper for further checks.
fn agree(name: &str, c: &Case) -> CpuWarper {
    let rgba = frame(c.frame);
    let raw = depth(c);
    let g = gpu(c, &rgba, &raw);
    let (k, warper) = cpu(c, &rgba, &raw);
    assert_eq!(g.len(), k.len(), "{name}: output sizes differ");
    let diffs: Vec<u8> = g.iter().zip(&k).map(|(a, b)| a.abs_diff(*b)).collect();
    let over_one = diffs.iter().filter(|&&d| d > 1).count();
    let max = diffs.iter().copied().max().unwrap_or(0);
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    eprintln!("{name}: mean diff {mean:.4}, max {max}, {over_one} bytes over 1 level");
    // A flipped segment changes a few pixels of one row; anything systematic (a wrong
    // formula, an off-by-one in a layout) changes thousands.
    assert!(
        over_one * 500 <= diffs.len(),
        "{name}: {over_one} of {} bytes differ by more than one level (max {max})",
        diffs.len()
    );
    assert!(mean < 0.05, "{name}: mean difference {mean:.4} levels");
    warper
}

#[test]
fn every_cpu_layout_matches_the_gpu() {
    for layout in [
        Layout::Sbs,
        Layout::HalfSbs,
        Layout::Tb,
        Layout::HalfTb,
        Layout::Anaglyph,
        Layout::Cross,
        Layout::HalfCross,
        Layout::Left,
        Layout::Right,
    ] {
        // Odd sides: the half layouts resample by a ratio that is not exactly 2.
        agree(&format!("{layout:?}"), &case((161, 47), layout));
    }
    // Exactly half: pairs are averaged, on the row each output row really is (54 rows
    // put some float tap positions a hair before their row).
    agree("HalfSbs 96x54", &case((96, 54), Layout::HalfSbs));
}

#[test]
fn both_eyes_scanline_fill_and_dilation_match_the_gpu() {
    let mut c = case((160, 48), Layout::Sbs);
    c.stereo.eye = Eye::Both;
    agree("both eyes", &c);
    c.stereo.fill = FillMode::Scanline;
    agree("scanline", &c);
    c.stereo.fill = FillMode::Background;
    c.stereo.dilate_px = 3;
    agree("dilation", &c);
    c.stereo.eye = Eye::Left;
    c.stereo.edge_threshold = 0.1;
    agree("left eye, edge threshold", &c);
    let mut c = case((200, 24), Layout::Sbs);
    c.stereo.max_disparity_px = 60.0;
    agree("strong parallax", &c);
}

#[test]
fn a_frame_whose_z_buffer_exceeds_one_binding_warps_in_bands_like_in_one() {
    // A device whose storage bindings hold 20 rows of this frame's z-buffer stands in
    // for a GPU too small for the frame (8K DCI under Direct3D 12, where bindings stop
    // at 128 MiB): 90 rows run in bands of 20, 20, 20, 20 and 10.
    let mut c = case((96, 90), Layout::Sbs);
    c.stereo.eye = Eye::Both;
    c.stereo.dilate_px = 2;
    let small = GpuContext::with_limits(&AdapterChoice::Auto, |l| {
        l.max_storage_buffer_binding_size = u64::from(c.frame.0) * 4 * 20;
    })
    .expect("a device with lower limits");
    let rgba = frame(c.frame);
    let raw = depth(&c);
    for fill in [FillMode::Background, FillMode::Scanline] {
        c.stereo.fill = fill;
        let (whole, one) = gpu_on(common::gpu(), &c, &rgba, &raw);
        let (banded, bands) = gpu_on(&small, &c, &rgba, &raw);
        assert_eq!((one, bands), (1, 5), "{fill:?}");
        // Bit for bit: the splat only moves pixels along their rows, and the column
        // fill sees every row whatever the bands.
        assert!(banded == whole, "{fill:?}: the banded warp differs");
    }
    assert!(small.check_errors().is_ok());
}

#[test]
fn guided_upsampling_and_metric_depth_match_the_gpu() {
    let mut c = case((160, 48), Layout::HalfSbs);
    c.depth_size = (40, 12);
    let warper = agree("guided", &c);
    assert!(
        warper
            .nearness()
            .windows(2)
            .any(|p| (p[0] - p[1]).abs() > 0.2),
        "the scene has depth edges"
    );
    c.stereo.guided_upsample = false;
    agree("bilinear", &c);
    c.gray8 = true;
    agree("8-bit depth", &c);

    let mut m = case((160, 48), Layout::Sbs);
    m.unknown_patches = true;
    m.range = DepthRange {
        kind: DepthKind::Metric,
        value_scale: 20.0 / 65535.0,
        q_max: 0.2,
        ..Default::default()
    };
    m.stereo.camera.fx_px = 1500.0;
    m.stereo.camera.convergence_m = Some(15.0);
    let warper = agree("metric", &m);
    assert!(
        warper.nearness().iter().any(|&q| q < 0.0),
        "unknown depth stays unknown"
    );
    let holes = warper.warped()[0]
        .chunks_exact(4)
        .filter(|p| p[3] == 0)
        .count();
    assert!(holes > 50, "the metric scene has disocclusions ({holes})");
    m.rgb_depth = true;
    m.range.rgb_encoded = true;
    agree("metric, RGB-encoded", &m);

    // Disparity in pixels from depth larger than the frame (averaged down).
    let mut d = case((160, 48), Layout::HalfTb);
    d.depth_size = (320, 96);
    d.range = DepthRange {
        kind: DepthKind::Disparity,
        value_scale: 12.0 / 65535.0,
        q_max: 12.0,
        ..Default::default()
    };
    d.stereo.convergence_px = 4.0;
    agree("disparity, larger depth", &d);
}

#[test]
fn depth_curves_foreground_scale_and_border_match_the_gpu() {
    // Every curve, with and without a foreground scale, on the textured scene, and the
    // border band on both eyes: the CPU's shaping and column weights must be the
    // shader's. The near half of the scene sits between nearness 0.3 and 1.
    for curve in DepthCurve::ALL
        .into_iter()
        .chain([DepthCurve::Inverse(-0.7)])
    {
        for foreground_scale in [1.0, 2.5] {
            let mut c = case((160, 48), Layout::Sbs);
            c.stereo.shape = Shape {
                curve,
                foreground_scale,
            };
            let warper = agree(&format!("{curve} foreground {foreground_scale}"), &c);
            // And the formula itself: the nearness the CPU computed is the shaped
            // normalisation of the stored value (the frame and depth are the same size).
            let raw = depth(&c);
            let shape = c.stereo.shape;
            for (i, &n) in warper.nearness().iter().enumerate() {
                let v = f32::from(u16::from_le_bytes([raw[2 * i], raw[2 * i + 1]])) / 65535.0;
                let want = shape.apply(v);
                assert!(
                    (n - want).abs() < 1e-5,
                    "{curve}, {foreground_scale}: pixel {i}: {n} against {want}"
                );
            }
        }
    }
    let mut c = case((160, 48), Layout::Sbs);
    c.stereo.border_pct = Some(12.0);
    c.stereo.max_disparity_px = 14.0;
    agree("border", &c);
    c.stereo.eye = Eye::Both;
    agree("border, both eyes", &c);
}

#[test]
fn floating_window_bands_and_bars_around_the_picture_match_the_gpu() {
    // Bands of 9.4 % (the left eye's left edge) and 4.3 % (the right eye's right edge),
    // then the picture inside bars (a 200x60 frame holding it at 20, 6), in every layout
    // that shows eyes.
    for layout in [
        Layout::Sbs,
        Layout::HalfSbs,
        Layout::Tb,
        Layout::HalfTb,
        Layout::Anaglyph,
        Layout::Cross,
        Layout::Left,
        Layout::Right,
    ] {
        let mut c = case((160, 48), layout);
        c.window = [0.094, 0.043];
        agree(&format!("{layout:?}, floating window"), &c);
        if layout == Layout::Sbs {
            // 15.04 px of the left eye's left edge and 6.88 px of the right eye's right
            // edge are black; the pixel the band ends in is darkened by its share.
            let (out, _) = cpu(&c, &frame(c.frame), &depth(&c));
            let (full, _) = cpu(&case((160, 48), layout), &frame(c.frame), &depth(&c));
            let px = |img: &[u8], x: usize, y: usize| img[(y * 320 + x) * 4] as f32;
            for y in 0..48 {
                assert!((0..15).all(|x| px(&out, x, y) == 0.0), "row {y}: left band");
                assert!(
                    (314..320).all(|x| px(&out, x, y) == 0.0),
                    "row {y}: right band"
                );
                assert!((px(&out, 15, y) - px(&full, 15, y) * 0.96).abs() <= 1.0);
                assert!((px(&out, 313, y) - px(&full, 313, y) * 0.12).abs() <= 1.0);
                assert_eq!(px(&out, 16, y), px(&full, 16, y));
                assert_eq!(px(&out, 160, y), px(&full, 160, y), "right eye's left edge");
            }
        }
        c.canvas = Some(Canvas {
            size: (200, 60),
            picture: Rect {
                x: 20,
                y: 6,
                w: 160,
                h: 48,
            },
        });
        agree(&format!("{layout:?}, bars and window"), &c);
        if layout == Layout::Tb {
            // Bars: rows 0..6 and 54..60 of each eye and columns 0..20, 180..200 black.
            let (out, _) = cpu(&c, &frame(c.frame), &depth(&c));
            let px = |x: usize, y: usize| &out[(y * 200 + x) * 4..][..3];
            for y in (0..6).chain(54..66).chain(114..120) {
                assert!((0..200).all(|x| px(x, y) == [0, 0, 0]), "bar row {y}");
            }
            for y in 6..54 {
                assert!((0..20).chain(180..200).all(|x| px(x, y) == [0, 0, 0]));
                assert_ne!(px(100, y), [0, 0, 0]);
            }
        }
        c.i420 = true;
        c.even = true;
        agree(&format!("{layout:?}, bars, I420"), &c);
    }
}

#[test]
fn i420_output_and_even_padding_match_the_gpu() {
    let mut c = case((161, 47), Layout::Sbs);
    c.even = true;
    agree("padded rgba", &c);
    let mut c = case((160, 48), Layout::HalfSbs);
    c.i420 = true;
    agree("i420 half-sbs", &c);
    let mut c = case((162, 46), Layout::Anaglyph);
    c.i420 = true;
    agree("i420 anaglyph", &c);
}

#[test]
fn strongly_compressed_surfaces_are_averaged_like_the_gpu() {
    // A slope so steep that about 12 (then 60) source pixels land in each target pixel of
    // the right eye, all within the depth tolerance of one surface: warp_resolve.wgsl
    // averages those within GATHER pixels to each side. The CPU must reach exactly as
    // far (with a reach of 2 instead of 3, over a thousand bytes here differ by up to 26
    // levels), so the test allows no more than rounding.
    for disparity in [110.0, 118.0] {
        let mut c = case((240, 6), Layout::Right);
        c.ramp = Some(1.0);
        c.stereo.max_disparity_px = disparity;
        c.stereo.convergence = 0.0;
        let rgba = frame(c.frame);
        let raw = depth(&c);
        let g = gpu(&c, &rgba, &raw);
        let (k, _) = cpu(&c, &rgba, &raw);
        let worst = g.iter().zip(&k).map(|(a, b)| a.abs_diff(*b)).max();
        let over_one = g
            .iter()
            .zip(&k)
            .filter(|(a, b)| a.abs_diff(**b) > 1)
            .count();
        assert!(
            over_one <= 4,
            "max disparity {disparity}: {over_one} bytes differ (worst {worst:?})"
        );
    }
}

#[test]
fn decoded_planes_warp_exactly_like_their_rgba() {
    // The render hands the CPU warp the decoder's I420 planes: converted at the frame size
    // (full layouts), straight to half width (half-SBS) or converted then resampled
    // (half-TB). Each must equal the warp of the same frame converted beforehand.
    let size = (64u32, 36u32);
    let (w, h) = (size.0 as usize, size.1 as usize);
    let rgba = frame(size);
    // Planes from the textured frame: luma from green, chroma from red and blue.
    let y: Vec<u8> = rgba.chunks_exact(4).map(|p| p[1]).collect();
    let chroma = |c: usize| -> Vec<u8> {
        (0..(w / 2) * (h / 2))
            .map(|i| rgba[((i / (w / 2)) * 2 * w + (i % (w / 2)) * 2) * 4 + c])
            .collect()
    };
    let (u, v) = (chroma(0), chroma(2));
    let pixels = stereosplat::frame::FramePixels::I420 {
        planes: [(&y, size.0), (&u, size.0 / 2), (&v, size.0 / 2)],
        colours: stereosplat::frame::YuvColours {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        },
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut converted = Vec::new();
    stereosplat::cpu::yuv_to_rgba(&pixels, size, &mut converted, &pool);
    let converted: &[u8] = bytemuck::cast_slice(&converted);
    for layout in [Layout::HalfSbs, Layout::HalfTb, Layout::Sbs] {
        let c = case(size, layout);
        let raw = depth(&c);
        let work = work_size(&c);
        let params = frame_params(&c.stereo, &c.range, size, work, size);
        let run = |input: stereosplat::cpu::FrameIn<'_>| {
            let mut warper = CpuWarper::new(size, size, c.stereo.eye, work);
            let raw = RawDepth {
                data: &raw,
                stride: w * 2,
                size,
                format: DepthFormat::Gray16,
            };
            warper.warp(input, raw, &params);
            let mut composer = CpuComposer::new(
                layout,
                Anaglyph::Dubois,
                size,
                work,
                false,
                FrameInput::Rgba,
            );
            composer.compose(&warper, input).to_vec()
        };
        let from_planes = run((&pixels).into());
        let from_rgba = run(Rgba {
            data: converted,
            stride: w * 4,
            size,
        }
        .into());
        assert_eq!(from_planes.len(), from_rgba.len(), "{layout:?}");
        let differ = from_planes.iter().zip(&from_rgba).filter(|(a, b)| a != b);
        assert_eq!(differ.count(), 0, "{layout:?}: bytes differ");
    }
}
