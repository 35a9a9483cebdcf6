// lethe/core/utf8.hpp - well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, <= U+10FFFF) for text a model writes: a byte-level BPE model
// may emit half a character, or stop in the middle of one, and such text
// must not reach a JSON writer or a user's file as it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lethe {

namespace utf8_detail {
// Length of the well-formed sequence at s[i], or 0; `maximal` receives the
// length of its longest valid prefix (at least 1), the "maximal subpart"
// that Unicode 15 section 3.9 (U+FFFD substitution) replaces as one unit.
inline std::size_t sequence_at(std::string_view text, std::size_t i, std::size_t& maximal) noexcept {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    const unsigned c = s[i];
    maximal = 1;
    if (c < 0x80) return 1;
    std::size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if (i + k >= n) return 0;
        const unsigned b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return 0;
        maximal = k + 1;
    }
    return len;
}
}  // namespace utf8_detail

// Offset of the first byte that does not start or continue a well-formed
// UTF-8 sequence, or text.size() when the whole text is valid.
inline std::size_t first_invalid_utf8(std::string_view text) noexcept {
    std::size_t i = 0, maximal = 0;
    while (i < text.size()) {
        // ASCII eight bytes at a time: the scanner checks every text first.
        while (i + 8 <= text.size()) {
            std::uint64_t w;
            std::memcpy(&w, text.data() + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i == text.size()) break;
        const std::size_t len = utf8_detail::sequence_at(text, i, maximal);
        if (len == 0) return i;
        i += len;
    }
    return text.size();
}

// Appends code point `cp` (<= U+10FFFF, not a surrogate) as UTF-8.
inline void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// `text` with each maximal ill-formed subpart replaced by U+FFFD, as
// Python's bytes.decode("utf-8", errors="replace") and Hugging Face's
// tokenizer decode do; valid text comes back unchanged.
inline std::string to_valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0, maximal = 0;
    while (i < text.size()) {
        const std::size_t bad = i + first_invalid_utf8(text.substr(i));
        out.append(text.substr(i, bad - i));
        if (bad == text.size()) break;
        utf8_detail::sequence_at(text, bad, maximal);
        out += "\xEF\xBF\xBD";
        i = bad + maximal;
    }
    return out;
}

}  // namespace lethe
