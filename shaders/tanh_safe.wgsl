// tanh_safe: tanh(x) without WGSL's tanh, whose accuracy for large |x|
// varies between adapters (some overflow to NaN). For |x| >= 0.125 it is
// sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|) in (0, 0.78], where
// 1 - e loses no precision; below, the Taylor series to x^7, whose first
// omitted term is under 1.5e-9 * |x|.
// Snippet, included by tanh_fwd.wgsl and tanh_bwd.wgsl.

fn tanh_safe(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.125) {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}
