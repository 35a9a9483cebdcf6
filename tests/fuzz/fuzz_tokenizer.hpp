// tests/fuzz/fuzz_tokenizer.hpp - byte-level BPE (lethe/io/tokenizer.hpp) on
// arbitrary bytes. The first byte picks the mode:
//   bit 0  pre-tokenizer: gpt2 or digits-then-gpt2 (smollm)
//   bit 1  parse_special      bit 2  add_special
//   bit 7  the vocabulary itself comes from the input (lines up to a NUL:
//          "\x01text" control token, "\x02text" user-defined, "\x03l r" a
//          merge, anything else a normal token), the text after the NUL.
// Checked: pre_tokenize's words tile the text; every id is in the vocabulary;
// with the fixed vocabulary (all 256 bytes present) decode(encode(x)) == x for
// every byte string, the documented round trip.
#pragma once

#include <lethe/io/tokenizer.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

namespace tokenizer_detail {
// The 256 byte tokens, a few merges and three special tokens.
inline lethe::io::bpe_vocabulary small_vocabulary() {
    using namespace lethe::io;
    bpe_vocabulary v;
    for (unsigned b = 0; b < 256; ++b) {
        std::string s;
        lethe::io::tokenizer_detail::append_utf8(s, lethe::io::tokenizer_detail::byte_to_code_point(b));
        v.tokens.push_back(s);
    }
    const char* merges[] = {"t h", "th e", "\xc4\xa0 t", "\xc4\xa0t he", "i n", "e r", "a n", "\xc4\xa0 a",
                            "1 2", "o n", "\xc4\xa0 \xc4\xa0", "e e", "ee e", "\xc3\x83 \xc2\xa9"};
    for (const char* m : merges) {
        const std::string ms(m);
        const std::size_t sp = ms.find(' ');
        v.tokens.push_back(ms.substr(0, sp) + ms.substr(sp + 1));
        v.merges.push_back(ms);
    }
    v.types.assign(v.tokens.size(), token_type::normal);
    for (auto [text, type] : {std::pair{"<|im_start|>", token_type::control}, {"<|im_end|>", token_type::control},
                              {"<tool>", token_type::user_defined}, {"<unk>", token_type::unknown}}) {
        v.tokens.emplace_back(text);
        v.types.push_back(type);
    }
    v.bos = static_cast<lethe::token_id>(v.tokens.size() - 4);
    v.eos = static_cast<lethe::token_id>(v.tokens.size() - 3);
    v.add_bos = v.add_eos = true;
    return v;
}

inline const lethe::io::bpe_tokenizer& fixed_tokenizer(lethe::io::pre_tokenizer_kind pre) {
    static const lethe::io::bpe_tokenizer gpt2 = [] {
        auto v = small_vocabulary();
        v.pre = lethe::io::pre_tokenizer_kind::gpt2;
        return lethe::io::bpe_tokenizer(std::move(v));
    }();
    static const lethe::io::bpe_tokenizer digits = [] {
        auto v = small_vocabulary();
        v.pre = lethe::io::pre_tokenizer_kind::digits_then_gpt2;
        return lethe::io::bpe_tokenizer(std::move(v));
    }();
    return pre == lethe::io::pre_tokenizer_kind::gpt2 ? gpt2 : digits;
}

inline lethe::io::bpe_vocabulary vocabulary_from(std::string_view spec) {
    using namespace lethe::io;
    bpe_vocabulary v;
    std::size_t at = 0;
    while (at <= spec.size()) {
        const std::size_t nl = std::min(spec.find('\n', at), spec.size());
        const std::string_view line = spec.substr(at, nl - at);
        at = nl + 1;
        if (!line.empty() && line[0] == '\x03') {
            v.merges.emplace_back(line.substr(1));
            continue;
        }
        token_type t = token_type::normal;
        std::string_view text = line;
        if (!line.empty() && (line[0] == '\x01' || line[0] == '\x02')) {
            t = line[0] == '\x01' ? token_type::control : token_type::user_defined;
            text = line.substr(1);
        }
        v.tokens.emplace_back(text);
        v.types.push_back(t);
    }
    return v;
}
}  // namespace tokenizer_detail

inline int fuzz_tokenizer(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::io;
    input in(data, size);
    const std::uint8_t mode = in.byte();
    const auto pre = (mode & 1) ? pre_tokenizer_kind::digits_then_gpt2 : pre_tokenizer_kind::gpt2;
    const encode_options opt{(mode & 4) != 0, (mode & 2) != 0};
    return reject_cleanly([&] {
        std::string_view text = in.rest();
        std::optional<bpe_tokenizer> own;
        if (mode & 0x80) {
            const std::size_t nul = text.find('\0');
            auto v = tokenizer_detail::vocabulary_from(text.substr(0, nul));
            v.pre = pre;
            text = nul == std::string_view::npos ? std::string_view{} : text.substr(nul + 1);
            own.emplace(std::move(v));
        }
        const bpe_tokenizer& tok = own ? *own : tokenizer_detail::fixed_tokenizer(pre);

        std::vector<std::pair<std::size_t, std::size_t>> words;
        pre_tokenize(pre, text, words);
        std::size_t next = 0;
        for (const auto& [b, e] : words) {
            LETHE_FUZZ_CHECK(b == next && e > b && e <= text.size(), "pre_tokenize words tile the text");
            next = e;
        }
        LETHE_FUZZ_CHECK(next == text.size(), "pre_tokenize covers the text");

        const std::vector<lethe::token_id> ids = tok.encode(text, opt);
        for (auto id : ids) LETHE_FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.size(), "token id in range");
        const std::string back = tok.decode(ids, true);
        (void)tok.decode(ids, false);
        if (own) return;
        if (opt.add_special) {
            LETHE_FUZZ_CHECK(!ids.empty() && ids.front() == tok.bos() && ids.back() == tok.eos(), "BOS/EOS added");
            LETHE_FUZZ_CHECK(back.size() >= text.size(), "decode with BOS/EOS");
        } else {
            LETHE_FUZZ_CHECK(back == text, "decode(encode(x)) == x");
        }
    });
}

}  // namespace lethe_fuzz
