// lethe/io/chat_template.hpp - rendering chat messages into the prompt text
// a chat model was trained on.
//
//   ChatML:  <|im_start|>{role}\n{content}<|im_end|>\n ...      [<|im_start|>assistant\n]
//   Llama-3: <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> ...
//            [<|start_header_id|>assistant<|end_header_id|>\n\n]
// Llama-3 trims each content's surrounding whitespace, as the reference
// Hugging Face template does; ChatML keeps content verbatim.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace lethe::io {

struct chat_message {
    std::string role;  // "system", "user", "assistant", ...
    std::string content;
    friend bool operator==(const chat_message&, const chat_message&) = default;
};

enum class chat_format { chatml, llama3 };

class chat_template {
public:
    explicit constexpr chat_template(chat_format format = chat_format::chatml, bool begin_of_text = true) noexcept
        : format_(format), begin_of_text_(begin_of_text) {}

    // "chatml" or "llama3" (also "llama-3").
    static chat_template from_name(std::string_view name) {
        if (name == "chatml") return chat_template(chat_format::chatml);
        if (name == "llama3" || name == "llama-3") return chat_template(chat_format::llama3);
        fail("lethe::io::chat_template::from_name", "unknown template '", name, "' (expected chatml or llama3)");
    }

    chat_format format() const noexcept { return format_; }
    std::string_view name() const noexcept { return format_ == chat_format::chatml ? "chatml" : "llama3"; }

    // The token text that closes a turn: what a completion ends with.
    std::string_view end_of_turn() const noexcept { return format_ == chat_format::chatml ? "<|im_end|>" : "<|eot_id|>"; }

    // Text that precedes the first message (Llama-3's BOS, when enabled).
    std::string_view prefix() const noexcept {
        return format_ == chat_format::llama3 && begin_of_text_ ? "<|begin_of_text|>" : "";
    }

    // Appends one whole turn.
    void render_message(const chat_message& m, std::string& out) const {
        require(!m.role.empty(), "lethe::io::chat_template", "message role must not be empty");
        render_header(m.role, out);
        if (format_ == chat_format::llama3) out += trim(m.content);
        else out += m.content;
        out += end_of_turn();
        if (format_ == chat_format::chatml) out += '\n';
    }

    // Appends the opening of a turn by `role`, up to where its content starts.
    void render_header(std::string_view role, std::string& out) const {
        if (format_ == chat_format::chatml) {
            out += "<|im_start|>";
            out += role;
            out += '\n';
        } else {
            out += "<|start_header_id|>";
            out += role;
            out += "<|end_header_id|>\n\n";
        }
    }

    // All messages, then (optionally) the header of an assistant turn.
    std::string render(std::span<const chat_message> messages, bool add_generation_prompt = false) const {
        std::string out(prefix());
        for (const auto& m : messages) render_message(m, out);
        if (add_generation_prompt) render_header("assistant", out);
        return out;
    }

private:
    static std::string_view trim(std::string_view s) noexcept {
        const auto b = s.find_first_not_of(" \t\r\n");
        if (b == std::string_view::npos) return {};
        const auto e = s.find_last_not_of(" \t\r\n");
        return s.substr(b, e - b + 1);
    }

    chat_format format_;
    bool begin_of_text_;
};

// The format a Hugging Face / GGUF `chat_template` (a Jinja text) uses,
// recognised by its turn markers; throws naming `source` for any other.
inline chat_template chat_template_from_jinja(std::string_view jinja, std::string_view source) {
    if (jinja.find("<|im_start|>") != std::string_view::npos) return chat_template(chat_format::chatml);
    if (jinja.find("<|start_header_id|>") != std::string_view::npos) return chat_template(chat_format::llama3);
    fail("lethe::io::chat_template_from_jinja", source,
         ": chat_template is neither ChatML nor Llama-3 (lethe renders only those two)");
}

// A Jinja text (Hugging Face's chat_template syntax) that renders what
// chat_template renders for `format`: written into exported models that
// carry no template text of their own.
inline std::string chat_template_jinja(chat_format format) {
    if (format == chat_format::chatml)
        return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
               "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
               "{% endif %}";
    return "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
           "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
}

}  // namespace lethe::io
