// scalecols_fwd: out[r, c] = inp[r, c] * s[c] for r < rows, c < cols (IA3's
// learned per-feature scale); inp and out are (rows, cols) row-major, e.g.
// (B*T, C), s is (cols). Element i = r*cols + c, for i < n = rows*cols.
// Twin: engine/ref.ScaleColsForward. Bindings: inp (read), s (read),
// out (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,    // number of elements, rows * cols
    row: u32,  // elements per grid row: WG * number of workgroups in x
    cols: u32,
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    out[i] = inp[i] * s[i % params.cols];
}
