// lethe/core/hash.hpp - FNV-1a (Fowler, Noll, Vo), 64-bit: a fast,
// non-cryptographic hash for stream keys and fingerprints of inputs.
#pragma once

#include <cstdint>
#include <string_view>

namespace lethe {

// h = (h xor byte) * 0x100000001B3 for every byte, from the offset basis.
constexpr std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = 0xCBF29CE484222325ull) noexcept {
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h;
}

}  // namespace lethe
