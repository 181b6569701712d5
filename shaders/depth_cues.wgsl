// The no-model default: per-pixel monocular depth cues at the model-input resolution,
// from the frame as resampled by model_input.wgsl (plain RGB in 0..1) and the previous
// frame. Output: a "nearness evidence" value per pixel that src/depth/cues.rs smooths,
// adds to the vertical-position cue and stabilises over time.
// Cues (classical, as in pre-learning 2D-to-3D converters):
// - sharpness: in-focus detail (local gradient energy) is usually the subject, nearer
//   than a defocused background;
// - colour: warm, saturated colours come forward; bright, desaturated blue (sky, haze)
//   recedes (aerial perspective);
// - motion: what changes between frames is usually nearer (motion parallax, subjects).
// Branch-free on purpose (see depth_prep.wgsl).

@group(0) @binding(0) var<uniform> params: ModelInputParams;
@group(0) @binding(1) var<storage, read> current: array<f32>;
@group(0) @binding(2) var<storage, read> previous: array<f32>;
@group(0) @binding(3) var<storage, read_write> cues: array<f32>;

fn index_of(p: vec2<i32>) -> u32 {
    let size = vec2<i32>(params.dst_size);
    let c = clamp(p, vec2<i32>(0), size - 1);
    return u32(c.y * size.x + c.x);
}

fn current_at(p: vec2<i32>) -> vec3<f32> {
    let plane = params.dst_size.x * params.dst_size.y;
    let i = index_of(p);
    return vec3<f32>(current[i], current[plane + i], current[2u * plane + i]);
}

fn previous_at(p: vec2<i32>) -> vec3<f32> {
    let plane = params.dst_size.x * params.dst_size.y;
    let i = index_of(p);
    return vec3<f32>(previous[i], previous[plane + i], previous[2u * plane + i]);
}

fn luma(c: vec3<f32>) -> f32 {
    return dot(c, vec3<f32>(0.299, 0.587, 0.114));
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let dst = params.dst_size;
    if (id.x >= dst.x || id.y >= dst.y) {
        return;
    }
    let p = vec2<i32>(id.xy);
    // Sobel gradient of luma.
    var gx = 0.0;
    var gy = 0.0;
    for (var j = -1; j <= 1; j++) {
        for (var i = -1; i <= 1; i++) {
            let l = luma(current_at(p + vec2<i32>(i, j)));
            let wx = f32(i) * select(1.0, 2.0, j == 0);
            let wy = f32(j) * select(1.0, 2.0, i == 0);
            gx += wx * l;
            gy += wy * l;
        }
    }
    let sharpness = clamp(sqrt(gx * gx + gy * gy) * 2.0, 0.0, 1.0);

    let c = current_at(p);
    let hi = max(c.r, max(c.g, c.b));
    let lo = min(c.r, min(c.g, c.b));
    let saturation = select(0.0, (hi - lo) / hi, hi > 1e-4);
    let warmth = clamp(c.r - c.b, -1.0, 1.0);
    let sky = clamp((c.b - c.r) * 2.0, 0.0, 1.0) * luma(c) * (1.0 - saturation * 0.5);
    let colour = 0.5 * warmth * saturation - sky;

    let before = previous_at(p);
    let motion = select(0.0, clamp(abs(luma(c) - luma(before)) * 4.0, 0.0, 1.0), params.has_prev == 1u);

    let i = id.y * dst.x + id.x;
    cues[i] = 0.45 * sharpness + 0.35 * colour + 0.2 * motion;
}
