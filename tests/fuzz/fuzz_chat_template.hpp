// tests/fuzz/fuzz_chat_template.hpp - chat rendering (lethe/io/chat_template.hpp)
// of arbitrary messages. The first byte picks the format (bit 0), Llama-3's
// begin-of-text (bit 1) and the generation prompt (bit 2); the rest is
// messages separated by 0x1E, each "role 0x1F content". The first message's
// role is also tried as a template name.
// Checked: render() is the prefix, each turn rendered alone, then the
// assistant header; a ChatML turn is exactly <|im_start|>role\ncontent<|im_end|>\n;
// a Llama-3 turn holds the content trimmed of surrounding whitespace.
#pragma once

#include <lethe/io/chat_template.hpp>

#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

inline int fuzz_chat_template(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::io;
    input in(data, size);
    const std::uint8_t mode = in.byte();
    const chat_template tpl((mode & 1) ? chat_format::llama3 : chat_format::chatml, (mode & 2) != 0);
    const bool generation_prompt = (mode & 4) != 0;
    std::vector<chat_message> messages;
    const std::string_view rest = in.rest();
    for (std::size_t at = 0; at < rest.size();) {
        const std::size_t end = std::min(rest.find('\x1e', at), rest.size());
        const std::string_view m = rest.substr(at, end - at);
        const std::size_t sep = m.find('\x1f');
        messages.push_back({std::string(m.substr(0, sep)),
                            sep == std::string_view::npos ? std::string() : std::string(m.substr(sep + 1))});
        at = end + 1;
    }
    if (!messages.empty()) {
        reject_cleanly([&] {
            const chat_template named = chat_template::from_name(messages.front().role);
            LETHE_FUZZ_CHECK(named.name() == messages.front().role || messages.front().role == "llama-3", "from_name");
        });
    }
    return reject_cleanly([&] {
        bool empty_role = false;
        for (const auto& m : messages) empty_role = empty_role || m.role.empty();
        std::string out;
        try {
            out = tpl.render(messages, generation_prompt);
        } catch (const lethe::error&) {
            LETHE_FUZZ_CHECK(empty_role, "only an empty role is refused");
            throw;
        }
        LETHE_FUZZ_CHECK(!empty_role, "an empty role is refused");
        std::string expected(tpl.prefix());
        for (const auto& m : messages) {
            std::string turn;
            tpl.render_message(m, turn);
            if (tpl.format() == chat_format::chatml) {
                LETHE_FUZZ_CHECK(turn == "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n", "ChatML turn");
            } else {
                const std::string head = "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
                const std::string tail(tpl.end_of_turn());
                LETHE_FUZZ_CHECK(turn.size() >= head.size() + tail.size() && turn.starts_with(head) && turn.ends_with(tail),
                                 "Llama-3 turn");
                const std::string_view body = std::string_view(turn).substr(head.size(), turn.size() - head.size() - tail.size());
                LETHE_FUZZ_CHECK(body.empty() || (body.find_first_of(" \t\r\n") != 0 &&
                                                  body.find_last_of(" \t\r\n") != body.size() - 1),
                                 "Llama-3 content is trimmed");
                LETHE_FUZZ_CHECK(m.content.find(body) != std::string::npos, "Llama-3 content kept");
            }
            expected += turn;
        }
        if (generation_prompt) tpl.render_header("assistant", expected);
        LETHE_FUZZ_CHECK(out == expected, "render() is its turns");
    });
}

}  // namespace lethe_fuzz
