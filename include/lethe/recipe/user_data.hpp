// lethe/recipe/user_data.hpp - a user's own files for the recipe
// (lethe-unlearn): dialogs, preference pairs and multiple-choice questions
// from JSONL, with errors that name the file, the line and the field.
//
//   dialogs   one dialog per line: {"id"?, "messages": [{role, content}...],
//             "pii"?: {"NAME-1": "value"}} (or ShareGPT "conversations");
//             roles are system, user, assistant. With "pii" the messages hold
//             placeholders "[NAME-1]" (the challenge's shape); without it the
//             text is plain and the scanner finds the personal data.
//   pairs     TRL's {prompt, chosen, rejected} (extra fields allowed:
//             dialog, pii_type, guidance, as the pair builder writes them)
//   questions {question, choices, answer} (eval/multiple_choice.hpp)
// to_eval_dialog turns either dialog shape into the attack's shape
// (placeholders plus their values): plain dialogs are scrubbed with the
// scanner, one placeholder per distinct value and type ("[EMAIL-1]").
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../eval/dialog.hpp"
#include "../eval/multiple_choice.hpp"
#include "../io/jsonl.hpp"
#include "../privacy/pair_builder.hpp"
#include "../privacy/scanner.hpp"

namespace lethe::recipe {

inline std::vector<privacy::dialog> read_dialogs(const std::filesystem::path& path,
                                                 io::on_malformed malformed = io::on_malformed::fail,
                                                 io::jsonl_read_report* report = nullptr) {
    std::vector<privacy::dialog> out;
    const auto rep = io::read_jsonl_file(
        path, [&](nlohmann::json&& j, std::size_t line) { out.push_back(privacy::dialog_from_json(j, line)); },
        io::jsonl_read_options{malformed, path.string()});
    if (report) *report = rep;
    require(!out.empty(), "lethe::recipe::read_dialogs", path.string(), ": no dialogs");
    return out;
}

inline std::vector<privacy::pair_sample> read_pairs(const std::filesystem::path& path) {
    std::vector<privacy::pair_sample> out;
    io::read_jsonl_file(
        path,
        [&](nlohmann::json&& j, std::size_t) {
            require(j.is_object(), "lethe::recipe::read_pairs", "expected an object {prompt, chosen, rejected}");
            for (const auto& [k, v] : j.items()) {
                (void)v;
                require(k == "prompt" || k == "chosen" || k == "rejected" || k == "dialog" || k == "pii_type" ||
                            k == "guidance",
                        "lethe::recipe::read_pairs", "unknown field '", k, "' (expected prompt, chosen, rejected)");
            }
            privacy::pair_sample p;
            for (const char* f : {"prompt", "chosen", "rejected"})
                require(j.contains(f) && j[f].is_string(), "lethe::recipe::read_pairs", "field '", f,
                        "' must be a string");
            p.prompt = j["prompt"].get<std::string>();
            p.chosen = j["chosen"].get<std::string>();
            p.rejected = j["rejected"].get<std::string>();
            require(!p.chosen.empty() && !p.rejected.empty(), "lethe::recipe::read_pairs",
                    "chosen and rejected must not be empty");
            if (j.contains("dialog") && j["dialog"].is_string()) p.dialog_id = j["dialog"].get<std::string>();
            if (j.contains("pii_type") && j["pii_type"].is_string()) p.pii_type = j["pii_type"].get<std::string>();
            p.negative = j.contains("guidance") && j["guidance"] == "neg";  // as pair_sample::to_json writes it
            out.push_back(std::move(p));
        },
        io::jsonl_read_options{io::on_malformed::fail, path.string()});
    require(!out.empty(), "lethe::recipe::read_pairs", path.string(), ": no pairs");
    return out;
}

inline std::vector<eval::mc_item> read_questions(const std::filesystem::path& path) {
    std::vector<eval::mc_item> out;
    io::read_jsonl_file(
        path, [&](nlohmann::json&& j, std::size_t) { out.push_back(eval::mc_item_from_json(j, "question")); },
        io::jsonl_read_options{io::on_malformed::fail, path.string()});
    require(!out.empty(), "lethe::recipe::read_questions", path.string(), ": no questions");
    return out;
}

// The attack's shape of a dialog (see the header comment).
inline eval::pii_dialog to_eval_dialog(const privacy::dialog& d, const privacy::scanner& scan,
                                       privacy::entity_set types = privacy::entity_set::all_pii()) {
    constexpr const char* where = "lethe::recipe::to_eval_dialog";
    eval::pii_dialog out;
    out.id = d.id;
    auto role_of = [&](const std::string& r) {
        if (r == "system") return eval::role::system;
        if (r == "user") return eval::role::user;
        require(r == "assistant", where, "dialog ", d.id, ": unknown role '", r, "'");
        return eval::role::assistant;
    };
    if (!d.values.empty()) {
        for (const auto& m : d.messages) out.turns.push_back({role_of(m.role), m.content});
        for (const auto& [label, value] : d.values) {
            const auto dash = label.rfind('-');
            out.values.push_back({"[" + label + "]", dash == std::string::npos ? label : label.substr(0, dash), value});
        }
        return out;
    }
    std::map<std::pair<std::string, std::string>, std::string> placeholder_of;  // (type, value) -> placeholder
    std::map<std::string, int> count;                                          // per type
    std::vector<privacy::entity_span> spans;
    for (const auto& m : d.messages) {
        eval::turn t{role_of(m.role), {}};
        if (t.who == eval::role::system) {
            t.text = m.content;
            out.turns.push_back(std::move(t));
            continue;
        }
        scan.scan(m.content, spans);
        std::size_t at = 0;
        for (const auto& s : spans) {
            if (!types.contains(s.type) || s.begin < at) continue;
            const std::string type(privacy::name_of(s.type));
            const std::string value(s.text(m.content));
            auto [it, fresh] = placeholder_of.try_emplace({type, value});
            if (fresh) {
                it->second = "[" + type + "-" + std::to_string(++count[type]) + "]";
                out.values.push_back({it->second, type, value});
            }
            t.text.append(m.content, at, s.begin - at);
            t.text += it->second;
            at = s.end;
        }
        t.text.append(m.content, at, std::string::npos);
        out.turns.push_back(std::move(t));
    }
    return out;
}

}  // namespace lethe::recipe
