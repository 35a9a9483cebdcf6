// lethe/guidance/philox.hpp - counter-based random numbers for sampling.
//
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011): a keyed bijection of a 128-bit counter. The n-th
// number of a stream is a pure function of (key, counter), so a sampled token
// depends only on (seed, request stream, step) and never on the backend, the
// thread count or how many draws other rows made. Written from the paper's
// description; the known-answer vectors of Random123 are checked in
// tests/guidance/test_sampler.cpp.
#pragma once

#include <cstdint>

#include "../core/config.hpp"

namespace lethe::guidance {

struct philox4x32_result {
    std::uint32_t v[4];
};

// Philox4x32 with `rounds` rounds (10 is the standard, crush-resistant choice).
LETHE_HD inline philox4x32_result philox4x32(const std::uint32_t (&counter)[4], const std::uint32_t (&key)[2],
                                             int rounds = 10) noexcept {
    // Multipliers and Weyl key increments from the paper (Table 2 / section 4).
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    std::uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    std::uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < rounds; ++r) {
        if (r > 0) {
            k0 += w0;
            k1 += w1;
        }
        const std::uint64_t p0 = static_cast<std::uint64_t>(m0) * c0;
        const std::uint64_t p1 = static_cast<std::uint64_t>(m1) * c2;
        const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
        const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
        const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    return {{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) for draw `step` of stream `stream` under `seed`:
// the top 24 bits of the first Philox word, so every value is exactly
// representable and 1 is never returned.
LETHE_HD inline float philox_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t step) noexcept {
    const std::uint32_t ctr[4] = {static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(step >> 32),
                                  static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
    const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
    return static_cast<float>(philox4x32(ctr, key).v[0] >> 8) * 0x1p-24f;
}

}  // namespace lethe::guidance
