#define BOOST_TEST_MODULE chat_template
#include "lethe_test.hpp"

#include <lethe/io/chat_template.hpp>

using namespace lethe::io;

BOOST_AUTO_TEST_SUITE(chat_template_suite)

const std::vector<chat_message> dialog = {{"system", "Be brief."}, {"user", " Hi! "}, {"assistant", "Hello."}};

// The expected strings follow the published formats: ChatML (OpenAI/Qwen)
// and Meta's Llama-3 instruct template (Hugging Face tokenizer_config.json),
// which trims each message's content.
BOOST_AUTO_TEST_CASE(chatml) {
    const auto t = chat_template::from_name("chatml");
    BOOST_CHECK_EQUAL(t.render(dialog),
                      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi! <|im_end|>\n"
                      "<|im_start|>assistant\nHello.<|im_end|>\n");
    BOOST_CHECK_EQUAL(t.render(std::span(dialog).first(2), true),
                      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi! <|im_end|>\n<|im_start|>assistant\n");
    BOOST_CHECK_EQUAL(t.end_of_turn(), "<|im_end|>");
}

BOOST_AUTO_TEST_CASE(llama3) {
    const auto t = chat_template::from_name("llama3");
    BOOST_CHECK_EQUAL(t.render(dialog),
                      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                      "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                      "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>");
    BOOST_CHECK_EQUAL(t.render(std::span(dialog).first(1), true),
                      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                      "<|start_header_id|>assistant<|end_header_id|>\n\n");
    BOOST_CHECK_EQUAL(chat_template(chat_format::llama3, false).render({}, true),
                      "<|start_header_id|>assistant<|end_header_id|>\n\n");
    BOOST_CHECK_EQUAL(t.end_of_turn(), "<|eot_id|>");
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_CHECK_THROW(chat_template::from_name("vicuna"), lethe::error);
    std::string out;
    BOOST_CHECK_THROW(chat_template().render_message({"", "x"}, out), lethe::error);
}

BOOST_AUTO_TEST_SUITE_END()
