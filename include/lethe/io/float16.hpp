// lethe/io/float16.hpp - IEEE binary16 and bfloat16 <-> float conversions.
//
// Storage formats only (safetensors F16/BF16, GGUF F16/BF16 and the scales
// of quantised blocks); arithmetic is always float. Conversions to float are
// exact; float -> half/bf16 rounds to nearest even, keeps NaN a NaN (quiet)
// and overflows to infinity.
#pragma once

#include <bit>
#include <cstdint>

#include "../core/config.hpp"

namespace lethe::io {

LETHE_HD inline float bf16_to_float(std::uint16_t h) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

LETHE_HD inline std::uint16_t float_to_bf16(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    return static_cast<std::uint16_t>((u + rounding) >> 16);
}

LETHE_HD inline float half_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
    if (exp == 0) {
        if (mant == 0) return std::bit_cast<float>(sign);  // +-0
        // Subnormal half: value = mant * 2^-24, exact in float.
        const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

LETHE_HD inline std::uint16_t float_to_half(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
    if (a < 0x38800000u) {
        // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
        if (a < 0x33000000u) return sign;  // below half of the smallest subnormal
        const std::uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        const int shift = 126 - static_cast<int>(a >> 23);  // 14..24 (+1 for the implicit bit placement)
        const std::uint32_t q = mant >> shift;
        const std::uint32_t rem = mant & ((1u << shift) - 1u);
        const std::uint32_t half = 1u << (shift - 1);
        const std::uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
        return static_cast<std::uint16_t>(sign | r);
    }
    // Normal: rebias exponent, round mantissa from 23 to 10 bits.
    std::uint32_t v = a - 0x38000000u;  // exponent 127 -> 15
    v += 0xfffu + ((v >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (v >> 13));
}

}  // namespace lethe::io
