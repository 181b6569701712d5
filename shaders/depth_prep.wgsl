// Raw depth (16-bit grey, or the metric depth toolbox's RGB encoding; any size) -> the
// warp's depth quantity at the frame size:
// relative nearness in 0..1 (normalised per clip), 1/z for metric depth (1/metres), or
// disparity in pixels. Resamples bilinearly on the GPU; for metric and disparity maps a
// stored 0 means "unknown" and becomes -1 (not splatted: a hole).
// Rust side: src/gpu/warp/mod.rs (Warper::encode). Depth smaller than the frame (a model's
// output, a half-size depth video) is upsampled guided by the frame (--depth-upsample).
//
// Deliberately branch-free (select instead of if): on lavapipe (Mesa 22.3) the branchy
// version of this shader leaked ~150 KB of host memory per dispatch, which made memory
// grow with clip length. tests/soak.rs guards against its return.

@group(0) @binding(0) var<uniform> params: DepthParams;
@group(0) @binding(1) var raw_depth: texture_2d<u32>;
@group(0) @binding(2) var nearness_out: texture_storage_2d<r32float, write>;
// The frame itself: guides the upsampling of depth smaller than the frame.
@group(0) @binding(3) var frame: texture_2d<f32>;

// Built twice: with GUIDED = true the upsampling is guided by the frame (joint
// bilateral); the plain build compiles the guide loads away (equal sizes, bilinear).
override GUIDED: bool = false;

// Colour difference (0..1 per channel) at which a tap's weight falls to 1/e^2: the scale
// of "the same surface" in joint bilateral upsampling.
const GUIDE_SIGMA: f32 = 0.08;

// The frame's colour at the centre of raw depth texel `t`.
fn guide_at(t: vec2<i32>) -> vec3<f32> {
    let size = vec2<f32>(params.out_size);
    let p = (vec2<f32>(t) + 0.5) * size / vec2<f32>(params.raw_size) - 0.5;
    let c = clamp(vec2<i32>(round(p)), vec2<i32>(0), vec2<i32>(params.out_size) - 1);
    return textureLoad(frame, c, 0).rgb;
}

fn similarity(here: vec3<f32>, there: vec3<f32>) -> f32 {
    let d = here - there;
    return exp(-dot(d, d) / (2.0 * GUIDE_SIGMA * GUIDE_SIGMA));
}

fn raw_at(x: i32, y: i32) -> f32 {
    let c = clamp(vec2<i32>(x, y), vec2<i32>(0), vec2<i32>(params.raw_size) - 1);
    let t = textureLoad(raw_depth, c, 0);
    // RGB encoding: R = G = E >> 24, B = (E >> 16) & 255, the 16 bits that carry information.
    return select(f32(t.r), f32(t.r * 256u + t.b), params.rgb_encoded == 1u);
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
    let a = raw_at(x0, y0);
    let b = raw_at(x0 + 1, y0);
    let c = raw_at(x0, y0 + 1);
    let d = raw_at(x0 + 1, y0 + 1);
    let bilinear = mix(mix(a, b, f.x), mix(c, d, f.x), f.y);
    // Joint bilateral: each tap also counts by how much the frame's colour at that tap
    // resembles the colour here, so a depth edge lands on the frame's edge instead of
    // being smeared across the tap spacing. Where no tap resembles (a thin feature) or
    // the sizes match (weights collapse onto one tap), it is plain bilinear.
    let here = textureLoad(frame, vec2<i32>(id.xy), 0).rgb;
    let wa = (1.0 - f.x) * (1.0 - f.y) * similarity(here, guide_at(vec2<i32>(x0, y0)));
    let wb = f.x * (1.0 - f.y) * similarity(here, guide_at(vec2<i32>(x0 + 1, y0)));
    let wc = (1.0 - f.x) * f.y * similarity(here, guide_at(vec2<i32>(x0, y0 + 1)));
    let wd = f.x * f.y * similarity(here, guide_at(vec2<i32>(x0 + 1, y0 + 1)));
    let wsum = wa + wb + wc + wd;
    let guided = (a * wa + b * wb + c * wc + d * wd) / max(wsum, 1e-20);
    let blended = select(bilinear, guided, GUIDED && wsum > 1e-4);

    // Relative: the clip's normalisation; constant depth gives no parallax anywhere.
    var nearness = clamp((blended / 65535.0 - params.range_min) * params.range_scale, 0.0, 1.0);
    nearness = select(nearness, 0.5, params.range_scale == 0.0);
    nearness = select(nearness, 1.0 - nearness, params.far_is_bright == 1u);
    nearness = shape_nearness(nearness, params);

    // Metric / disparity: never blend a known value with an unknown one (stored 0): take
    // the nearest tap instead.
    let nearest = raw_at(i32(round(pos.x)), i32(round(pos.y)));
    let raw = select(blended, nearest, min(min(a, b), min(c, d)) == 0.0);
    let value = max(raw, 1.0) * params.value_scale;
    var q = select(value, 1.0 / value, params.kind == DEPTH_METRIC);
    q = select(-1.0, q, raw > 0.0);

    let result = select(q, nearness, params.kind == DEPTH_RELATIVE);
    textureStore(nearness_out, vec2<i32>(id.xy), vec4<f32>(result, 0.0, 0.0, 0.0));
}
