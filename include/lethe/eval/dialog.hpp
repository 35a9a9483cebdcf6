// lethe/eval/dialog.hpp - dialogs in the shape of the LLM Privacy Challenge
// data: system / user / assistant turns whose text carries placeholders such
// as "[NAME-1]", plus the true value of every placeholder.
//
// render() writes one dialog as plain text, either scrubbed (placeholders
// kept) or filled (true values), optionally with its system sentence
// replaced, and records where each placeholder occurrence landed, so the
// attack (attack.hpp) and the pair builder (recipe/pairs.hpp) cut prompts at
// exactly the same byte.
//
// Text format, one line per turn (what the demo's models are trained on):
//   "System: <text>\nUser: <text>\nAssistant: <text>\n..."
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace lethe::eval {

enum class role { system, user, assistant };

inline std::string_view role_prefix(role r) noexcept {
    switch (r) {
        case role::system: return "System: ";
        case role::user: return "User: ";
        case role::assistant: return "Assistant: ";
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
    std::size_t turn_end = 0;  // byte offset just past the turn's text (before its '\n')
};

struct rendered_dialog {
    std::string text;
    std::vector<placeholder_occurrence> occurrences;
    std::size_t body_begin = 0;  // first byte after the system line (0 when there is none)
};

struct render_options {
    bool fill = false;                          // true values instead of placeholders
    std::optional<std::string> system_override;  // replaces the system turn's text (added when absent)
};

// Writes the dialog as text. Throws lethe::error naming the dialog and the
// placeholder when a placeholder has no value.
inline rendered_dialog render(const pii_dialog& d, const render_options& opt = {}) {
    rendered_dialog out;
    std::size_t first = 0;
    const bool has_system = !d.turns.empty() && d.turns[0].who == role::system;
    if (has_system || opt.system_override) {
        out.text += role_prefix(role::system);
        out.text += opt.system_override ? *opt.system_override : d.turns[0].text;
        out.text += '\n';
        first = has_system ? 1 : 0;
        out.body_begin = out.text.size();
    }
    for (std::size_t t = first; t < d.turns.size(); ++t) {
        const turn& tu = d.turns[t];
        require(tu.who != role::system, "lethe::eval::render", "dialog '", d.id, "': turn ", t,
                " is a system turn after the first turn");
        out.text += role_prefix(tu.who);
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
            out.text += opt.fill ? std::string_view(v->value) : ph;
            o.end = out.text.size();
            o.value = static_cast<std::size_t>(v - d.values.data());
            o.turn = t;
            o.in = tu.who;
            out.occurrences.push_back(o);
            i += n;
        }
        for (std::size_t k = occ_first; k < out.occurrences.size(); ++k) out.occurrences[k].turn_end = out.text.size();
        out.text += '\n';
    }
    return out;
}

}  // namespace lethe::eval
