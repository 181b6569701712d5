// Forward splat with a hard z-buffer. Each invocation owns the segment between source
// pixel x and x+1 on its row: every target pixel centre the warped segment covers gets a
// key (interpolated nearness, source x) through atomicMax, so the nearest surface wins
// outright and colours of different surfaces never blend. A pixel whose segments on both
// sides are broken (a thin sliver) is splatted alone at its rounded position.
// The resolve pass (warp_resolve.wgsl) turns the winning keys into colours. One
// dispatch covers one band of rows (BandParams).

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var nearness: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> zbuffer: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> band: BandParams;

fn near_at(x: u32, y: u32) -> f32 {
    return textureLoad(nearness, vec2<u32>(x, y), 0).r;
}

// `row`: the row within the band.
fn splat(t: i32, row: u32, key: u32) {
    if (t >= 0 && t < i32(params.size.x)) {
        atomicMax(&zbuffer[row * params.size.x + u32(t)], key);
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = params.size.x;
    if (id.x >= w || id.y >= band.rows) {
        return;
    }
    let x = id.x;
    let y = band.first_row + id.y;
    let row = id.y;
    let n0 = near_at(x, y);
    if (n0 < 0.0) {
        return; // unknown depth: leave a hole
    }
    let p0 = warped_x(x, n0, params);

    var right_ok = false;
    if (x + 1u < w) {
        let n1 = near_at(x + 1u, y);
        let p1 = warped_x(x + 1u, n1, params);
        right_ok = same_surface(n0, n1, p0, p1, params);
        if (right_ok) {
            // Closed interval [p0, p1]: a centre exactly on an end is covered by both
            // neighbouring segments, which agree there, so no column is ever dropped.
            let first = i32(ceil(p0));
            let last = i32(floor(p1));
            for (var t = first; t <= last; t++) {
                let f = clamp((f32(t) - p0) / (p1 - p0), 0.0, 1.0);
                splat(t, row, pack_key(mix(n0, n1, f), x, params));
            }
        }
    }
    var left_ok = false;
    var nl = n0;
    if (x > 0u) {
        nl = near_at(x - 1u, y);
        left_ok = same_surface(nl, n0, warped_x(x - 1u, nl, params), p0, params);
    }
    if (!left_ok && !right_ok) {
        // Both segments broke. A thin sliver (nearer or farther than both neighbours) is
        // kept as a single sample; a pixel on a steep ramp between two surfaces is a
        // "flying pixel" of a soft depth edge and would land as a stray dot inside the
        // disocclusion, so it becomes part of the hole instead.
        var nr = n0;
        if (x + 1u < w) {
            nr = near_at(x + 1u, y);
        }
        let on_ramp = (nl < n0 && n0 < nr) || (nl > n0 && n0 > nr);
        if (!on_ramp) {
            splat(i32(round(p0)), row, pack_key(n0, x, params));
        }
    }
}
