// lethe/io/tokenizer.hpp - byte-level BPE tokenizer (GPT-2 family) read from
// GGUF metadata, as llama.cpp's "gpt2" vocabulary type.
//
// Encoding, in order:
//  1. special tokens: with parse_special, occurrences of control tokens
//     (e.g. "<|im_start|>") are cut out of the text first, longest token
//     first; user-defined tokens are always cut out (llama.cpp's rule).
//  2. pre-tokenizer: the remaining text is split into words. "gpt2":
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     "smollm" (and starcoder, refact, ...): every \p{N} code point is first
//     isolated as its own word, then the gpt2 rules run on the text between.
//     Hand-written, one pass, linear in the text; no std::regex.
//  3. each word's bytes are mapped to the GPT-2 byte alphabet (bytes 33-126,
//     161-172, 174-255 are themselves; the other 68 become U+0100 + k in byte
//     order), then merged pairwise by merge rank (lowest rank first, leftmost
//     on ties) until no listed pair remains.
// Decoding maps token texts back through the byte alphabet; it round-trips
// any byte string (invalid UTF-8 included).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/causal_lm.hpp"  // lethe::token_id
#include "../core/error.hpp"

namespace lethe::io {

class gguf_file;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class token_type : std::int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

enum class pre_tokenizer_kind { gpt2, digits_then_gpt2 };

// Maps a GGUF `tokenizer.ggml.pre` name to the splitting rules (throws for
// names whose rules lethe does not implement).
pre_tokenizer_kind pre_tokenizer_from_name(std::string_view name);

// Splits `text` into words; appends [begin, end) byte ranges to `words`.
// Invalid UTF-8 bytes are treated as one-byte symbols (not letters, numbers
// or spaces) so that every byte lands in exactly one word.
void pre_tokenize(pre_tokenizer_kind kind, std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& words);

struct bpe_vocabulary {
    std::vector<std::string> tokens;       // token text in the byte alphabet (special tokens: raw text)
    std::vector<token_type> types;         // empty: all normal
    std::vector<std::string> merges;       // "left right", rank = index
    pre_tokenizer_kind pre = pre_tokenizer_kind::gpt2;
    token_id bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = false, add_eos = false;
};

struct encode_options {
    bool add_special = false;    // prepend BOS / append EOS where the vocabulary asks for them
    bool parse_special = false;  // recognise control tokens written in the text
};

class bpe_tokenizer {
public:
    explicit bpe_tokenizer(bpe_vocabulary vocab);
    // Reads tokenizer.ggml.{model,pre,tokens,token_type,merges,*_token_id,add_*}.
    static bpe_tokenizer from_gguf(const gguf_file& file);

    std::vector<token_id> encode(std::string_view text, const encode_options& opt = {}) const;
    // Appends to `out` (reuse it across calls to avoid reallocation).
    void encode_append(std::string_view text, const encode_options& opt, std::vector<token_id>& out) const;

    // Bytes of the tokens; control tokens render as their text when
    // render_special, else as nothing.
    std::string decode(std::span<const token_id> ids, bool render_special = true) const;
    const std::string& token_bytes(token_id id) const;  // decoded bytes of one token
    const std::string& token_text(token_id id) const;   // as stored in the vocabulary

    token_id find(std::string_view token_text) const noexcept;  // -1 when absent
    std::size_t size() const noexcept { return vocab_.tokens.size(); }
    const bpe_vocabulary& vocabulary() const noexcept { return vocab_; }
    token_id bos() const noexcept { return vocab_.bos; }
    token_id eos() const noexcept { return vocab_.eos; }
    token_type type(token_id id) const;

private:
    struct merge_entry {
        std::int32_t rank;
        token_id merged;
    };
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    bpe_vocabulary vocab_;
    std::unordered_map<std::string, token_id, string_hash, std::equal_to<>> ids_;
    std::unordered_map<std::uint64_t, merge_entry> merges_;  // key: left id << 32 | right id
    std::vector<std::string> bytes_;                         // decoded bytes per token
    token_id byte_token_[256];                               // token of each single byte
    std::vector<token_id> specials_;                         // control/user-defined, longest first

    void check_id(token_id id, std::string_view where) const;
    void encode_word(std::string_view word, std::vector<token_id>& out) const;
    void encode_plain(std::string_view text, std::vector<token_id>& out) const;
};

}  // namespace lethe::io

#include "tokenizer_impl.hpp"
