// Hole filling, step 2 of 3 (background fill only): one invocation per column, two linear
// sweeps, recording for every pixel the nearest covered pixel above and below it
// (packed: above << 16 | below, 0xFFFF = none) in `column_source`. Whole columns at
// once, so a texture (limited like the frame) rather than a buffer (limited like one
// storage binding, which the z-buffer's bands work around).

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var warped: texture_2d<f32>;
@group(0) @binding(2) var column_source: texture_storage_2d<r32uint, read_write>;

const NONE16: u32 = 0xFFFFu;

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let x = id.x;
    let w = params.size.x;
    let h = params.size.y;
    if (x >= w) {
        return;
    }
    var below = NONE16;
    for (var i = 0u; i < h; i++) {
        let y = h - 1u - i;
        if (textureLoad(warped, vec2<u32>(x, y), 0).a > 0.0) {
            below = y;
        }
        textureStore(column_source, vec2<u32>(x, y), vec4<u32>(below, 0u, 0u, 0u));
    }
    var above = NONE16;
    for (var y = 0u; y < h; y++) {
        if (textureLoad(warped, vec2<u32>(x, y), 0).a > 0.0) {
            above = y;
        }
        let packed = (above << 16u) | (textureLoad(column_source, vec2<u32>(x, y)).r & NONE16);
        textureStore(column_source, vec2<u32>(x, y), vec4<u32>(packed, 0u, 0u, 0u));
    }
}
