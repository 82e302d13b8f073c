// adamw_step: one AdamW step (torch.optim.AdamW: decoupled weight decay)
// on a flat buffer of n trainable parameters, for i < n:
//   g    = grads[i] * scale[0]                 (scale[0]: the clip factor)
//   m[i] = beta1 * m[i] + (1 - beta1) * g
//   v[i] = beta2 * v[i] + (1 - beta2) * g * g
//   p[i] -= lr * (m[i] * c1 / (sqrt(v[i]) * c2 + eps) + wd * p[i])
// with the bias corrections c1 = 1/(1 - beta1^t), c2 = 1/sqrt(1 - beta2^t)
// worked out on the host for step t, so m * c1 = m_hat and
// sqrt(v) * c2 = sqrt(v_hat). p, grads, m and v are (n); scale is read on
// the GPU, so global-norm clipping (grad_norm_partial/final) needs no
// readback.
// Twin: engine/ref.AdamWStep. Bindings: p (read_write), grads (read),
// m, v (read_write), scale (read), Params.
// One invocation per parameter; the grid may be 2-D when n needs more than
// 65535 workgroups: row y covers elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,     // number of parameters
    row: u32,   // elements per grid row: WG * number of workgroups in x
    lr: f32,    // learning rate
    beta1: f32, // first-moment decay
    beta2: f32, // second-moment decay
    eps: f32,   // added to sqrt(v_hat)
    wd: f32,    // decoupled weight decay
    c1: f32,    // 1 / (1 - beta1^t)
    c2: f32,    // 1 / sqrt(1 - beta2^t)
}

@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    let g = grads[i] * scale[0];
    let mi = params.beta1 * m[i] + (1.0 - params.beta1) * g;
    let vi = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let x = p[i];
    p[i] = x - params.lr * (mi * params.c1 / (sqrt(vi) * params.c2 + params.eps) + params.wd * x);
}
