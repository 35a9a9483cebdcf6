// lethe/model/random.hpp - counter-based random numbers.
//
// Every random value is a pure function of (seed, stream, index): results do
// not depend on thread count or call order, and the whole "RNG state" of a
// training run is a seed and a step counter, so resuming is exact.
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/config.hpp"

namespace lethe::model {

// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
LETHE_HD inline std::uint64_t mix64(std::uint64_t z) noexcept {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

LETHE_HD inline std::uint64_t hash_counter(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) noexcept {
    return mix64(mix64(seed ^ mix64(stream)) + index);
}

// Uniform in (0, 1), 53 random bits, never 0.
// mix64, hash_counter and uniform_open are LETHE_HD: the thrust model's
// kernels draw the same LoRA dropout masks on a GPU (integer arithmetic and
// one IEEE double add and multiply: host and device agree bit for bit).
LETHE_HD inline double uniform_open(std::uint64_t bits) noexcept {
    return (double(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller from two counter-derived uniforms.
inline double normal_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) noexcept {
    const double u1 = uniform_open(hash_counter(seed, stream, 2 * index));
    const double u2 = uniform_open(hash_counter(seed, stream, 2 * index + 1));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// LoRA dropout masks, one rule for both models (lora_adapters in lora.hpp,
// thrust_kernels::lora_dropout in thrust_layers.hpp): element i (= row * in
// + col) of base tensor t's adapter input at dropout step `step` is kept when
//   uniform_open(hash_counter(step, 0x70000000 + t, i)) >= p.
// hash_counter(seed, stream, i) = mix64(mix64(seed ^ mix64(stream)) + i): the
// two mixes that do not depend on i are done once, at construction.
struct lora_dropout_mask {
    std::uint64_t key;
    double p;
    LETHE_HD lora_dropout_mask(std::uint64_t step, std::uint64_t tensor, double drop) noexcept
        : key(mix64(step ^ mix64(0x70000000ull + tensor))), p(drop) {}
    LETHE_HD bool keeps(std::uint64_t i) const noexcept { return uniform_open(mix64(key + i)) >= p; }
};

}  // namespace lethe::model
