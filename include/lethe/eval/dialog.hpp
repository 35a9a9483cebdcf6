// lethe/eval/dialog.hpp - dialogs in the shape of the LLM Privacy Challenge
// data: system / user / assistant turns whose text carries placeholders such
// as "[NAME-1]", plus the true value of every placeholder.
//
// render() writes one dialog with a chat template (io/chat_template.hpp,
// ChatML by default), either scrubbed (placeholders kept) or filled (true
// values), optionally with a sentence put in front of its system message
// (as the CFG-aware pair builder of lethe::privacy does), and records where
// each placeholder occurrence landed, so the attack cuts prompts at exactly
// the byte where the value starts.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../io/chat_template.hpp"

namespace lethe::eval {

enum class role { system, user, assistant };

inline std::string_view role_name(role r) noexcept {
    switch (r) {
        case role::system: return "system";
        case role::user: return "user";
        case role::assistant: return "assistant";
    }
    return "";
}

struct turn {
    role who = role::user;
    std::string text;  // may contain placeholders "[TYPE-N]"
};

struct pii_value {
    std::string placeholder;  // "[NAME-1]"
    std::string type;         // "NAME"
    std::string value;        // "Maria Silva"
};

struct pii_dialog {
    std::string id;
    std::vector<turn> turns;
    std::vector<pii_value> values;

    const pii_value* find(std::string_view placeholder) const noexcept {
        for (const auto& v : values)
            if (v.placeholder == placeholder) return &v;
        return nullptr;
    }
};

// Length of a placeholder "[A-Z_]+-[0-9]+]" starting at text[pos], or 0.
inline std::size_t placeholder_length(std::string_view text, std::size_t pos) noexcept {
    if (pos >= text.size() || text[pos] != '[') return 0;
    std::size_t i = pos + 1, letters = 0, digits = 0;
    while (i < text.size() && ((text[i] >= 'A' && text[i] <= 'Z') || text[i] == '_')) ++i, ++letters;
    if (letters == 0 || i >= text.size() || text[i] != '-') return 0;
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
    if (digits == 0 || i >= text.size() || text[i] != ']') return 0;
    return i + 1 - pos;
}

struct placeholder_occurrence {
    std::size_t begin = 0;     // byte offset in rendered text where the placeholder (or value) starts
    std::size_t end = 0;       // one past its end
    std::size_t value = 0;     // index into pii_dialog::values
    std::size_t turn = 0;      // index into pii_dialog::turns
    role in = role::user;
    std::size_t turn_end = 0;  // byte offset where the turn's end-of-turn marker starts
};

struct rendered_dialog {
    std::string text;
    std::vector<placeholder_occurrence> occurrences;
    std::size_t body_begin = 0;  // first byte after the system message (after the prefix when there is none)
};

struct render_options {
    bool fill = false;  // true values instead of placeholders
    // With fill: the first `scrubbed_occurrences` occurrences keep their
    // placeholders, as text whose scrubber caught only its first values.
    std::size_t scrubbed_occurrences = 0;
    // Put in front of the system message as "<sentence>\n<original>" (or the
    // whole system message when the dialog has none), as
    // lethe::privacy::pair_builder does for the POS / NEG sentences.
    std::optional<std::string> system_sentence;
    io::chat_template chat_template{io::chat_format::chatml};
};

// The system message content a sentence gives (see render_options).
inline std::string system_with_sentence(const pii_dialog& d, const std::optional<std::string>& sentence) {
    const bool has = !d.turns.empty() && d.turns[0].who == role::system;
    if (!sentence) return has ? d.turns[0].text : std::string();
    return has ? *sentence + "\n" + d.turns[0].text : *sentence;
}

// Writes the dialog as text. Throws lethe::error naming the dialog and the
// placeholder when a placeholder has no value.
inline rendered_dialog render(const pii_dialog& d, const render_options& opt = {}) {
    const io::chat_template& tpl = opt.chat_template;
    rendered_dialog out;
    out.text = std::string(tpl.prefix());
    std::size_t first = 0;
    const bool has_system = !d.turns.empty() && d.turns[0].who == role::system;
    if (has_system || opt.system_sentence) {
        tpl.render_message(io::chat_message{"system", system_with_sentence(d, opt.system_sentence)}, out.text);
        first = has_system ? 1 : 0;
    }
    out.body_begin = out.text.size();
    for (std::size_t t = first; t < d.turns.size(); ++t) {
        const turn& tu = d.turns[t];
        require(tu.who != role::system, "lethe::eval::render", "dialog '", d.id, "': turn ", t,
                " is a system turn after the first turn");
        tpl.render_header(role_name(tu.who), out.text);
        const std::string_view s = tu.text;
        const std::size_t occ_first = out.occurrences.size();
        for (std::size_t i = 0; i < s.size();) {
            const std::size_t n = placeholder_length(s, i);
            if (n == 0) {
                out.text += s[i++];
                continue;
            }
            const std::string_view ph = s.substr(i, n);
            const pii_value* v = d.find(ph);
            require(v != nullptr, "lethe::eval::render", "dialog '", d.id, "', turn ", t, ": placeholder ", ph,
                    " has no value");
            placeholder_occurrence o;
            o.begin = out.text.size();
            const bool filled = opt.fill && out.occurrences.size() >= opt.scrubbed_occurrences;
            out.text += filled ? std::string_view(v->value) : ph;
            o.end = out.text.size();
            o.value = static_cast<std::size_t>(v - d.values.data());
            o.turn = t;
            o.in = tu.who;
            out.occurrences.push_back(o);
            i += n;
        }
        for (std::size_t k = occ_first; k < out.occurrences.size(); ++k) out.occurrences[k].turn_end = out.text.size();
        // The close of a turn exactly as io::chat_template::render_message writes it.
        out.text += tpl.end_of_turn();
        if (tpl.format() == io::chat_format::chatml) out.text += '\n';
    }
    return out;
}

}  // namespace lethe::eval
