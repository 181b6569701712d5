// The frame averaged down to the size the warp runs at (a half-width or half-height
// layout shows each eye at half size, so the warp runs there). The sampler is linear and
// each output centre falls between the source pixels it covers: at exactly half size
// that is the mean of the pair, the same box filter the compose pass would apply after a
// full-size warp. Rust side: src/gpu/warp/mod.rs (Warper::prepare_at).

@group(0) @binding(0) var frame: texture_2d<f32>;
@group(0) @binding(1) var linear_clamp: sampler;
@group(0) @binding(2) var resampled: texture_storage_2d<rgba8unorm, write>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = textureDimensions(resampled);
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    let uv = (vec2<f32>(id.xy) + 0.5) / vec2<f32>(size);
    textureStore(resampled, id.xy, textureSampleLevel(frame, linear_clamp, uv, 0.0));
}
