// lethe/eval/tokenizer.hpp - the small text <-> token interface evaluation
// and the recipe need, and a byte-level tokenizer for small models.
//
// Anything with these members is a text_tokenizer (a BPE tokenizer of a real
// model plugs in by providing them):
//   t.vocab_size()           -> index_t
//   t.encode(text)           -> std::vector<token_id>   (no special tokens added)
//   t.decode(tokens)         -> std::string
//   t.eos()                  -> token_id                (end of a document)
#pragma once

#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/config.hpp"

namespace lethe::eval {

template <class T>
concept text_tokenizer = requires(const T& t, std::string_view text, std::span<const token_id> ids) {
    { t.vocab_size() } -> std::convertible_to<index_t>;
    { t.encode(text) } -> std::same_as<std::vector<token_id>>;
    { t.decode(ids) } -> std::convertible_to<std::string>;
    { t.eos() } -> std::convertible_to<token_id>;
};

// One token per byte (ids 0..255) plus EOS = 256: every text round-trips,
// and a model over it needs no vocabulary file. Decoding drops ids >= 256.
struct byte_tokenizer {
    static constexpr token_id eos_id = 256;

    index_t vocab_size() const noexcept { return 257; }
    token_id eos() const noexcept { return eos_id; }
    std::vector<token_id> encode(std::string_view text) const {
        std::vector<token_id> out(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<token_id>(static_cast<unsigned char>(text[i]));
        return out;
    }
    std::string decode(std::span<const token_id> ids) const {
        std::string out;
        out.reserve(ids.size());
        for (token_id t : ids)
            if (t >= 0 && t < 256) out += static_cast<char>(static_cast<unsigned char>(t));
        return out;
    }
    std::string piece(token_id t) const { return t >= 0 && t < 256 ? std::string(1, static_cast<char>(t)) : std::string(); }
};

static_assert(text_tokenizer<byte_tokenizer>);

}  // namespace lethe::eval
