// Example for the post-process slot (`--post FILE.wgsl`, also in the preview): the
// row-interleaved frame passive (polarised) 3D TVs and monitors show, even rows from the
// left eye and odd rows from the right. Use it with `--layout left` so the output has
// the size of one eye.
//
// A post file defines one function, `post(p)`, the colour of output pixel `p`. It can read
// what shaders/compose.wgsl declares: the eyes `left_view` and `right_view`, the input
// `source`, `nearness` (the depth quantity; relative depth is 0 far .. 1 near),
// `warped_raw` (the warped view before hole filling, alpha 0 in holes), the sampler
// `linear_clamp`, `params.out_size` / `params.content_size` / `params.eye_size`, and
// compose's helpers (`sample_region`, `inferno`, `anaglyph`, `side_by_side`...).

fn post(p: vec2<u32>) -> vec4<f32> {
    let from_left = textureLoad(left_view, p, 0);
    let from_right = textureLoad(right_view, p, 0);
    return select(from_left, from_right, p.y % 2u == 1u);
}
