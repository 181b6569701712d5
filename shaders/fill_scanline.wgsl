// Scanline hole fill: a hole pixel takes the colour of the nearest covered pixel on its
// row from the side whose surface is farther away (the background), never the side of
// the occluder, so foreground edges are not smeared into the disocclusion.
//
// One invocation per row, two linear sweeps: right-to-left records the nearest covered
// pixel on the right of each position (in `scratch`, the z-buffer, free after resolve),
// left-to-right decides and writes. O(width) per row whatever the holes look like.

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var warped: texture_2d<f32>;
@group(0) @binding(2) var warped_near: texture_2d<f32>;
@group(0) @binding(3) var filled_out: texture_storage_2d<rgba16float, write>;
@group(0) @binding(4) var<storage, read_write> scratch: array<u32>;

const NONE: u32 = 0xFFFFFFFFu;

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let y = id.x;
    let w = params.size.x;
    if (y >= params.size.y) {
        return;
    }
    let row = y * w;
    var right = NONE;
    for (var i = 0u; i < w; i++) {
        let x = w - 1u - i;
        if (textureLoad(warped, vec2<u32>(x, y), 0).a > 0.0) {
            right = x;
        }
        scratch[row + x] = right;
    }
    var left = NONE;
    for (var x = 0u; x < w; x++) {
        let here = textureLoad(warped, vec2<u32>(x, y), 0);
        if (here.a > 0.0) {
            left = x;
            textureStore(filled_out, vec2<u32>(x, y), here);
            continue;
        }
        let r = scratch[row + x];
        var src = left;
        if (left == NONE) {
            src = r;
        } else if (r != NONE) {
            let nl = textureLoad(warped_near, vec2<u32>(left, y), 0).r;
            let nr = textureLoad(warped_near, vec2<u32>(r, y), 0).r;
            src = select(r, left, nl <= nr);
        }
        var colour = vec4<f32>(0.0, 0.0, 0.0, 1.0);
        if (src != NONE) {
            colour = vec4<f32>(textureLoad(warped, vec2<u32>(src, y), 0).rgb, 1.0);
        }
        textureStore(filled_out, vec2<u32>(x, y), colour);
    }
}
