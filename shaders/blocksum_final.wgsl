// blocksum_final: out[c] (+)= sum over k < blocks of partials[offset + k*cols + c],
// for c < cols: the second pass of a parameter gradient summed over rows
// (dweight and dbias of a norm, ds of ScaleCols), whose first pass wrote one
// (cols) plane of sums per block of rows. With accumulate the sum is added
// to out, otherwise it replaces it.
// Twin: the row sums of engine/ref.RMSNormBackward (dweight),
// LayerNormBackward (dweight, dbias) and ScaleColsBackward (ds); their first
// passes are rmsnorm_dweight_bwd.wgsl, layernorm_dparams_bwd.wgsl and
// scalecols_ds_bwd.wgsl.
// Bindings: partials (read), out (cols f32, read_write), Params.
// One invocation per column, index gid.y * row + gid.x; the host keeps
// blocks (the loop's trips) small. WGSL has no f32 atomics, hence two passes.

const WG: u32 = 256u;

struct Params {
    cols: u32,
    blocks: u32,     // planes of partial sums
    offset: u32,     // first word of plane 0 in partials
    accumulate: u32, // 1: out += sum, 0: out = sum
    row: u32,        // columns per grid row: WG * number of workgroups in x
}

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.y * params.row + gid.x;
    if (c >= params.cols) {
        return;
    }
    var s: f32 = 0.0;
    for (var k = 0u; k < params.blocks; k++) {
        s += partials[params.offset + k * params.cols + c];
    }
    if (params.accumulate != 0u) {
        s += out[c];
    }
    out[c] = s;
}
