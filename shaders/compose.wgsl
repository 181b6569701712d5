// Packs the two eyes into the output frame layout (side by side, top-bottom, anaglyph,
// one eye, StereoCrafter's 2x2 grid, or the depth / holes alone for inspection). Output is 8-bit RGBA ready for the encoder.
// Rust side: src/gpu/compose.rs; layout ids match layout::Layout::shader_id.

const LAYOUT_SBS: u32 = 0u;
const LAYOUT_HALF_SBS: u32 = 1u;
const LAYOUT_TB: u32 = 2u;
const LAYOUT_HALF_TB: u32 = 3u;
const LAYOUT_ANAGLYPH: u32 = 4u;
const LAYOUT_CROSS: u32 = 5u;
const LAYOUT_LEFT: u32 = 6u;
const LAYOUT_RIGHT: u32 = 7u;
const LAYOUT_GRID: u32 = 8u;
const LAYOUT_HALF_CROSS: u32 = 9u;
const LAYOUT_DEPTH: u32 = 10u;
const LAYOUT_HOLES: u32 = 11u;
const LAYOUT_RGBD: u32 = 12u;
const LAYOUT_HALF_RGBD: u32 = 13u;
const LAYOUT_VR180: u32 = 14u;
// --layout novel: the warper draws the moved camera's view where the right eye goes.
const LAYOUT_NOVEL: u32 = LAYOUT_RIGHT;

// The layout is fixed per pipeline (src/gpu/compose.rs builds one per layout), so the
// compiler keeps only its branch.
override LAYOUT_ID: u32 = 0u;

@group(0) @binding(0) var<uniform> params: ComposeParams;
@group(0) @binding(1) var left_view: texture_2d<f32>;
@group(0) @binding(2) var right_view: texture_2d<f32>;
@group(0) @binding(3) var source: texture_2d<f32>;
@group(0) @binding(4) var nearness: texture_2d<f32>;
@group(0) @binding(5) var warped_raw: texture_2d<f32>;
@group(0) @binding(6) var linear_clamp: sampler;
@group(0) @binding(7) var out_frame: texture_storage_2d<rgba8unorm, write>;

// Samples `tex` for output pixel `p` of a region that starts at `origin` and is `size`
// output pixels large, stretched over the whole eye image. A region as large as the eye
// hits texel centres exactly; a half-size one averages pixel pairs.
fn sample_region(tex: texture_2d<f32>, p: vec2<u32>, origin: vec2<u32>, size: vec2<u32>) -> vec4<f32> {
    let uv = (vec2<f32>(p - origin) + 0.5) / vec2<f32>(size);
    return textureSampleLevel(tex, linear_clamp, uv, 0.0);
}

// An eye's colour for output pixel `p` of the eye's region (from `origin`, `size` output
// pixels): the picture stretched over its part of the region (params.picture; black
// outside it), darkened where the floating window's band covers the pixel. `left`: the
// left eye, whose band is at its left edge; the right eye's is at its right edge.
fn eye_pixel(tex: texture_2d<f32>, p: vec2<u32>, origin: vec2<u32>, size: vec2<u32>, left: bool) -> vec4<f32> {
    let region = vec2<f32>(size);
    let at = vec2<f32>(p - origin);
    let rel = (at + 0.5) / region;
    let pic = params.picture;
    let inside = all(rel >= pic.xy) && all(rel < pic.zw);
    let uv = (rel - pic.xy) / (pic.zw - pic.xy);
    let c = textureSampleLevel(tex, linear_clamp, uv, 0.0).rgb;
    // The band's width and this pixel's distance from its edge, in output pixels; the
    // pixel is covered by the part of it inside the band (anti-aliased, so a band that
    // eases in and out moves smoothly).
    let pic_w = (pic.z - pic.x) * region.x;
    let col = at.x - pic.x * region.x;
    let band = select(params.window.y, params.window.x, left) * pic_w;
    let from_edge = select(pic_w - 1.0 - col, col, left);
    let cover = clamp(band - from_edge, 0.0, 1.0);
    return vec4<f32>(select(vec3<f32>(0.0), c * (1.0 - cover), inside), 1.0);
}

// Inferno colour map through nine samples, interpolated linearly (for depth in the grid).
fn inferno(t: f32) -> vec3<f32> {
    var stops = array<vec3<f32>, 9>(
        vec3<f32>(0.001, 0.000, 0.014),
        vec3<f32>(0.122, 0.047, 0.282),
        vec3<f32>(0.335, 0.059, 0.431),
        vec3<f32>(0.541, 0.133, 0.416),
        vec3<f32>(0.735, 0.216, 0.330),
        vec3<f32>(0.890, 0.353, 0.196),
        vec3<f32>(0.978, 0.557, 0.035),
        vec3<f32>(0.962, 0.790, 0.196),
        vec3<f32>(0.988, 0.998, 0.645),
    );
    let s = clamp(t, 0.0, 1.0) * 8.0;
    let i = min(u32(floor(s)), 7u);
    return mix(stops[i], stops[i + 1u], s - f32(i));
}

fn anaglyph(l: vec3<f32>, r: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(
        dot(l, params.left_rows[0].xyz) + dot(r, params.right_rows[0].xyz),
        dot(l, params.left_rows[1].xyz) + dot(r, params.right_rows[1].xyz),
        dot(l, params.left_rows[2].xyz) + dot(r, params.right_rows[2].xyz),
    );
}

// Two views side by side, stretched over the halves (a helper --post files may use).
fn side_by_side(p: vec2<u32>, first: texture_2d<f32>, second: texture_2d<f32>) -> vec4<f32> {
    let half = vec2<u32>(params.content_size.x / 2u, params.content_size.y);
    if (p.x < half.x) {
        return sample_region(first, p, vec2<u32>(0u), half);
    }
    return sample_region(second, p, vec2<u32>(half.x, 0u), half);
}

// The eyes side by side with their pictures and bands (eye_pixel). `left_first`: the
// left eye is in the left half (side by side), else the right eye (cross-eyed).
fn eyes_side_by_side(p: vec2<u32>, left_first: bool) -> vec4<f32> {
    let half = vec2<u32>(params.content_size.x / 2u, params.content_size.y);
    let in_first = p.x < half.x;
    let origin = select(vec2<u32>(half.x, 0u), vec2<u32>(0u), in_first);
    // The left eye is in the first half exactly when it comes first.
    if (in_first == left_first) {
        return eye_pixel(left_view, p, origin, half, true);
    }
    return eye_pixel(right_view, p, origin, half, false);
}

fn top_bottom(p: vec2<u32>) -> vec4<f32> {
    let half = vec2<u32>(params.content_size.x, params.content_size.y / 2u);
    if (p.y < half.y) {
        return eye_pixel(left_view, p, vec2<u32>(0u), half, true);
    }
    return eye_pixel(right_view, p, vec2<u32>(0u, half.y), half, false);
}

fn grid(p: vec2<u32>) -> vec4<f32> {
    let e = params.eye_size;
    let q = p % e;
    let right = p.x >= e.x;
    let bottom = p.y >= e.y;
    if (!right && !bottom) {
        return textureLoad(source, q, 0);
    }
    if (right && !bottom) {
        return vec4<f32>(inferno(textureLoad(nearness, q, 0).r), 1.0);
    }
    let warped = textureLoad(warped_raw, q, 0);
    if (!right) {
        let hole = 1.0 - warped.a;
        return vec4<f32>(hole, hole, hole, 1.0);
    }
    return vec4<f32>(warped.rgb * warped.a, 1.0);
}

// Colour and depth side by side (rgbd, half-rgbd): the input in the left half, the depth
// in use (after upsampling and shaping: what the depth layout shows) as grey in the right.
// A half that is narrower than the eye averages the texels it covers (the nearness
// texture is 32-bit float, which is not filtered).
fn rgbd(p: vec2<u32>) -> vec4<f32> {
    let half = vec2<u32>(params.content_size.x / 2u, params.content_size.y);
    if (p.x < half.x) {
        return vec4<f32>(sample_region(source, p, vec2<u32>(0u), half).rgb, 1.0);
    }
    let e = params.eye_size;
    let q = vec2<u32>(p.x - half.x, p.y);
    let x0 = q.x * e.x / half.x;
    let x1 = max(x0 + 1u, min((q.x + 1u) * e.x / half.x, e.x));
    let y = min(q.y * e.y / half.y, e.y - 1u);
    var sum = 0.0;
    for (var x = x0; x < x1; x = x + 1u) {
        sum = sum + textureLoad(nearness, vec2<u32>(x, y), 0).r;
    }
    let n = clamp(sum / f32(x1 - x0), 0.0, 1.0);
    return vec4<f32>(n, n, n, 1.0);
}

// VR180 (src/vr180.rs is the twin): output pixel `p` of an eye's half (from `origin`,
// `size` pixels) looks along a direction of the 180-degree hemisphere; where that meets
// the flat screen in front (params.vr.xy: its half width and height as tangents) the
// picture is sampled, elsewhere black. params.vr.z = 1 stretches it over the whole half.
fn vr180_eye(tex: texture_2d<f32>, p: vec2<u32>, origin: vec2<u32>, size: vec2<u32>) -> vec4<f32> {
    let uv = (vec2<f32>(p - origin) + 0.5) / vec2<f32>(size);
    if (params.vr.z > 0.5) {
        return vec4<f32>(textureSampleLevel(tex, linear_clamp, uv, 0.0).rgb, 1.0);
    }
    let pi = 3.14159265358979;
    let lon = (uv.x - 0.5) * pi;
    let lat = (0.5 - uv.y) * pi;
    let dir = vec3<f32>(cos(lat) * sin(lon), sin(lat), cos(lat) * cos(lon));
    if (dir.z <= 1e-6) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let on_screen = dir.xy / dir.z;
    let t = vec2<f32>(0.5 + on_screen.x / (2.0 * params.vr.x), 0.5 - on_screen.y / (2.0 * params.vr.y));
    if (any(t < vec2<f32>(0.0)) || any(t >= vec2<f32>(1.0))) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    return vec4<f32>(textureSampleLevel(tex, linear_clamp, t, 0.0).rgb, 1.0);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.out_size.x || id.y >= params.out_size.y) {
        return;
    }
    // Padding pixels repeat the last content row/column.
    let p = min(id.xy, params.content_size - 1u);
    let full = params.content_size;
    var c = vec4<f32>(0.0, 0.0, 0.0, 1.0);
    switch LAYOUT_ID {
        case LAYOUT_SBS, LAYOUT_HALF_SBS: {
            c = eyes_side_by_side(p, true);
        }
        case LAYOUT_CROSS, LAYOUT_HALF_CROSS: {
            c = eyes_side_by_side(p, false);
        }
        case LAYOUT_TB, LAYOUT_HALF_TB: {
            c = top_bottom(p);
        }
        case LAYOUT_ANAGLYPH: {
            let l = eye_pixel(left_view, p, vec2<u32>(0u), full, true).rgb;
            let r = eye_pixel(right_view, p, vec2<u32>(0u), full, false).rgb;
            c = vec4<f32>(anaglyph(l, r), 1.0);
        }
        case LAYOUT_LEFT: {
            c = eye_pixel(left_view, p, vec2<u32>(0u), full, true);
        }
        case LAYOUT_RIGHT: {
            c = eye_pixel(right_view, p, vec2<u32>(0u), full, false);
        }
        case LAYOUT_GRID: {
            c = grid(p);
        }
        case LAYOUT_DEPTH: {
            c = vec4<f32>(inferno(textureLoad(nearness, p, 0).r), 1.0);
        }
        case LAYOUT_HOLES: {
            let hole = 1.0 - textureLoad(warped_raw, p, 0).a;
            c = vec4<f32>(hole, hole, hole, 1.0);
        }
        case LAYOUT_RGBD, LAYOUT_HALF_RGBD: {
            c = rgbd(p);
        }
        case LAYOUT_VR180: {
            let half = vec2<u32>(params.content_size.x / 2u, params.content_size.y);
            if (p.x < half.x) {
                c = vr180_eye(left_view, p, vec2<u32>(0u), half);
            } else {
                c = vr180_eye(right_view, p, vec2<u32>(half.x, 0u), half);
            }
        }
        default: {}
    }
    textureStore(out_frame, vec2<i32>(id.xy), vec4<f32>(clamp(c.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}
