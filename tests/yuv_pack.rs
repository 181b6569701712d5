//! The GPU's RGBA -> I420 conversion for the encoder (gpu::YuvPacker) against a CPU
//! reference of the same maths, and its plane layout against GStreamer's own.

mod common;

use gstreamer as gst;
use gstreamer_video as gst_video;
use stereosplat::gpu::{I420Layout, PassTimer, ShaderSet, YuvMatrix, YuvPacker};

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
                let mut mean = [0.0f32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = px(2 * cx + dx, 2 * cy + dy);
                    for c in 0..3 {
                        mean[c] += p[c] / 4.0;
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
