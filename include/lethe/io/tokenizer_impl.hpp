// lethe/io/tokenizer_impl.hpp - implementation of tokenizer.hpp.
#pragma once

#include <algorithm>
#include <functional>

#include "../core/utf8.hpp"
#include "gguf.hpp"
#include "tokenizer_unicode_table.hpp"

namespace lethe::io {

namespace tokenizer_detail {
inline constexpr std::string_view where = "lethe::io::bpe_tokenizer";

enum char_class : std::uint8_t { other = 0, letter = 1, number = 2, space = 3 };

inline char_class class_of(std::uint32_t cp) noexcept {
    // ASCII first: the bulk of real text.
    if (cp < 128) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return letter;
        if (cp >= '0' && cp <= '9') return number;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return space;
        return other;
    }
    if (cp > 0x10FFFF) return other;  // invalid byte marker
    const auto* runs = detail::unicode_class_runs;
    const std::size_t n = sizeof(detail::unicode_class_runs) / sizeof(detail::unicode_class_runs[0]);
    // Last run whose first code point is <= cp.
    const auto* it = std::upper_bound(runs, runs + n, (cp << 2) | 3u);
    return static_cast<char_class>(*(it - 1) & 3u);
}

// Decodes one UTF-8 code point at text[i]; returns its length. Malformed
// input (bad lead, bad or missing continuation, overlong, surrogate, > U+10FFFF)
// yields cp = 0xFFFFFFFF and length 1.
inline std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp) noexcept {
    const auto b0 = static_cast<unsigned char>(text[i]);
    const std::size_t left = text.size() - i;
    cp = 0xFFFFFFFFu;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t len;
    std::uint32_t v, min;
    if ((b0 & 0xE0) == 0xC0) { len = 2; v = b0 & 0x1F; min = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { len = 3; v = b0 & 0x0F; min = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { len = 4; v = b0 & 0x07; min = 0x10000; }
    else return 1;
    if (left < len) return 1;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if ((b & 0xC0) != 0x80) return 1;
        v = (v << 6) | (b & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 1;
    cp = v;
    return len;
}

using lethe::append_utf8;  // core/utf8.hpp

// GPT-2's byte alphabet: printable bytes stand for themselves, the 68 others
// (0-32, 127-160, 173) map to U+0100.. in byte order.
inline std::uint32_t byte_to_code_point(unsigned b) noexcept {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    unsigned k = 0;  // rank of b among the remapped bytes
    for (unsigned c = 0; c < b; ++c)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) ++k;
    return 256 + k;
}

struct code_point {
    std::uint32_t offset;  // byte offset of the code point in the text
    std::uint8_t cls;
    char32_t cp;
};

// gpt2 rules on cps[a, b); `end_offset` is the byte offset just after cps[b-1].
inline void split_gpt2(const std::vector<code_point>& cps, std::size_t a, std::size_t b, std::size_t end_offset,
                       std::vector<std::pair<std::size_t, std::size_t>>& words) {
    const auto offset_of = [&](std::size_t i) -> std::size_t { return i < b ? cps[i].offset : end_offset; };
    // Class at i, or 0xFF past the segment (matches nothing, like end of input).
    const auto cls = [&](std::size_t i) -> std::uint8_t { return i < b ? cps[i].cls : 0xFF; };
    std::size_t pos = a, start = a;
    const auto emit = [&](std::size_t end) {
        if (end > start) words.emplace_back(offset_of(start), offset_of(end));
        start = pos = end;
    };
    while (pos < b) {
        const char32_t c = cps[pos].cp;
        // 's|'t|'re|'ve|'m|'ll|'d (lower case only, as GPT-2)
        if (c == U'\'' && pos + 1 < b) {
            const char32_t n1 = cps[pos + 1].cp;
            if (n1 == U's' || n1 == U't' || n1 == U'm' || n1 == U'd') { emit(pos + 2); continue; }
            if (pos + 2 < b) {
                const char32_t n2 = cps[pos + 2].cp;
                if ((n1 == U'r' && n2 == U'e') || (n1 == U'v' && n2 == U'e') || (n1 == U'l' && n2 == U'l')) {
                    emit(pos + 3);
                    continue;
                }
            }
        }
        const std::size_t body = pos + (c == U' ' ? 1 : 0);  // optional leading space
        const std::uint8_t k = cls(body);
        if (k == letter || k == number || k == other) {
            //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
            std::size_t e = body;
            while (cls(e) == k) ++e;
            emit(e);
            continue;
        }
        std::size_t n = 0;
        while (cls(pos + n) == space) ++n;
        if (n > 1 && pos + n < b) {
            emit(pos + n - 1);  // \s+(?!\S): leave the last space to the next word
        } else if (n > 0) {
            emit(pos + n);  // \s+
        } else {
            emit(pos + 1);
        }
    }
}
}  // namespace tokenizer_detail

inline pre_tokenizer_kind pre_tokenizer_from_name(std::string_view name) {
    // Names as llama.cpp's converter writes them into tokenizer.ggml.pre.
    for (std::string_view n : {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"})
        if (name == n) return pre_tokenizer_kind::digits_then_gpt2;
    for (std::string_view n : {"gpt2", "gpt-2", "default", "mpt", "olmo", "jais"})
        if (name == n) return pre_tokenizer_kind::gpt2;
    fail(tokenizer_detail::where, "pre-tokenizer '", name,
         "' is not implemented (supported: smollm, starcoder, refact, command-r, codeshell, exaone, minerva, gpt2, "
         "mpt, olmo, jais)");
}

inline void pre_tokenize(pre_tokenizer_kind kind, std::string_view text,
                         std::vector<std::pair<std::size_t, std::size_t>>& words) {
    using namespace tokenizer_detail;
    static thread_local std::vector<code_point> cps;
    cps.clear();
    for (std::size_t i = 0; i < text.size();) {
        std::uint32_t cp;
        const std::size_t len = decode_utf8(text, i, cp);
        cps.push_back({static_cast<std::uint32_t>(i), class_of(cp), static_cast<char32_t>(cp)});
        i += len;
    }
    const std::size_t n = cps.size();
    if (kind == pre_tokenizer_kind::gpt2) {
        split_gpt2(cps, 0, n, text.size(), words);
        return;
    }
    // \p{N} isolated first, then gpt2 on the runs between.
    std::size_t i = 0;
    while (i < n) {
        if (cps[i].cls == number) {
            const std::size_t end = i + 1 < n ? cps[i + 1].offset : text.size();
            words.emplace_back(cps[i].offset, end);
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < n && cps[j].cls != number) ++j;
        split_gpt2(cps, i, j, j < n ? cps[j].offset : text.size(), words);
        i = j;
    }
}

// ---- bpe_tokenizer ------------------------------------------------------------

inline bpe_tokenizer::bpe_tokenizer(bpe_vocabulary vocab) : vocab_(std::move(vocab)) {
    using namespace tokenizer_detail;
    const std::size_t n = vocab_.tokens.size();
    require(n > 0 && n < (std::size_t{1} << 31), where, "vocabulary size ", n, " out of range");
    if (vocab_.types.empty()) vocab_.types.assign(n, token_type::normal);
    require(vocab_.types.size() == n, where, "token_type has ", vocab_.types.size(), " entries for ", n, " tokens");
    for (token_id special : {vocab_.bos, vocab_.eos, vocab_.unk, vocab_.pad})
        require(special >= -1 && special < static_cast<token_id>(n), where, "special token id ", special,
                " outside the vocabulary of ", n);

    ids_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) ids_.emplace(vocab_.tokens[i], static_cast<token_id>(i));  // first wins

    // Reverse byte alphabet: code point -> byte.
    std::int32_t cp_to_byte[324];
    std::fill(std::begin(cp_to_byte), std::end(cp_to_byte), -1);
    for (unsigned b = 0; b < 256; ++b) {
        const std::uint32_t cp = byte_to_code_point(b);
        cp_to_byte[cp] = static_cast<std::int32_t>(b);
        std::string s;
        append_utf8(s, cp);
        // Some vocabularies lack a few control bytes (SmolLM2 has no token for
        // 0x04): such bytes encode to nothing, as in llama.cpp.
        const auto it = ids_.find(s);
        byte_token_[b] = it == ids_.end() ? -1 : it->second;
    }

    bytes_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& t = vocab_.tokens[i];
        const token_type ty = vocab_.types[i];
        if (ty == token_type::control || ty == token_type::user_defined || ty == token_type::unknown) {
            bytes_[i] = t;  // raw text, not in the byte alphabet
            if (!t.empty()) specials_.push_back(static_cast<token_id>(i));
            continue;
        }
        std::string& out = bytes_[i];
        for (std::size_t k = 0; k < t.size();) {
            std::uint32_t cp;
            const std::size_t len = decode_utf8(t, k, cp);
            if (cp < 324 && cp_to_byte[cp] >= 0) out.push_back(static_cast<char>(cp_to_byte[cp]));
            else out.append(t, k, len);  // outside the alphabet: keep as written
            k += len;
        }
    }
    std::stable_sort(specials_.begin(), specials_.end(), [&](token_id a, token_id b) {
        return vocab_.tokens[static_cast<std::size_t>(a)].size() > vocab_.tokens[static_cast<std::size_t>(b)].size();
    });

    merges_.reserve(vocab_.merges.size());
    std::string joined;
    for (std::size_t r = 0; r < vocab_.merges.size(); ++r) {
        const std::string& m = vocab_.merges[r];
        const std::size_t sp = m.find(' ', 1);  // parts never contain ' ' (it is U+0120 in the alphabet)
        require(sp != std::string::npos && sp + 1 < m.size(), where, "merge ", r, " '", m, "' is not 'left right'");
        const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
        joined.assign(left);
        joined.append(right);
        const token_id l = find(left), rt = find(right), merged = find(joined);
        // A merge whose parts or result are not tokens can never fire on token symbols.
        if (l < 0 || rt < 0 || merged < 0) continue;
        const std::uint64_t key = (static_cast<std::uint64_t>(l) << 32) | static_cast<std::uint32_t>(rt);
        merges_.emplace(key, merge_entry{static_cast<std::int32_t>(r), merged});  // lowest rank wins
    }
}

inline bpe_tokenizer bpe_tokenizer::from_gguf(const gguf_file& f) {
    const std::string& model = f.get_string("tokenizer.ggml.model");
    require(model == "gpt2", tokenizer_detail::where, f.source(), ": tokenizer.ggml.model is '", model,
            "'; lethe reads byte-level BPE ('gpt2') vocabularies (SentencePiece 'llama' is not implemented yet)");
    bpe_vocabulary v;
    v.tokens = f.get_string_array("tokenizer.ggml.tokens");
    if (f.find("tokenizer.ggml.token_type")) {
        const auto types = f.get_int_array("tokenizer.ggml.token_type");
        v.types.reserve(types.size());
        for (auto t : types) {
            require(t >= 0 && t <= 6, tokenizer_detail::where, f.source(), ": token type ", t, " unknown");
            v.types.push_back(static_cast<token_type>(t));
        }
    }
    if (f.find("tokenizer.ggml.merges")) v.merges = f.get_string_array("tokenizer.ggml.merges");
    v.pre = pre_tokenizer_from_name(f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default");
    const auto id = [&](std::string_view key) -> token_id {
        if (!f.find(key)) return -1;
        const auto x = f.get_u64(key);
        require(x < v.tokens.size(), tokenizer_detail::where, f.source(), ": ", key, " = ", x, " outside the vocabulary");
        return static_cast<token_id>(x);
    };
    v.bos = id("tokenizer.ggml.bos_token_id");
    v.eos = id("tokenizer.ggml.eos_token_id");
    v.unk = id("tokenizer.ggml.unknown_token_id");
    v.pad = id("tokenizer.ggml.padding_token_id");
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", false);
    v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
    return bpe_tokenizer(std::move(v));
}

inline token_id bpe_tokenizer::find(std::string_view text) const noexcept {
    const auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
}

inline void bpe_tokenizer::check_id(token_id id, std::string_view where) const {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_.tokens.size())
        fail(tokenizer_detail::where, where, ": token id ", id, " outside the vocabulary of ", vocab_.tokens.size());
}

inline token_type bpe_tokenizer::type(token_id id) const {
    check_id(id, "type");
    return vocab_.types[static_cast<std::size_t>(id)];
}
inline const std::string& bpe_tokenizer::token_bytes(token_id id) const {
    check_id(id, "token_bytes");
    return bytes_[static_cast<std::size_t>(id)];
}
inline const std::string& bpe_tokenizer::token_text(token_id id) const {
    check_id(id, "token_text");
    return vocab_.tokens[static_cast<std::size_t>(id)];
}

inline void bpe_tokenizer::encode_word(std::string_view word, std::vector<token_id>& out) const {
    const std::size_t n = word.size();
    if (n == 1) {
        const token_id t = byte_token_[static_cast<unsigned char>(word[0])];
        if (t >= 0) out.push_back(t);
        return;
    }
    struct candidate {
        std::int32_t rank, left;
        token_id lid, rid;
        bool operator>(const candidate& o) const noexcept { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    // Per-thread workspaces: no allocation once they have grown.
    static thread_local std::vector<token_id> sym;
    static thread_local std::vector<std::int32_t> prev, next;
    static thread_local std::vector<candidate> heap;  // min-heap on (rank, left)
    sym.resize(n);
    prev.resize(n);
    next.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        sym[i] = byte_token_[static_cast<unsigned char>(word[i])];
        prev[i] = static_cast<std::int32_t>(i) - 1;
        next[i] = static_cast<std::int32_t>(i) + 1;
    }
    heap.clear();
    const auto consider = [&](std::int32_t a, std::int32_t b) {
        if (a < 0 || b >= static_cast<std::int32_t>(n)) return;
        const std::uint64_t key = (static_cast<std::uint64_t>(sym[a]) << 32) | static_cast<std::uint32_t>(sym[b]);
        const auto it = merges_.find(key);
        if (it == merges_.end()) return;
        heap.push_back({it->second.rank, a, sym[a], sym[b]});
        std::push_heap(heap.begin(), heap.end(), std::greater<>{});
    };
    for (std::size_t i = 0; i + 1 < n; ++i) consider(static_cast<std::int32_t>(i), static_cast<std::int32_t>(i) + 1);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
        const candidate c = heap.back();
        heap.pop_back();
        const std::int32_t l = c.left, r = next[l];
        // Stale: the left symbol died or changed, or its right neighbour changed.
        if (sym[l] != c.lid || r >= static_cast<std::int32_t>(n) || sym[r] != c.rid) continue;
        const auto key = (static_cast<std::uint64_t>(c.lid) << 32) | static_cast<std::uint32_t>(c.rid);
        sym[l] = merges_.find(key)->second.merged;
        sym[r] = -1;
        next[l] = next[r];
        if (next[r] < static_cast<std::int32_t>(n)) prev[next[r]] = l;
        consider(prev[l], l);
        consider(l, next[l]);
    }
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(n); i = next[i])
        if (sym[i] >= 0) out.push_back(sym[i]);  // -1: a byte without a token
}

inline void bpe_tokenizer::encode_plain(std::string_view text, std::vector<token_id>& out) const {
    static thread_local std::vector<std::pair<std::size_t, std::size_t>> words;
    words.clear();
    pre_tokenize(vocab_.pre, text, words);
    for (const auto& [b, e] : words) {
        const std::string_view w = text.substr(b, e - b);
        encode_word(w, out);
    }
}

inline void bpe_tokenizer::encode_append(std::string_view text, const encode_options& opt,
                                         std::vector<token_id>& out) const {
    if (opt.add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
    // Cut out special tokens, longest first; each later (shorter) token only
    // searches the raw pieces the longer ones left.
    struct piece {
        std::size_t begin, end;
        token_id special;  // -1: raw text [begin, end)
    };
    std::vector<piece> pieces{{0, text.size(), -1}}, next_pieces;
    for (token_id s : specials_) {
        const token_type ty = vocab_.types[static_cast<std::size_t>(s)];
        if (!opt.parse_special && ty != token_type::user_defined) continue;
        const std::string& t = vocab_.tokens[static_cast<std::size_t>(s)];
        next_pieces.clear();
        bool found = false;
        for (const piece& p : pieces) {
            if (p.special >= 0) {
                next_pieces.push_back(p);
                continue;
            }
            std::size_t from = p.begin;
            while (from < p.end) {
                const std::size_t at = text.substr(0, p.end).find(t, from);
                if (at == std::string_view::npos) break;
                found = true;
                if (at > from) next_pieces.push_back({from, at, -1});
                next_pieces.push_back({at, at + t.size(), s});
                from = at + t.size();
            }
            if (from < p.end) next_pieces.push_back({from, p.end, -1});
        }
        if (found) pieces.swap(next_pieces);
    }
    for (const piece& p : pieces) {
        if (p.special >= 0) out.push_back(p.special);
        else if (p.end > p.begin) encode_plain(text.substr(p.begin, p.end - p.begin), out);
    }
    if (opt.add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
}

inline std::vector<token_id> bpe_tokenizer::encode(std::string_view text, const encode_options& opt) const {
    std::vector<token_id> out;
    out.reserve(text.size() / 3 + 4);
    encode_append(text, opt, out);
    return out;
}

inline std::string bpe_tokenizer::decode(std::span<const token_id> ids, bool render_special) const {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const token_id id = ids[i];
        if (id < 0 || static_cast<std::size_t>(id) >= vocab_.tokens.size())
            fail(tokenizer_detail::where, "decode: position ", i, ": token id ", id, " outside the vocabulary of ",
                 vocab_.tokens.size());
        const token_type ty = vocab_.types[static_cast<std::size_t>(id)];
        if (!render_special && (ty == token_type::control || ty == token_type::unknown)) continue;
        out += bytes_[static_cast<std::size_t>(id)];
    }
    return out;
}

}  // namespace lethe::io
