// Scanline hole fill: a hole pixel takes the colour of the nearest covered pixel on its
// row from the side whose surface is farther away (the background), never the side of
// the occluder, so foreground edges are not smeared into the disocclusion.

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var warped: texture_2d<f32>;
@group(0) @binding(2) var warped_near: texture_2d<f32>;
@group(0) @binding(3) var filled_out: texture_storage_2d<rgba16float, write>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = i32(params.size.x);
    if (id.x >= params.size.x || id.y >= params.size.y) {
        return;
    }
    let x = i32(id.x);
    let y = i32(id.y);
    let here = textureLoad(warped, vec2<i32>(x, y), 0);
    if (here.a > 0.0) {
        textureStore(filled_out, vec2<i32>(x, y), here);
        return;
    }
    var l = x - 1;
    while (l >= 0 && textureLoad(warped, vec2<i32>(l, y), 0).a == 0.0) {
        l--;
    }
    var r = x + 1;
    while (r < w && textureLoad(warped, vec2<i32>(r, y), 0).a == 0.0) {
        r++;
    }
    var src = -1;
    if (l >= 0 && r < w) {
        let nl = textureLoad(warped_near, vec2<i32>(l, y), 0).r;
        let nr = textureLoad(warped_near, vec2<i32>(r, y), 0).r;
        src = select(r, l, nl <= nr);
    } else if (l >= 0) {
        src = l;
    } else if (r < w) {
        src = r;
    }
    var colour = vec4<f32>(0.0, 0.0, 0.0, 1.0);
    if (src >= 0) {
        colour = vec4<f32>(textureLoad(warped, vec2<i32>(src, y), 0).rgb, 1.0);
    }
    textureStore(filled_out, vec2<i32>(x, y), colour);
}
