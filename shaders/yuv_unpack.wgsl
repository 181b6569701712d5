// A decoded 4:2:0 frame (8-bit I420 or NV12, 10-bit I420 or P010, as decoded) -> the RGBA
// frame the warp reads. The planes arrive as raw bytes in one buffer with their own row
// strides, so nothing converts or repacks them on the CPU. Chroma is upsampled
// bilinearly from MPEG-2 siting (co-sited with even columns, between rows), then the
// stream's matrix and range give R'G'B'. Rust side: src/gpu/warp/mod.rs (upload_frame).

@group(0) @binding(0) var<uniform> params: UnpackParams;
@group(0) @binding(1) var<storage, read> planes: array<u32>;
@group(0) @binding(2) var frame: texture_storage_2d<rgba8unorm, write>;

fn byte_at(offset: u32) -> f32 {
    return f32((planes[offset / 4u] >> ((offset % 4u) * 8u)) & 0xFFu);
}

// The sample at byte `offset` as an 8-bit code value: a byte, or a little-endian 16-bit
// word scaled to 8 bits (exactly: a 10-bit sample's two extra bits become a fraction).
fn sample_at(offset: u32) -> f32 {
    if (params.sample_bytes == 2u) {
        let word = planes[offset / 4u] >> ((offset % 4u) * 8u);
        return f32(word & 0xFFFFu) * params.sample_scale;
    }
    return byte_at(offset);
}

// (Cb, Cr) of chroma sample (cx, cy).
fn chroma(cx: u32, cy: u32) -> vec2<f32> {
    let row = cy * params.c_stride;
    let interleaved = params.interleaved == 1u;
    let step = params.sample_bytes;
    // Interleaved: U and V side by side, one sample each.
    let pair = params.u_offset + row + 2u * cx * step;
    let u = select(params.u_offset + row + cx * step, pair, interleaved);
    let v_row = cy * params.v_stride;
    let v = select(params.v_offset + v_row + cx * step, pair + step, interleaved);
    return vec2<f32>(sample_at(u), sample_at(v));
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.size.x || id.y >= params.size.y) {
        return;
    }
    let luma = sample_at(params.y_offset + id.y * params.y_stride + id.x * params.sample_bytes);
    // Chroma sample k sits at luma column 2k and between luma rows 2k and 2k + 1.
    let last = (params.size + 1u) / 2u - 1u;
    let fx = f32(id.x) * 0.5;
    let fy = max(f32(id.y) * 0.5 - 0.25, 0.0);
    let x0 = u32(fx);
    let y0 = u32(fy);
    let x1 = min(x0 + 1u, last.x);
    let y1 = min(y0 + 1u, last.y);
    let top = mix(chroma(x0, y0), chroma(x1, y0), fx - f32(x0));
    let bottom = mix(chroma(x0, y1), chroma(x1, y1), fx - f32(x0));
    let c = mix(top, bottom, fy - f32(y0));
    let ycc = vec3<f32>(luma, c);
    let rgb = vec3<f32>(
        dot(params.r_row.xyz, ycc) + params.r_row.w,
        dot(params.g_row.xyz, ycc) + params.g_row.w,
        dot(params.b_row.xyz, ycc) + params.b_row.w,
    );
    textureStore(frame, id.xy, vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}
