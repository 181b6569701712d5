// Turns the z-buffer keys of warp_splat.wgsl into the warped view: the colour of the
// winning sample interpolated at this pixel centre (exact for sub-pixel shifts), its
// nearness, and alpha 0 where nothing landed (a hole).
//
// Where the winning surface is compressed (neighbours land less than a pixel apart),
// several source pixels fall into this pixel and one interpolated point would alias.
// Then every source sample landing in [t - 0.5, t + 0.5) that lies within SAME_SURFACE of
// the front surface's depth is averaged (a box filter over the visible surface only:
// nearer or farther surfaces never mix in).

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var nearness: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> zbuffer: array<u32>;
@group(0) @binding(3) var source: texture_2d<f32>;
@group(0) @binding(4) var warped_out: texture_storage_2d<rgba16float, write>;
@group(0) @binding(5) var warped_near_out: texture_storage_2d<r32float, write>;

// Depth tolerance (z-buffer key units, 0..1) for samples of the same surface.
const SAME_SURFACE: f32 = 0.02;
// How far from the winning sample to look for others landing in the same pixel; enough
// for a surface compressed to a third of its width.
const GATHER: i32 = 3;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = params.size.x;
    if (id.x >= w || id.y >= params.size.y) {
        return;
    }
    let t = id.x;
    let y = id.y;
    let key = zbuffer[y * w + t];
    if (key == 0u) {
        textureStore(warped_out, vec2<u32>(t, y), vec4<f32>(0.0));
        textureStore(warped_near_out, vec2<u32>(t, y), vec4<f32>(-1.0, 0.0, 0.0, 0.0));
        return;
    }
    let x = key_source_x(key);
    let n0 = textureLoad(nearness, vec2<u32>(x, y), 0).r;
    let c0 = textureLoad(source, vec2<u32>(x, y), 0);
    var colour = c0;
    var near = n0;
    var compressed = false;
    if (x + 1u < w) {
        let n1 = textureLoad(nearness, vec2<u32>(x + 1u, y), 0).r;
        let p0 = warped_x(x, n0, params);
        let p1 = warped_x(x + 1u, n1, params);
        if (same_surface(n0, n1, p0, p1, params)) {
            let f = clamp((f32(t) - p0) / (p1 - p0), 0.0, 1.0);
            colour = mix(c0, textureLoad(source, vec2<u32>(x + 1u, y), 0), f);
            near = mix(n0, n1, f);
            compressed = p1 - p0 < 1.0;
        }
    }
    if (compressed) {
        var sum = vec4<f32>(0.0);
        var count = 0.0;
        for (var k = -GATHER; k <= GATHER + 1; k++) {
            let s = i32(x) + k;
            if (s < 0 || s >= i32(w)) {
                continue;
            }
            let ns = textureLoad(nearness, vec2<i32>(s, i32(y)), 0).r;
            let ps = warped_x(u32(s), ns, params);
            if (ns >= 0.0 && abs(ps - f32(t)) <= 0.5 && ps - f32(t) < 0.5
                && abs(ns - near) * params.key_scale <= SAME_SURFACE) {
                sum += textureLoad(source, vec2<i32>(s, i32(y)), 0);
                count += 1.0;
            }
        }
        if (count >= 2.0) {
            colour = sum / count;
        }
    }
    textureStore(warped_out, vec2<u32>(t, y), vec4<f32>(colour.rgb, 1.0));
    textureStore(warped_near_out, vec2<u32>(t, y), vec4<f32>(near, 0.0, 0.0, 0.0));
}
