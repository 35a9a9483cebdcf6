// Byte-level BPE on a tiny synthetic vocabulary: the pre-tokenizer splits
// hand-derived from the regex; merges fire by rank with leftmost ties;
// special tokens are cut out only when asked (user-defined ones always);
// decode(encode(x)) == x for any bytes, invalid UTF-8 included.
#define BOOST_TEST_MODULE tokenizer
#include <lethe/io/tokenizer.hpp>

#include <random>

#include "lethe_test.hpp"

using namespace lethe::io;
using lethe::token_id;

namespace {

// GPT-2's bytes_to_unicode, written the way its original Python builds it
// (a list of kept bytes, the rest appended at 256 + n), to check the
// header's closed-form version independently.
std::vector<std::string> byte_alphabet() {
    std::vector<int> bs, cs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
    cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b)
        if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
            bs.push_back(b);
            cs.push_back(256 + n++);
        }
    std::vector<std::string> out(256);
    for (std::size_t i = 0; i < bs.size(); ++i) {
        const int cp = cs[i];
        std::string s;
        if (cp < 0x80) s.push_back(static_cast<char>(cp));
        else {
            s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        out[static_cast<std::size_t>(bs[i])] = s;
    }
    return out;
}

// 256 byte tokens, then merged tokens, then specials.
bpe_vocabulary tiny_vocab(std::vector<std::string> merges, pre_tokenizer_kind pre = pre_tokenizer_kind::digits_then_gpt2) {
    bpe_vocabulary v;
    v.tokens = byte_alphabet();
    v.types.assign(256, token_type::normal);
    for (const auto& m : merges) {
        const auto sp = m.find(' ');
        const std::string joined = m.substr(0, sp) + m.substr(sp + 1);
        if (std::find(v.tokens.begin(), v.tokens.end(), joined) == v.tokens.end()) {
            v.tokens.push_back(joined);
            v.types.push_back(token_type::normal);
        }
    }
    v.merges = std::move(merges);
    v.tokens.push_back("<|im_start|>");
    v.types.push_back(token_type::control);
    v.tokens.push_back("<|im_start|>x");  // longer control token overlapping the first
    v.types.push_back(token_type::control);
    v.tokens.push_back("<user>");
    v.types.push_back(token_type::user_defined);
    v.pre = pre;
    v.bos = static_cast<token_id>(v.tokens.size() - 3);
    v.add_bos = true;
    return v;
}

std::vector<std::string> split(pre_tokenizer_kind k, std::string_view text) {
    std::vector<std::pair<std::size_t, std::size_t>> w;
    pre_tokenize(k, text, w);
    std::vector<std::string> out;
    std::size_t expect_begin = 0;
    for (auto [b, e] : w) {
        BOOST_CHECK_EQUAL(b, expect_begin);  // words tile the text
        expect_begin = e;
        out.emplace_back(text.substr(b, e - b));
    }
    BOOST_CHECK_EQUAL(expect_begin, text.size());
    return out;
}

using strings = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(pre_tokenizer)

BOOST_AUTO_TEST_CASE(ascii_rules) {
    const std::string s = "Hello world's 123  end\n\n x";
    // Derivation: digits isolated first, then per segment: "'s" contraction,
    // " ?\p{L}+", a trailing lone space is \s+, "  end" leaves one space to
    // " end" (\s+(?!\S)), "\n\n x" keeps " x" together.
    BOOST_TEST(split(pre_tokenizer_kind::digits_then_gpt2, s) ==
                   (strings{"Hello", " world", "'s", " ", "1", "2", "3", " ", " end", "\n\n", " x"}),
               boost::test_tools::per_element());
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, s) == (strings{"Hello", " world", "'s", " 123", " ", " end", "\n\n", " x"}),
               boost::test_tools::per_element());
    // Contractions are lower-case only; punctuation runs keep one leading space.
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "I'M don't  ?!. x:=y") ==
                   (strings{"I", "'", "M", " don", "'t", " ", " ?!.", " x", ":=", "y"}),
               boost::test_tools::per_element());
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "   ").size() == 1u);  // all-space tail: one \s+ word
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "").empty());
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "a\t\tb") == (strings{"a", "\t", "\t", "b"}),  // \t is not ' '
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unicode_classes) {
    // ï, é are letters; 東京 letters (Lo); ١٢ are Arabic-Indic digits (Nd);
    // U+0301 (combining acute, Mn) is neither letter nor number; U+3000 is
    // White_Space; "½" is \p{N} (No).
    BOOST_TEST(split(pre_tokenizer_kind::digits_then_gpt2, "na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xd9\xa1\xd9\xa2") ==
                   (strings{"na\xc3\xafve", " caf\xc3\xa9", " \xe6\x9d\xb1\xe4\xba\xac", " ", "\xd9\xa1", "\xd9\xa2"}),
               boost::test_tools::per_element());
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "e\xcc\x81t\xe3\x80\x80x \xc2\xbd") ==
                   (strings{"e", "\xcc\x81", "t", "\xe3\x80\x80", "x", " \xc2\xbd"}),
               boost::test_tools::per_element());
    // Invalid UTF-8 bytes are one-byte "other" symbols.
    BOOST_TEST(split(pre_tokenizer_kind::gpt2, "\xff\xfe" "ab \xc3") == (strings{"\xff\xfe", "ab", " \xc3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bpe)

BOOST_AUTO_TEST_CASE(merges_by_rank_then_leftmost) {
    const std::string G = "\xc4\xa0";  // U+0120, the alphabet's space
    const bpe_tokenizer t(tiny_vocab({"h e", "l l", "he ll", "hell o", G + " w", "o r", G + "w or", "l d", G + "wor ld"}));
    BOOST_TEST(t.encode("hello world") == (std::vector<token_id>{t.find("hello"), t.find(G + "world")}),
               boost::test_tools::per_element());
    // "ab c" vs "a bc": the lower rank decides.
    const bpe_tokenizer ab(tiny_vocab({"a b", "b c"}));
    BOOST_TEST(ab.encode("abc") == (std::vector<token_id>{ab.find("ab"), ab.find("c")}), boost::test_tools::per_element());
    const bpe_tokenizer bc(tiny_vocab({"b c", "a b"}));
    BOOST_TEST(bc.encode("abc") == (std::vector<token_id>{bc.find("a"), bc.find("bc")}), boost::test_tools::per_element());
    // Equal ranks (same pair twice in "aaa"): the leftmost merges first.
    const bpe_tokenizer aa(tiny_vocab({"a a"}));
    BOOST_TEST(aa.encode("aaa") == (std::vector<token_id>{aa.find("aa"), aa.find("a")}), boost::test_tools::per_element());
    BOOST_TEST(aa.encode("aaaa") == (std::vector<token_id>{aa.find("aa"), aa.find("aa")}), boost::test_tools::per_element());
    // A merge never crosses a pre-tokenizer boundary: "h e" across digits.
    BOOST_TEST(t.encode("h1e").size() == 3u);
    // Bytes outside ASCII become their alphabet tokens (0x00 -> U+0100, 0xFF -> 'ÿ').
    BOOST_TEST(t.encode(std::string("\x00", 1)) == (std::vector<token_id>{t.find("\xc4\x80")}), boost::test_tools::per_element());
    BOOST_TEST(t.encode("\xff") == (std::vector<token_id>{t.find("\xc3\xbf")}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(special_tokens) {
    const bpe_tokenizer t(tiny_vocab({"h e"}));
    const token_id im = t.find("<|im_start|>"), imx = t.find("<|im_start|>x"), user = t.find("<user>");
    // Without parse_special, control tokens are plain text; user-defined ones are always cut out.
    const auto plain = t.encode("<|im_start|>he<user>");
    BOOST_TEST(std::count(plain.begin(), plain.end(), im) == 0);
    BOOST_TEST(plain.back() == user);
    BOOST_TEST(plain.size() == 12u + 1u + 1u);  // 12 bytes of "<|im_start|>", "he", <user>
    const auto parsed = t.encode("a<|im_start|>xhe<|im_start|>", {.add_special = true, .parse_special = true});
    // Longest special first: "<|im_start|>x" wins over "<|im_start|>".
    BOOST_TEST(parsed == (std::vector<token_id>{t.bos(), t.find("a"), imx, t.find("he"), im}), boost::test_tools::per_element());
    BOOST_TEST(t.decode(parsed) == "<|im_start|>a<|im_start|>xhe<|im_start|>");
    BOOST_TEST(t.decode(parsed, false) == "ahe");
}

BOOST_AUTO_TEST_CASE(decode_inverts_encode_on_any_bytes) {
    const std::string G = "\xc4\xa0";
    const bpe_tokenizer t(tiny_vocab({"h e", "l l", "he ll", G + " w", "\xc3 \xa9"}));
    std::mt19937 gen(7);
    int bad = 0;
    for (int trial = 0; trial < 500; ++trial) {
        std::string s(gen() % 40, '\0');
        for (auto& c : s) {
            // Mix ASCII, UTF-8 lead/continuation bytes and arbitrary bytes.
            const unsigned r = gen() % 4;
            c = static_cast<char>(r == 0 ? 'a' + gen() % 26 : r == 1 ? " \n\t'0"[gen() % 5] : r == 2 ? 0xC3 : gen() % 256);
        }
        const auto ids = t.encode(s);
        if (t.decode(ids) != s) ++bad;
    }
    BOOST_TEST(bad == 0);
    const std::string text = "caf\xc3\xa9 hello";
    BOOST_TEST(t.decode(t.encode(text)) == text);
}

BOOST_AUTO_TEST_CASE(errors) {
    const bpe_tokenizer t(tiny_vocab({}));
    const std::vector<token_id> out_of_range{0, static_cast<token_id>(t.size())};
    BOOST_CHECK_THROW((void)t.decode(out_of_range), lethe::error);
    BOOST_CHECK_THROW((void)t.token_text(-1), lethe::error);
    // A byte without a token (SmolLM2 lacks 0x04) encodes to nothing, as in llama.cpp.
    auto missing_byte = tiny_vocab({});
    missing_byte.tokens[65] = "not A";
    const bpe_tokenizer no_a{missing_byte};
    BOOST_TEST(no_a.encode("BAB") == (std::vector<token_id>{no_a.find("B"), no_a.find("B")}), boost::test_tools::per_element());
    auto bad_merge = tiny_vocab({});
    bad_merge.merges = {"nospace"};
    BOOST_CHECK_THROW(bpe_tokenizer{bad_merge}, lethe::error);
    BOOST_CHECK_THROW((void)pre_tokenizer_from_name("llama-bpe"), lethe::error);
    BOOST_TEST((pre_tokenizer_from_name("smollm") == pre_tokenizer_kind::digits_then_gpt2));
}

BOOST_AUTO_TEST_SUITE_END()
