// The frame as a mesh seen from another camera (crate::view3d): one vertex every
// `step` pixels of the depth the warp prepared (upsampled, shaped, dilated), two
// triangles per grid cell, drawn with a depth buffer into the targets the warp's resolve
// writes for an eye: colour with alpha 0 where nothing lands, and the depth quantity of
// what does. The warp's fill passes then fill what the moved camera sees uncovered.
// Its CPU twin (grid, triangles, edge test) is view3d::export::Mesh.
//
// A triangle is dropped, by moving all three corners outside the clip volume, when
// - two of its corners are not one surface by the warp's edge test (--edge-threshold),
//   measured against 1/z (view3d::SourceCamera::same_surface), or
// - the new camera sees it stretched more than `max_stretch` times what its distances
//   explain (the warp's --max-stretch: a rubber sheet across a depth step), or
// - a corner is behind the near plane.

@group(0) @binding(0) var<uniform> mesh: MeshParams;
@group(0) @binding(1) var nearness: texture_2d<f32>;
@group(0) @binding(2) var colour: texture_2d<f32>;
@group(0) @binding(3) var colour_sampler: sampler;

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) uv: vec2<f32>,
    @location(1) near: f32,
}

struct FragmentOut {
    @location(0) colour: vec4<f32>,
    @location(1) near: vec4<f32>,
}

// view3d::NEAR_PLANE
const MESH_NEAR: f32 = 1e-3;

// view3d::export::grid_len and grid_pixel.
fn grid_len(len: u32) -> u32 {
    return (len - 1u + mesh.step - 1u) / mesh.step + 1u;
}

fn grid_pixel(i: u32, len: u32) -> u32 {
    return min(i * mesh.step, len - 1u);
}

fn inverse_distance(q: f32) -> f32 {
    return mesh.inv_z.x + mesh.inv_z.y * q;
}

fn one_surface(q0: f32, q1: f32) -> bool {
    let jump = abs(q1 - q0) / max(max(q0, q1) + mesh.jump_floor, 1e-20);
    return q0 >= 0.0 && q1 >= 0.0 && inverse_distance(min(q0, q1)) > 0.0
        && jump <= mesh.edge_threshold;
}

// Pixel coordinates of a clip-space point (w > 0).
fn on_screen(c: vec4<f32>) -> vec2<f32> {
    let ndc = c.xy / c.w;
    return vec2<f32>((ndc.x + 1.0) * 0.5, (1.0 - ndc.y) * 0.5) * vec2<f32>(mesh.size);
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let cols = grid_len(mesh.size.x) - 1u;
    let cell = index / 6u;
    let corner = index % 6u;
    let g = vec2<u32>(cell % cols, cell / cols);
    // (0,0) (1,0) (0,1), then (1,0) (1,1) (0,1): view3d::export::CELL_TRIANGLES.
    var offsets = array<vec2<u32>, 6>(
        vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), vec2<u32>(0u, 1u),
        vec2<u32>(1u, 0u), vec2<u32>(1u, 1u), vec2<u32>(0u, 1u),
    );
    let first = (corner / 3u) * 3u;
    var px: array<vec2<u32>, 3>;
    var q: array<f32, 3>;
    var z: array<f32, 3>;
    var clip: array<vec4<f32>, 3>;
    for (var k = 0u; k < 3u; k++) {
        let gk = g + offsets[first + k];
        let p = vec2<u32>(grid_pixel(gk.x, mesh.size.x), grid_pixel(gk.y, mesh.size.y));
        px[k] = p;
        q[k] = textureLoad(nearness, p, 0).r;
        z[k] = 1.0 / max(inverse_distance(q[k]), 1e-20);
        let xy = (vec2<f32>(p) + 0.5 - mesh.centre) * z[k] / mesh.focal;
        clip[k] = mesh.clip_from_source * vec4<f32>(xy, z[k], 1.0);
    }
    var keep = true;
    for (var k = 0u; k < 3u; k++) {
        let j = (k + 1u) % 3u;
        keep = keep && one_surface(q[k], q[j]) && clip[k].w > MESH_NEAR;
    }
    if (keep) {
        for (var k = 0u; k < 3u; k++) {
            let j = (k + 1u) % 3u;
            let source_len = length(vec2<f32>(px[k]) - vec2<f32>(px[j]));
            // A surface z away from the source camera and w from this one looks z / w
            // times as large here.
            let expected = source_len * (z[k] + z[j]) / (clip[k].w + clip[j].w);
            let seen = length(on_screen(clip[k]) - on_screen(clip[j]));
            keep = keep && seen <= mesh.max_stretch * expected;
        }
    }
    let me = corner - first;
    var out: VertexOut;
    out.clip = select(vec4<f32>(0.0, 0.0, -1.0, 1.0), clip[me], keep);
    out.uv = (vec2<f32>(px[me]) + 0.5) / vec2<f32>(textureDimensions(colour));
    out.near = q[me];
    return out;
}

@fragment
fn fs_main(v: VertexOut) -> FragmentOut {
    var out: FragmentOut;
    out.colour = vec4<f32>(textureSampleLevel(colour, colour_sampler, v.uv, 0.0).rgb, 1.0);
    out.near = vec4<f32>(v.near, 0.0, 0.0, 0.0);
    return out;
}
