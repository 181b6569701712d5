// The composed RGBA frame -> 8-bit I420 (4:2:0 planar Y'CbCr) in GStreamer's default
// layout, so the encoder takes it without a CPU conversion and the readback moves 1.5
// bytes per pixel instead of 4. Rust side: src/gpu/yuv.rs.
//
// One invocation per block of 8x2 pixels: four Y words (two rows of 8 bytes), one U word
// and one V word (4 chroma samples, filtered around their even column), so no two invocations
// write the same word. Columns past the frame's width repeat its last column; they land
// in row padding. Where a block's second Y word would fall past the row's stride, it goes
// to a scratch word instead (a store without a branch; see depth_prep.wgsl on lavapipe).

@group(0) @binding(0) var<uniform> params: YuvParams;
@group(0) @binding(1) var frame: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> planes: array<u32>;

fn code(row: vec4<f32>, rgb: vec3<f32>) -> u32 {
    return u32(clamp(round(dot(row.xyz, rgb) + row.w), 0.0, 255.0));
}

fn pixel(x: u32, y: u32) -> vec3<f32> {
    return textureLoad(frame, vec2<u32>(min(x, params.size.x - 1u), y), 0).rgb;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let x0 = id.x * 8u;
    let y0 = id.y * 2u;
    if (x0 >= params.size.x || y0 >= params.size.y) {
        return;
    }
    var cb = 0u;
    var cr = 0u;
    for (var half = 0u; half < 2u; half++) {
        // Four pixels of each row, packed into one word per row (little endian).
        var top_word = 0u;
        var bottom_word = 0u;
        for (var i = 0u; i < 4u; i++) {
            let x = x0 + half * 4u + i;
            let top = pixel(x, y0);
            let bottom = pixel(x, y0 + 1u);
            top_word |= code(params.y_row, top) << (i * 8u);
            bottom_word |= code(params.y_row, bottom) << (i * 8u);
            // Even columns carry a chroma sample (MPEG-2 siting, as the caps and H.264
            // decoders assume: co-sited with the even column, between the two rows):
            // [1 2 1] / 4 across the columns, averaged over the rows.
            let xl = select(x - 1u, 0u, x == 0u);
            let mean = ((pixel(xl, y0) + pixel(xl, y0 + 1u)) * 0.25 + (top + bottom) * 0.5
                + (pixel(x + 1u, y0) + pixel(x + 1u, y0 + 1u)) * 0.25) * 0.5;
            let c_shift = (half * 2u + i / 2u) * 8u;
            let even = i % 2u == 0u;
            cb |= select(0u, code(params.cb_row, mean) << c_shift, even);
            cr |= select(0u, code(params.cr_row, mean) << c_shift, even);
        }
        let byte = x0 + half * 4u;
        let fits = byte < params.y_stride;
        let top_index = (y0 * params.y_stride + byte) / 4u;
        let bottom_index = ((y0 + 1u) * params.y_stride + byte) / 4u;
        planes[select(params.scratch_word, top_index, fits)] = top_word;
        planes[select(params.scratch_word, bottom_index, fits)] = bottom_word;
    }
    let c_word = ((y0 / 2u) * params.c_stride + x0 / 2u) / 4u;
    planes[params.u_offset / 4u + c_word] = cb;
    planes[params.v_offset / 4u + c_word] = cr;
}
