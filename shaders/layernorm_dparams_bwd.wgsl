// layernorm_dparams_bwd: for c < cols and each block k of rows
// [k*per, min((k+1)*per, rows)),
//   partials[k*cols + c]         = sum over r in block k of dout[r, c] * (inp[r, c] - mean[r]) * rstd[r]
//   partials[plane + k*cols + c] = sum over r in block k of dout[r, c]
// dout and inp are (rows, cols) row-major, mean and rstd are (rows) (saved
// by layernorm_fwd.wgsl).
// First of two passes (then blocksum_final.wgsl once per plane, which adds
// the blocks); together their twin is the dweight and dbias of
// engine/ref.LayerNormBackward.
// Bindings: dout (read), inp (read), mean (read), rstd (read), partials
// (2 planes of blocks * cols f32, read_write), Params.
// One invocation per (column, block): gid.x is the column, gid.y the block,
// so neighbouring invocations read neighbouring words of a row. The host
// keeps per (the loop's trips) small.

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    per: u32,   // rows per block
    plane: u32, // words from the dweight plane to the dbias plane
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= params.cols) {
        return;
    }
    let r0 = gid.y * params.per;
    let r1 = min(r0 + params.per, params.rows);
    var sw: f32 = 0.0;
    var sb: f32 = 0.0;
    for (var r = r0; r < r1; r++) {
        let i = r * params.cols + c;
        let d = dout[i];
        sw += d * ((inp[i] - mean[r]) * rstd[r]);
        sb += d;
    }
    let at = gid.y * params.cols + c;
    partials[at] = sw;
    partials[params.plane + at] = sb;
}
