#define BOOST_TEST_MODULE dialog
#include "lethe_test.hpp"

#include <lethe/eval/dialog.hpp>
#include <lethe/eval/tokenizer.hpp>

using namespace lethe::eval;

namespace {
pii_dialog sample() {
    pii_dialog d;
    d.id = "d0";
    d.turns = {{role::system, "Be kind."},
               {role::user, "I am [NAME-1], mail [EMAIL-1]."},
               {role::assistant, "Hello [NAME-1]!"}};
    d.values = {{"[NAME-1]", "NAME", "Ana Silva"}, {"[EMAIL-1]", "EMAIL", "ana@x.org"}};
    return d;
}
}  // namespace

BOOST_AUTO_TEST_CASE(placeholder_syntax) {
    BOOST_TEST(placeholder_length("[NAME-1] x", 0) == 8u);
    BOOST_TEST(placeholder_length("[ID_NUM-12]", 0) == 11u);
    BOOST_TEST(placeholder_length("[name-1]", 0) == 0u);
    BOOST_TEST(placeholder_length("[NAME-]", 0) == 0u);
    BOOST_TEST(placeholder_length("[NAME-1", 0) == 0u);
    BOOST_TEST(placeholder_length("[-1]", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(render_scrubbed_and_filled) {
    const auto d = sample();
    const auto s = render(d);
    const std::string sys = "<|im_start|>system\nBe kind.<|im_end|>\n";
    BOOST_TEST(s.text == sys + "<|im_start|>user\nI am [NAME-1], mail [EMAIL-1].<|im_end|>\n"
                               "<|im_start|>assistant\nHello [NAME-1]!<|im_end|>\n");
    BOOST_TEST(s.body_begin == sys.size());
    BOOST_REQUIRE(s.occurrences.size() == 3u);
    BOOST_TEST(s.text.substr(s.occurrences[1].begin, s.occurrences[1].end - s.occurrences[1].begin) == "[EMAIL-1]");
    BOOST_TEST((s.occurrences[2].in == role::assistant));
    BOOST_TEST(s.occurrences[2].value == 0u);

    render_options ro;
    ro.fill = true;
    ro.system_sentence = "No PII.";
    const auto f = render(d, ro);
    // The same text io::chat_template renders from the filled messages, with
    // the sentence in front of the system message (the pair builder's rule).
    const std::vector<lethe::io::chat_message> msgs = {{"system", "No PII.\nBe kind."},
                                                       {"user", "I am Ana Silva, mail ana@x.org."},
                                                       {"assistant", "Hello Ana Silva!"}};
    BOOST_TEST(f.text == ro.chat_template.render(msgs));
    for (const auto& o : f.occurrences)
        BOOST_TEST(f.text.substr(o.begin, o.end - o.begin) == d.values[o.value].value);
    BOOST_TEST(f.text.substr(f.occurrences[2].turn_end, 10) == "<|im_end|>");

    // Llama-3 markup through the same path.
    ro.chat_template = lethe::io::chat_template(lethe::io::chat_format::llama3);
    BOOST_TEST(render(d, ro).text == ro.chat_template.render(msgs));
}

BOOST_AUTO_TEST_CASE(render_partially_scrubbed) {
    // The first two occurrences stay placeholders, the rest is filled.
    render_options ro;
    ro.fill = true;
    ro.scrubbed_occurrences = 2;
    const auto p = render(sample(), ro);
    BOOST_TEST(p.text == "<|im_start|>system\nBe kind.<|im_end|>\n"
                         "<|im_start|>user\nI am [NAME-1], mail [EMAIL-1].<|im_end|>\n"
                         "<|im_start|>assistant\nHello Ana Silva!<|im_end|>\n");
    BOOST_TEST(p.text.substr(p.occurrences[2].begin, p.occurrences[2].end - p.occurrences[2].begin) == "Ana Silva");
    // Without fill the count changes nothing.
    ro.fill = false;
    BOOST_TEST(render(sample(), ro).text == render(sample()).text);
}

BOOST_AUTO_TEST_CASE(render_rejects_unknown_placeholder) {
    auto d = sample();
    d.turns[1].text += " [PHONE-1]";
    BOOST_CHECK_EXCEPTION(render(d), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("[PHONE-1]") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(byte_tokenizer_round_trip) {
    byte_tokenizer t;
    const std::string s = "Grüße, [NAME-1]!\n";
    const auto ids = t.encode(s);
    BOOST_TEST(ids.size() == s.size());
    BOOST_TEST(t.decode(ids) == s);
    std::vector<lethe::token_id> with_eos = ids;
    with_eos.push_back(t.eos());
    BOOST_TEST(t.decode(with_eos) == s);  // EOS has no text
    BOOST_TEST(t.vocab_size() == 259);
}

BOOST_AUTO_TEST_CASE(byte_tokenizer_special_strings) {
    byte_tokenizer t;
    const std::string s = "<|im_start|>user\nhi<|im_end|>\n<|im_";
    const auto ids = t.encode(s);
    // One id per marker; a marker's unfinished start stays bytes.
    BOOST_REQUIRE(ids.size() == 1u + 5 + 2 + 1 + 1 + 5);
    BOOST_TEST(ids[0] == t.special("<|im_start|>"));
    BOOST_TEST(ids[0] == 257);
    BOOST_TEST(ids[8] == 258);
    BOOST_TEST(ids[10] == static_cast<lethe::token_id>('<'));
    BOOST_TEST(t.decode(ids) == s);
    BOOST_TEST(t.special("<|nope|>") == -1);
    byte_tokenizer plain(std::vector<std::string>{});
    BOOST_TEST(plain.encode(s).size() == s.size());
    BOOST_CHECK_THROW(byte_tokenizer(std::vector<std::string>{""}), lethe::error);
}
