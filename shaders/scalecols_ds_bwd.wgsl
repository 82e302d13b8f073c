// scalecols_ds_bwd: partials[k*cols + c] = sum over rows r of block k of
// dout[r, c] * inp[r, c], for c < cols, block k holding rows
// [k*per, min((k+1)*per, rows)). dout and inp are (rows, cols) row-major;
// inp is scalecols_fwd's input.
// First of two passes (then blocksum_final.wgsl, which adds the blocks);
// together their twin is the ds of engine/ref.ScaleColsBackward.
// Bindings: dout (read), inp (read), partials (blocks * cols f32,
// read_write), Params.
// One invocation per (column, block): gid.x is the column, gid.y the block,
// so neighbouring invocations read neighbouring words of a row. The host
// keeps per (the loop's trips) small.

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    per: u32, // rows per block
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= params.cols) {
        return;
    }
    let r0 = gid.y * params.per;
    let r1 = min(r0 + params.per, params.rows);
    var s: f32 = 0.0;
    for (var r = r0; r < r1; r++) {
        let i = r * params.cols + c;
        s += dout[i] * inp[i];
    }
    partials[gid.y * params.cols + c] = s;
}
