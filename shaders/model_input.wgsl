// Frame -> a depth model's input tensor: resample the RGBA frame to the model's size and
// write planar float32 RGB (NCHW for one image), normalised per channel.
// Downscaling averages a grid of bilinear taps over each output pixel's footprint
// (area resampling), so a 4K frame shrunk to 518 lines does not alias.
// Rust side: src/gpu/model_input.rs.

@group(0) @binding(0) var<uniform> params: ModelInputParams;
@group(0) @binding(1) var frame: texture_2d<f32>;
@group(0) @binding(2) var frame_sampler: sampler;
@group(0) @binding(3) var<storage, read_write> tensor: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let dst = params.dst_size;
    if (id.x >= dst.x || id.y >= dst.y) {
        return;
    }
    let taps = max(params.taps, vec2<u32>(1u));
    let cell = 1.0 / vec2<f32>(dst);
    var sum = vec3<f32>(0.0);
    for (var j = 0u; j < taps.y; j++) {
        for (var i = 0u; i < taps.x; i++) {
            let sub = (vec2<f32>(f32(i), f32(j)) + 0.5) / vec2<f32>(taps);
            let uv = (vec2<f32>(id.xy) + sub) * cell;
            sum += textureSampleLevel(frame, frame_sampler, uv, 0.0).rgb;
        }
    }
    let rgb = sum / f32(taps.x * taps.y);
    let v = (rgb - params.mean.rgb) * params.inv_std.rgb;
    let plane = dst.x * dst.y;
    let i = id.y * dst.x + id.x;
    tensor[i] = v.r;
    tensor[plane + i] = v.g;
    tensor[2u * plane + i] = v.b;
}
