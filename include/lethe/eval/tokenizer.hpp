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
#include "../core/error.hpp"

namespace lethe::eval {

template <class T>
concept text_tokenizer = requires(const T& t, std::string_view text, std::span<const token_id> ids) {
    { t.vocab_size() } -> std::convertible_to<index_t>;
    { t.encode(text) } -> std::same_as<std::vector<token_id>>;
    { t.decode(ids) } -> std::convertible_to<std::string>;
    { t.eos() } -> std::convertible_to<token_id>;
};

// One token per byte (ids 0..255), EOS = 256, then one id per special
// string (by default ChatML's "<|im_start|>" = 257 and "<|im_end|>" = 258):
// every text round-trips, the chat markup costs one token per marker, and a
// model over it needs no vocabulary file. EOS decodes to nothing.
class byte_tokenizer {
public:
    static constexpr token_id eos_id = 256;

    byte_tokenizer() : byte_tokenizer(std::vector<std::string>{"<|im_start|>", "<|im_end|>"}) {}
    explicit byte_tokenizer(std::vector<std::string> specials) : specials_(std::move(specials)) {
        for (const auto& s : specials_) require(!s.empty(), "lethe::eval::byte_tokenizer", "empty special string");
    }

    index_t vocab_size() const noexcept { return 257 + static_cast<index_t>(specials_.size()); }
    token_id eos() const noexcept { return eos_id; }
    // Id of a special string, or -1.
    token_id special(std::string_view s) const noexcept {
        for (std::size_t k = 0; k < specials_.size(); ++k)
            if (specials_[k] == s) return static_cast<token_id>(257 + k);
        return -1;
    }

    std::vector<token_id> encode(std::string_view text) const {
        std::vector<token_id> out;
        out.reserve(text.size());
        for (std::size_t i = 0; i < text.size();) {
            std::size_t best = specials_.size(), len = 0;
            for (std::size_t k = 0; k < specials_.size(); ++k)
                    if (specials_[k].size() > len && text.substr(i, specials_[k].size()) == specials_[k])
                        best = k, len = specials_[k].size();
            if (best < specials_.size()) {
                out.push_back(static_cast<token_id>(257 + best));
                i += len;
            } else {
                out.push_back(static_cast<token_id>(static_cast<unsigned char>(text[i++])));
            }
        }
        return out;
    }
    std::string decode(std::span<const token_id> ids) const {
        std::string out;
        out.reserve(ids.size());
        for (token_id t : ids) {
            if (t >= 0 && t < 256) out += static_cast<char>(static_cast<unsigned char>(t));
            else if (t >= 257 && t < vocab_size()) out += specials_[static_cast<std::size_t>(t - 257)];
        }
        return out;
    }

private:
    std::vector<std::string> specials_;
};

static_assert(text_tokenizer<byte_tokenizer>);

}  // namespace lethe::eval
