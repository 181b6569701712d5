// Turns the z-buffer keys of warp_splat.wgsl into the warped view: the colour of the
// winning sample interpolated at this pixel centre (exact for sub-pixel shifts), its
// nearness, and alpha 0 where nothing landed (a hole).
//
// Where the winning surface is compressed (neighbours land less than a pixel apart),
// several source pixels fall into this pixel and one interpolated point would alias.
// Then every source sample landing in [t - 0.5, t + 0.5) that lies within SAME_SURFACE of
// the front surface's depth is averaged (a box filter over the visible surface only:
// nearer or farther surfaces never mix in).
//
// Straight-line code with selects: software rasterisers (lavapipe) run every branch
// under a lane mask anyway, and the branchy form of this pass cost them ~20 % more.

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var nearness: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> zbuffer: array<u32>;
@group(0) @binding(3) var source: texture_2d<f32>;
@group(0) @binding(4) var warped_out: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(5) var warped_near_out: texture_storage_2d<r32float, write>;
@group(0) @binding(6) var<uniform> band: BandParams;

// Depth tolerance (z-buffer key units, 0..1) for samples of the same surface.
const SAME_SURFACE: f32 = 0.02;
// How far from the winning sample to look for others landing in the same pixel; enough
// for a surface compressed to a third of its width.
const GATHER: i32 = 3;

// Whether source sample `s` (nearness `ns`, landing at `ps`) counts towards pixel `t` of
// a compressed surface whose nearness there is `near`.
fn lands_here(ns: f32, ps: f32, t: f32, near: f32) -> bool {
    return ns >= 0.0 && abs(ps - t) <= 0.5 && ps - t < 0.5
        && abs(ns - near) * params.key_scale <= SAME_SURFACE;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = params.size.x;
    if (id.x >= w || id.y >= band.rows) {
        return;
    }
    let t = id.x;
    let y = band.first_row + id.y;
    let tf = f32(t);
    let key = zbuffer[id.y * w + t];
    let hit = key != 0u;
    // The winning segment [x, x + 1] (a lone sample when it is broken).
    let x = key_source_x(key);
    let x1 = min(x + 1u, w - 1u);
    let n0 = textureLoad(nearness, vec2<u32>(x, y), 0).r;
    let n1 = textureLoad(nearness, vec2<u32>(x1, y), 0).r;
    let c0 = textureLoad(source, vec2<u32>(x, y), 0);
    let c1 = textureLoad(source, vec2<u32>(x1, y), 0);
    let p0 = warped_x(x, n0, params);
    let p1 = warped_x(x + 1u, n1, params);
    let joined = x + 1u < w && same_surface(n0, n1, p0, p1, params);
    let f = select(0.0, clamp((tf - p0) / (p1 - p0), 0.0, 1.0), joined);
    var colour = mix(c0, c1, f);
    let near = mix(n0, n1, f);

    if (joined && p1 - p0 < 1.0) {
        // The two samples already loaded, then the others within GATHER.
        let w0 = select(0.0, 1.0, lands_here(n0, p0, tf, near));
        let w1 = select(0.0, 1.0, lands_here(n1, p1, tf, near));
        var sum = c0 * w0 + c1 * w1;
        var count = w0 + w1;
        for (var k = -GATHER; k <= GATHER + 1; k++) {
            let s = clamp(i32(x) + k, 0, i32(w) - 1);
            let ns = textureLoad(nearness, vec2<i32>(s, i32(y)), 0).r;
            let ps = warped_x(u32(s), ns, params);
            // k = 0 and 1 were counted above; taps clamped at the border count once.
            let fresh = (k < 0 || k > 1) && s == i32(x) + k;
            let wk = select(0.0, 1.0, fresh && lands_here(ns, ps, tf, near));
            sum += textureLoad(source, vec2<i32>(s, i32(y)), 0) * wk;
            count += wk;
        }
        colour = select(colour, sum / max(count, 1.0), count >= 2.0);
    }
    // One store per output (see depth_prep.wgsl on lavapipe and early returns).
    textureStore(warped_out, vec2<u32>(t, y), select(vec4<f32>(0.0), vec4<f32>(colour.rgb, 1.0), hit));
    textureStore(warped_near_out, vec2<u32>(t, y), vec4<f32>(select(-1.0, near, hit), 0.0, 0.0, 0.0));
}
