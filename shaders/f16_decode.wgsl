// f16_decode: a shared snippet (no bindings, no entry point) that Go
// prepends to the quantized kernels through Device.Kernel's include list.
// f16_to_f32(h) = the IEEE-754 binary16 value in the low 16 bits of h, as
// f32. Twin: engine/tensor.F16ToF32.
// Exact for every f16, subnormals included: it rebuilds the f32 bits with
// integer operations instead of calling unpack2x16float, which a driver
// running with f16 denormals flushed may round to zero. Every f16 is a
// normal f32 (or zero, inf, NaN), so no f32 subnormal is ever produced.

fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let exp = (h >> 10u) & 0x1fu;
    let mant = h & 0x3ffu;
    // normal: rebias the exponent from 15 to 127
    let normal = sign | ((exp + 112u) << 23u) | (mant << 13u);
    // zero or subnormal: mant * 2^-24, exact in f32
    let small = sign | bitcast<u32>(f32(mant) * 5.9604644775390625e-8);
    // infinity or NaN
    let special = sign | 0x7f800000u | (mant << 13u);
    return bitcast<f32>(select(select(normal, special, exp == 31u), small, exp == 0u));
}
