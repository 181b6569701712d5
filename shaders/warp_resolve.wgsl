// Turns the z-buffer keys of warp_splat.wgsl into the warped view: the colour of the
// winning sample interpolated at this pixel centre (exact for sub-pixel shifts), its
// nearness, and alpha 0 where nothing landed (a hole).

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var nearness: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> zbuffer: array<u32>;
@group(0) @binding(3) var source: texture_2d<f32>;
@group(0) @binding(4) var warped_out: texture_storage_2d<rgba16float, write>;
@group(0) @binding(5) var warped_near_out: texture_storage_2d<r32float, write>;

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
    if (x + 1u < w) {
        let n1 = textureLoad(nearness, vec2<u32>(x + 1u, y), 0).r;
        let p0 = warped_x(x, n0, params);
        let p1 = warped_x(x + 1u, n1, params);
        if (same_surface(n0, n1, p0, p1, params)) {
            let f = clamp((f32(t) - p0) / (p1 - p0), 0.0, 1.0);
            colour = mix(c0, textureLoad(source, vec2<u32>(x + 1u, y), 0), f);
            near = mix(n0, n1, f);
        }
    }
    textureStore(warped_out, vec2<u32>(t, y), vec4<f32>(colour.rgb, 1.0));
    textureStore(warped_near_out, vec2<u32>(t, y), vec4<f32>(near, 0.0, 0.0, 0.0));
}
