// rope_sincos: a shared snippet (no bindings, no entry point) that Go
// prepends to rope_fwd.wgsl and rope_bwd.wgsl: sin and cos of a rotary angle to about 1 ulp
// (WGSL's builtins are only bound to 2^-11 absolute, and SwiftShader's are
// that coarse). The angle is reduced to [-pi/4, pi/4] by quadrant
// (Cody-Waite, pi/2 split in three), then Cephes' sinf/cosf polynomials.
// One function for both, so the backward turns by exactly the forward's
// angles.

const TWO_OVER_PI: f32 = 0.6366197723675814;
// pi/2 = PIO2_A + PIO2_B + PIO2_C; A and B have few significant bits, so
// q*A and q*B are exact for the quadrant counts q of real positions.
const PIO2_A: f32 = 1.5703125;
const PIO2_B: f32 = 4.837512969970703125e-4;
const PIO2_C: f32 = 7.54978995489188216e-8;

// sincos returns (sin(a), cos(a)).
fn sincos(a: f32) -> vec2<f32> {
    let q = round(a * TWO_OVER_PI);
    let r = ((a - q * PIO2_A) - q * PIO2_B) - q * PIO2_C;
    let z = r * r;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    switch (i32(q) & 3) {
        case 0: { return vec2<f32>(s, c); }
        case 1: { return vec2<f32>(c, -s); }
        case 2: { return vec2<f32>(-s, -c); }
        default: { return vec2<f32>(-c, s); }
    }
}
