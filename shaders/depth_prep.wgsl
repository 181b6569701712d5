// Raw depth (16-bit grey, any size) -> nearness in 0..1 at the frame size.
// Resamples bilinearly on the GPU and applies the clip's normalisation.
// Rust side: src/gpu/warp.rs (Warper::encode).

@group(0) @binding(0) var<uniform> params: DepthParams;
@group(0) @binding(1) var raw_depth: texture_2d<u32>;
@group(0) @binding(2) var nearness_out: texture_storage_2d<r32float, write>;

fn raw_at(x: i32, y: i32) -> f32 {
    let c = clamp(vec2<i32>(x, y), vec2<i32>(0), vec2<i32>(params.raw_size) - 1);
    return f32(textureLoad(raw_depth, c, 0).r) / 65535.0;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.out_size.x || id.y >= params.out_size.y) {
        return;
    }
    // Pixel centres of the output mapped into the raw image.
    let scale = vec2<f32>(params.raw_size) / vec2<f32>(params.out_size);
    let pos = (vec2<f32>(id.xy) + 0.5) * scale - 0.5;
    let base = floor(pos);
    let f = pos - base;
    let x0 = i32(base.x);
    let y0 = i32(base.y);
    let top = mix(raw_at(x0, y0), raw_at(x0 + 1, y0), f.x);
    let bottom = mix(raw_at(x0, y0 + 1), raw_at(x0 + 1, y0 + 1), f.x);
    let raw = mix(top, bottom, f.y);

    var nearness = clamp((raw - params.range_min) * params.range_scale, 0.0, 1.0);
    if (params.range_scale == 0.0) {
        // Constant depth: no parallax anywhere.
        nearness = 0.5;
    }
    if (params.far_is_bright == 1u) {
        nearness = 1.0 - nearness;
    }
    textureStore(nearness_out, vec2<i32>(id.xy), vec4<f32>(nearness, 0.0, 0.0, 0.0));
}
