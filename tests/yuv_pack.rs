//! The GPU's colour conversions against CPU references: RGBA -> I420 for the encoder
//! (gpu::YuvPacker, whose plane layout must also be GStreamer's), and decoded I420 / NV12
//! -> RGBA for the warp (Warper::upload_frame).

mod common;

use gstreamer as gst;
use gstreamer_video as gst_video;
use stereosplat::frame::{FramePixels, I420Layout, YuvColours, YuvMatrix};
use stereosplat::gpu::{PassTimer, ShaderSet, Warper, YuvPacker, read_texture};
use stereosplat::stereo::DepthRange;
use stereosplat::stereo::{Eye, StereoParams};

/// Limited-range Y'CbCr of one R'G'B' pixel (0..1), as code values.
fn reference(rgb: [f32; 3], kr: f32, kb: f32) -> [f32; 3] {
    let y = kr * rgb[0] + (1.0 - kr - kb) * rgb[1] + kb * rgb[2];
    [
        16.0 + 219.0 * y,
        128.0 + 224.0 * (rgb[2] - y) / (2.0 * (1.0 - kb)),
        128.0 + 224.0 * (rgb[0] - y) / (2.0 * (1.0 - kr)),
    ]
}

fn pack(rgba: &[u8], size: (u32, u32), matrix: YuvMatrix) -> (I420Layout, Vec<u8>) {
    let ctx = common::gpu();
    let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    ctx.queue.write_texture(
        texture.as_image_copy(),
        rgba,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(size.0 * 4),
            rows_per_image: Some(size.1),
        },
        texture.size(),
    );
    let mut packer = YuvPacker::new(ctx, &ShaderSet::Embedded).expect("pipeline");
    packer.prepare(
        ctx,
        &texture.create_view(&Default::default()),
        size,
        1,
        matrix,
    );
    let layout = packer.layout();
    let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: u64::from(layout.len),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    packer.encode(&mut enc, &mut PassTimer::disabled());
    enc.copy_buffer_to_buffer(packer.planes(), 0, &read, 0, u64::from(layout.len));
    ctx.queue.submit([enc.finish()]);
    read.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let bytes = read.slice(..).get_mapped_range().unwrap().to_vec();
    (layout, bytes)
}

#[test]
fn planes_match_the_cpu_reference() {
    // 26 wide: rows are padded to 28 bytes and the last 8x2 block overhangs the row.
    for (size, matrix, (kr, kb)) in [
        ((26u32, 6u32), YuvMatrix::Bt601, (0.299, 0.114)),
        ((64, 4), YuvMatrix::Bt709, (0.2126, 0.0722)),
        ((2, 2), YuvMatrix::Bt709, (0.2126, 0.0722)),
    ] {
        let (w, h) = (size.0 as usize, size.1 as usize);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = (i * 2654435761) as u32;
                [v as u8, (v >> 8) as u8, (v >> 16) as u8, 255]
            })
            .collect();
        let (layout, bytes) = pack(&rgba, size, matrix);
        let px = |x: usize, y: usize| -> [f32; 3] {
            let i = (y * w + x) * 4;
            [0, 1, 2].map(|c| f32::from(rgba[i + c]) / 255.0)
        };
        for y in 0..h {
            for x in 0..w {
                let want = reference(px(x, y), kr, kb)[0];
                let got = f32::from(bytes[y * layout.y_stride as usize + x]);
                assert!(
                    (got - want).abs() <= 0.51,
                    "{size:?} Y at {x},{y}: {got} vs {want}"
                );
            }
        }
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                // MPEG-2 siting: [1 2 1] / 4 around the even column, mean of the two rows.
                let mut mean = [0.0f32; 3];
                let x = 2 * cx;
                for (sx, wx) in [
                    (x.saturating_sub(1), 0.25),
                    (x, 0.5),
                    ((x + 1).min(w - 1), 0.25),
                ] {
                    for dy in 0..2 {
                        let p = px(sx, 2 * cy + dy);
                        for c in 0..3 {
                            mean[c] += p[c] * wx / 2.0;
                        }
                    }
                }
                let want = reference(mean, kr, kb);
                let at = cy * layout.c_stride as usize + cx;
                let u = f32::from(bytes[layout.u_offset as usize + at]);
                let v = f32::from(bytes[layout.v_offset as usize + at]);
                assert!(
                    (u - want[1]).abs() <= 0.51,
                    "{size:?} U at {cx},{cy}: {u} vs {}",
                    want[1]
                );
                assert!(
                    (v - want[2]).abs() <= 0.51,
                    "{size:?} V at {cx},{cy}: {v} vs {}",
                    want[2]
                );
            }
        }
    }
}

#[test]
fn layout_is_gstreamers_default_i420() {
    gst::init().unwrap();
    for (w, h) in [
        (2, 2),
        (26, 6),
        (854, 480),
        (1920, 1080),
        (1922, 1082),
        (3840, 2160),
    ] {
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, w, h)
            .build()
            .unwrap();
        let ours = I420Layout::new(w, h);
        assert_eq!(info.size(), ours.len as usize, "{w}x{h} size");
        assert_eq!(info.stride()[0], ours.y_stride as i32, "{w}x{h} Y stride");
        assert_eq!(
            info.stride()[1],
            ours.c_stride as i32,
            "{w}x{h} chroma stride"
        );
        assert_eq!(info.offset()[1], ours.u_offset as usize, "{w}x{h} U offset");
        assert_eq!(info.offset()[2], ours.v_offset as usize, "{w}x{h} V offset");
    }
}

/// Limited-range BT.709 code values of an R'G'B' colour (0..255).
fn ycbcr709(rgb: [u8; 3]) -> [u8; 3] {
    let c = reference(rgb.map(|v| f32::from(v) / 255.0), 0.2126, 0.0722);
    c.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// A decoded 4:2:0 frame goes through Warper::upload_frame and comes back as RGBA.
fn unpack(pixels: &FramePixels<'_>, size: (u32, u32)) -> Vec<u8> {
    let ctx = common::gpu();
    let mut warper = Warper::new(ctx, &ShaderSet::Embedded).expect("pipelines");
    warper.prepare(ctx, size, size, Eye::Right);
    warper.upload_frame(ctx, pixels);
    warper.upload_depth(
        &ctx.queue,
        &vec![0u8; (size.0 * size.1 * 2) as usize],
        size.0 * 2,
    );
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    warper.encode(
        &ctx.queue,
        &mut enc,
        &StereoParams::default(),
        &DepthRange::default(),
    );
    ctx.queue.submit([enc.finish()]);
    read_texture(ctx, warper.frame_texture())
}

#[test]
fn decoded_i420_and_nv12_planes_become_the_right_colours_on_the_gpu() {
    // 36x8 in blocks of 4x4 flat colours (so 4:2:0 loses nothing inside them); 18 chroma
    // columns, the last one at the border. Rows padded beyond the width, as decoders do.
    let (w, h) = (36usize, 8usize);
    let colour = |x: usize, y: usize| -> [u8; 3] {
        let k = (x / 4 + 9 * (y / 4)) as u32;
        let v = k.wrapping_mul(2654435761);
        [v as u8, (v >> 8) as u8, (v >> 16) as u8]
    };
    // U and V with different strides, as a decoder's video meta may give them.
    let (ys, cs, vs) = (48usize, 32usize, 40usize);
    let mut y_plane = vec![0u8; ys * h];
    let mut u_plane = vec![0u8; cs * h / 2];
    let mut v_plane = vec![0u8; vs * h / 2];
    let mut uv_plane = vec![0u8; cs * 2 * h / 2];
    for y in 0..h {
        for x in 0..w {
            let [l, cb, cr] = ycbcr709(colour(x, y));
            y_plane[y * ys + x] = l;
            if x % 2 == 0 && y % 2 == 0 {
                u_plane[y / 2 * cs + x / 2] = cb;
                v_plane[y / 2 * vs + x / 2] = cr;
                uv_plane[y / 2 * cs * 2 + x] = cb;
                uv_plane[y / 2 * cs * 2 + x + 1] = cr;
            }
        }
    }
    let colours = YuvColours {
        matrix: YuvMatrix::Bt709,
        full_range: false,
    };
    let size = (w as u32, h as u32);
    let i420 = unpack(
        &FramePixels::I420 {
            planes: [
                (&y_plane, ys as u32),
                (&u_plane, cs as u32),
                (&v_plane, vs as u32),
            ],
            colours,
        },
        size,
    );
    let nv12 = unpack(
        &FramePixels::Nv12 {
            planes: [(&y_plane, ys as u32), (&uv_plane, 2 * cs as u32)],
            colours,
        },
        size,
    );
    assert_eq!(i420, nv12, "I420 and NV12 of the same frame differ");
    for y in 0..h {
        for x in 0..w {
            // Chroma is interpolated across block edges (MPEG-2 siting: a chroma sample
            // sits on even columns and between rows): only pixels whose chroma taps all
            // lie in their own block are exact.
            if x % 4 == 3 || y % 4 == 0 || y % 4 == 3 {
                continue;
            }
            let want = colour(x, y);
            let got = &i420[(y * w + x) * 4..][..3];
            for c in 0..3 {
                assert!(
                    got[c].abs_diff(want[c]) <= 3,
                    "pixel {x},{y}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

#[test]
fn the_cpu_warp_converts_i420_and_nv12_like_the_shader() {
    // Random planes, so every pixel's chroma is interpolated; odd sides too, where the
    // last chroma column and row stand alone.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut seed = 0x9E37_79B9u32;
    let mut byte = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 24) as u8
    };
    for (w, h) in [
        (36usize, 8usize),
        (37, 9),
        (64, 40),
        (1, 1),
        (3, 3),
        (5, 17),
    ] {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (ys, us, vs) = (w + 5, cw + 3, cw + 1);
        let y_plane: Vec<u8> = (0..ys * h).map(|_| byte()).collect();
        let u_plane: Vec<u8> = (0..us * ch).map(|_| byte()).collect();
        let v_plane: Vec<u8> = (0..vs * ch).map(|_| byte()).collect();
        let mut uv_plane = vec![0u8; 2 * us * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                uv_plane[cy * 2 * us + 2 * cx] = u_plane[cy * us + cx];
                uv_plane[cy * 2 * us + 2 * cx + 1] = v_plane[cy * vs + cx];
            }
        }
        for (matrix, full_range) in [(YuvMatrix::Bt709, false), (YuvMatrix::Bt601, true)] {
            let colours = YuvColours { matrix, full_range };
            let size = (w as u32, h as u32);
            let frames = [
                FramePixels::I420 {
                    planes: [
                        (&y_plane, ys as u32),
                        (&u_plane, us as u32),
                        (&v_plane, vs as u32),
                    ],
                    colours,
                },
                FramePixels::Nv12 {
                    planes: [(&y_plane, ys as u32), (&uv_plane, 2 * us as u32)],
                    colours,
                },
            ];
            for pixels in &frames {
                let gpu = unpack(pixels, size);
                let mut cpu = Vec::new();
                stereosplat::cpu::yuv_to_rgba(pixels, size, &mut cpu, &pool);
                let cpu: &[u8] = bytemuck::cast_slice(&cpu);
                assert_eq!(cpu.len(), gpu.len());
                let worst = cpu.iter().zip(&gpu).map(|(a, b)| a.abs_diff(*b)).max();
                // Rounding of exact halves may differ by one level.
                assert!(
                    worst <= Some(1),
                    "{w}x{h} {matrix:?} full {full_range}: off by {worst:?}"
                );
            }
        }
    }
}

#[test]
fn ten_bit_planes_become_the_cpu_conversions_colours_on_the_gpu() {
    // yuv_unpack.wgsl reads 10-bit I420 as the CPU conversion does: samples / 4 as
    // 8-bit code values, two extra bits kept; random samples, odd size.
    let (w, h) = (21usize, 7usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let sample = |i: usize| (i.wrapping_mul(2654435761) >> 7) as u16 % 1024;
    let plane = |n: usize, salt: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| sample(i * 3 + salt).to_le_bytes())
            .collect()
    };
    let (y, u, v) = (plane(w * h, 0), plane(cw * ch, 1), plane(cw * ch, 2));
    let pixels = FramePixels::I420Ten {
        planes: [(&y, 2 * w as u32), (&u, 2 * cw as u32), (&v, 2 * cw as u32)],
        colours: YuvColours {
            matrix: YuvMatrix::Bt2020,
            full_range: false,
        },
    };
    shader_matches_cpu(&pixels, (w as u32, h as u32));
}

#[test]
fn p010_planes_become_the_cpu_conversions_colours_on_the_gpu() {
    // yuv_unpack.wgsl reads P010 (hardware decoders' 10-bit output: interleaved chroma,
    // 10 bits at the top of each u16) as the CPU conversion does; random samples, odd
    // size, rows wider than the picture.
    let (w, h) = (19usize, 9usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let sample = |i: usize| ((i.wrapping_mul(2654435761) >> 9) as u16 % 1024) << 6;
    let (y_stride, uv_stride) = (2 * w + 6, 4 * cw + 12);
    let plane = |stride: usize, rows: usize, salt: usize| -> Vec<u8> {
        (0..stride * rows / 2)
            .flat_map(|i| sample(i * 5 + salt).to_le_bytes())
            .collect()
    };
    let (y, uv) = (plane(y_stride, h, 0), plane(uv_stride, ch, 1));
    let pixels = FramePixels::P010 {
        planes: [(&y, y_stride as u32), (&uv, uv_stride as u32)],
        colours: YuvColours {
            matrix: YuvMatrix::Bt2020,
            full_range: false,
        },
    };
    let cpu = shader_matches_cpu(&pixels, (w as u32, h as u32));
    // Not a trivial picture: the colours vary.
    assert!(cpu.chunks_exact(4).any(|px| px != &cpu[..4]));
}

/// `yuv_unpack.wgsl`'s RGBA for `pixels`, checked to be the CPU conversion's within one
/// level; returns the CPU's.
fn shader_matches_cpu(pixels: &FramePixels<'_>, size: (u32, u32)) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let gpu = unpack(pixels, size);
    let mut cpu = Vec::new();
    stereosplat::cpu::yuv_to_rgba(pixels, size, &mut cpu, &pool);
    let cpu: Vec<u8> = bytemuck::cast_slice(&cpu).to_vec();
    let worst = gpu.iter().zip(&cpu).map(|(a, b)| a.abs_diff(*b)).max();
    assert!(worst <= Some(1), "shader and CPU differ by {worst:?}");
    cpu
}
