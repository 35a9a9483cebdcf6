// lethe/privacy/pair_builder_impl.hpp - implementation of pair_builder.hpp.
#pragma once

#include <algorithm>
#include <utility>

namespace lethe::privacy {

namespace detail {

inline std::string json_scalar_text(const nlohmann::json& v, const std::string& field) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number()) return v.dump();
    fail("lethe::privacy::dialog_from_json", field, ": expected a string");
}

inline std::string_view trim_ws(std::string_view s) noexcept {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

inline std::vector<io::chat_message> with_system_sentence(std::vector<io::chat_message> msgs, const std::string& sentence) {
    if (!msgs.empty() && msgs.front().role == "system") msgs.front().content = sentence + "\n" + msgs.front().content;
    else msgs.insert(msgs.begin(), io::chat_message{"system", sentence});
    return msgs;
}

}  // namespace detail

inline dialog dialog_from_json(const nlohmann::json& j, std::size_t index) {
    constexpr std::string_view where = "lethe::privacy::dialog_from_json";
    require(j.is_object(), where, "a dialog must be a JSON object");
    dialog d;
    d.id = j.contains("id") ? detail::json_scalar_text(j["id"], "id") : "dialog-" + std::to_string(index);
    if (j.contains("messages")) {
        const auto& ms = j["messages"];
        require(ms.is_array(), where, "messages: expected an array");
        for (std::size_t i = 0; i < ms.size(); ++i) {
            const std::string f = "messages[" + std::to_string(i) + "]";
            require(ms[i].is_object() && ms[i].contains("role") && ms[i].contains("content"), where, f,
                    ": expected {\"role\", \"content\"}");
            std::string role = detail::json_scalar_text(ms[i]["role"], f + ".role");
            require(role == "system" || role == "user" || role == "assistant", where, f, ".role: unknown role '", role,
                    "' (expected system, user or assistant)");
            d.messages.push_back({std::move(role), detail::json_scalar_text(ms[i]["content"], f + ".content")});
        }
    } else if (j.contains("conversations")) {
        const auto& ms = j["conversations"];
        require(ms.is_array(), where, "conversations: expected an array");
        for (std::size_t i = 0; i < ms.size(); ++i) {
            const std::string f = "conversations[" + std::to_string(i) + "]";
            require(ms[i].is_object() && ms[i].contains("from") && ms[i].contains("value"), where, f,
                    ": expected {\"from\", \"value\"}");
            std::string role = detail::json_scalar_text(ms[i]["from"], f + ".from");
            if (role == "human" || role == "user") role = "user";
            else if (role == "gpt" || role == "assistant" || role == "model" || role == "bot") role = "assistant";
            else require(role == "system", where, f, ".from: unknown speaker '", role, "'");
            d.messages.push_back({role, detail::json_scalar_text(ms[i]["value"], f + ".value")});
        }
    } else {
        fail(where, "expected a \"messages\" or \"conversations\" array");
    }
    for (const char* key : {"pii", "values"}) {
        if (!j.contains(key)) continue;
        const auto& vs = j[key];
        require(vs.is_object(), where, key, ": expected an object {\"NAME-1\": \"value\"}");
        for (const auto& [k, v] : vs.items()) {
            std::string label = k;
            if (label.size() >= 2 && label.front() == '[' && label.back() == ']') label = label.substr(1, label.size() - 2);
            d.values[label] = detail::json_scalar_text(v, std::string(key) + "." + k);
        }
    }
    return d;
}

inline std::optional<entity_type> entity_type_for_label(std::string_view label) noexcept {
    struct alias { std::string_view label; entity_type type; };
    static constexpr alias table[] = {
        {"NAME", entity_type::person},        {"PERSON", entity_type::person},      {"FIRST_NAME", entity_type::person},
        {"LAST_NAME", entity_type::person},   {"FULL_NAME", entity_type::person},   {"USERNAME", entity_type::person},
        {"LOCATION", entity_type::location},  {"ADDRESS", entity_type::address},   {"CITY", entity_type::location},
        {"COUNTRY", entity_type::location},   {"STREET", entity_type::address},    {"GPE", entity_type::location},
        {"EMAIL", entity_type::email},        {"EMAIL_ADDRESS", entity_type::email}, {"PHONE", entity_type::phone},
        {"PHONE_NUMBER", entity_type::phone}, {"TEL", entity_type::phone},          {"DATE", entity_type::date},
        {"DOB", entity_type::date},           {"DATE_OF_BIRTH", entity_type::date}, {"URL", entity_type::url},
        {"WEBSITE", entity_type::url},        {"SSN", entity_type::us_ssn},         {"US_SSN", entity_type::us_ssn},
        {"IBAN", entity_type::iban},          {"CARD", entity_type::credit_card},   {"CREDIT_CARD", entity_type::credit_card},
        {"IP", entity_type::ipv4},            {"IP_ADDRESS", entity_type::ipv4},    {"IPV4", entity_type::ipv4},
        {"IPV6", entity_type::ipv6},          {"STREET_ADDRESS", entity_type::address}, {"POSTAL_ADDRESS", entity_type::address},
    };
    for (const auto& a : table)
        if (a.label == label) return a.type;
    return std::nullopt;
}

inline nlohmann::json pair_sample::to_json(bool metadata) const {
    nlohmann::json j = {{"prompt", prompt}, {"chosen", chosen}, {"rejected", rejected}};
    if (metadata) {
        j["dialog"] = dialog_id;
        j["pii_type"] = pii_type;
        j["guidance"] = negative ? "neg" : "pos";
    }
    return j;
}

inline pair_builder::pair_builder(pair_builder_options options, replacement_policy policy, scanner scan)
    : options_(std::move(options)), anonymizer_(std::move(policy), std::move(scan)) {
    require(options_.test_fraction >= 0.0 && options_.test_fraction <= 1.0, "lethe::privacy::pair_builder",
            "test_fraction must be in [0, 1]");
    for (std::size_t i = 0; i < entity_type_count; ++i)
        require(anonymizer_.policy().per_type[i].kind != operator_kind::refuse, "lethe::privacy::pair_builder",
                "the refuse operator makes no continuation; use a generator callback for refusals");
}

inline bool pair_builder::in_test_split(const dialog& d) const noexcept {
    splitmix64 r{fnv1a64(d.id) ^ (options_.split_seed * 0xA0761D6478BD642Full)};
    const double u = static_cast<double>(r.next() >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
    return u < options_.test_fraction;
}

inline void pair_builder::add(const dialog& src, std::vector<pair_sample>& train, std::vector<pair_sample>& test) {
    const bool llama3 = options_.chat_template.format() == io::chat_format::llama3;
    const scanner& scan = anonymizer_.detector();
    std::vector<io::chat_message> msgs = src.messages;
    std::vector<occurrence> occ;
    std::vector<std::string> values;  // every PII value of the dialog: none may appear in a chosen
    std::vector<entity_span> spans;

    if (!src.values.empty()) {
        // Challenge shape: put the values back; each placeholder in an assistant turn is one occurrence.
        for (std::size_t t = 0; t < msgs.size(); ++t) {
            const std::string& in = msgs[t].content;
            std::string out;
            std::size_t at = 0;
            for (std::size_t i = 0; i < in.size(); ++i) {
                if (in[i] != '[') continue;
                const std::size_t e = detail::match_placeholder(in, i);
                if (!e) continue;
                const std::string label(in.substr(i + 1, e - i - 2));
                const auto it = src.values.find(label);
                require(it != src.values.end(), "lethe::privacy::pair_builder", "dialog '", src.id, "' message ", t,
                        ": placeholder [", label, "] has no value");
                out.append(in, at, i - at);
                const std::string type_label = label.substr(0, label.rfind('-'));
                if (msgs[t].role == "assistant")
                    occ.push_back({t, out.size(), out.size() + it->second.size(), type_label, entity_type_for_label(type_label)});
                out += it->second;
                at = e;
                i = e - 1;
            }
            out.append(in, at);
            msgs[t].content = std::move(out);
        }
        for (const auto& [label, value] : src.values) values.push_back(value);
    }
    if (llama3) {
        // The Llama-3 template trims content; trim first so offsets stay valid.
        for (std::size_t t = 0; t < msgs.size(); ++t) {
            const std::string& c = msgs[t].content;
            const std::size_t lead = c.find_first_not_of(" \t\r\n") == std::string::npos ? c.size() : c.find_first_not_of(" \t\r\n");
            const std::string trimmed(detail::trim_ws(c));
            for (auto& o : occ)
                if (o.turn == t) {
                    o.begin = std::min(o.begin - std::min(o.begin, lead), trimmed.size());
                    o.end = std::min(o.end - std::min(o.end, lead), trimmed.size());
                }
            msgs[t].content = trimmed;
        }
        std::erase_if(occ, [](const occurrence& o) { return o.begin >= o.end; });
    }
    if (src.values.empty()) {
        // Plain chat: the scanner finds the occurrences.
        for (std::size_t t = 0; t < msgs.size(); ++t) {
            if (msgs[t].role != "assistant") continue;
            scan.scan(msgs[t].content, spans);
            for (const auto& s : spans) {
                if (!options_.pii_types.contains(s.type)) continue;
                occ.push_back({t, s.begin, s.end, std::string(name_of(s.type)), s.type});
                values.emplace_back(s.text(msgs[t].content));
            }
        }
    }

    ++stats_.dialogs;
    const bool to_test = in_test_split(src);
    ++(to_test ? stats_.test_dialogs : stats_.train_dialogs);
    anonymizer_.begin_document();
    std::vector<pair_sample> made;
    const std::string_view eot = options_.chat_template.end_of_turn();
    for (const occurrence& o : occ) {
        ++stats_.occurrences;
        const std::string& content = msgs[o.turn].content;
        const std::string_view prefix = std::string_view(content).substr(0, o.begin);
        const std::string_view cont = std::string_view(content).substr(o.begin);
        const std::vector<io::chat_message> before(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(o.turn));
        std::vector<io::chat_message> pos_ctx =
            options_.cfg_doubling ? detail::with_system_sentence(before, options_.pos_sentence) : before;

        std::string chosen;
        std::optional<std::string> generated;
        if (generator_) {
            generation_request req{&src, o.turn, pos_ctx, prefix, cont, o.label};
            generated = generator_(req);
            if (!generated && !options_.policy_fallback) { ++stats_.dropped_generator; continue; }
            if (!generated) ++stats_.fallback_policy;
        }
        if (generated) {
            chosen = std::move(*generated);
        } else {
            // Policy replacement of the continuation: the known occurrences of
            // this turn, then whatever else the scanner finds between them.
            std::vector<std::pair<entity_span, const occurrence*>> repl;
            for (const auto& k : occ)
                if (k.turn == o.turn && k.begin >= o.begin)
                    repl.push_back({{k.begin - o.begin, k.end - o.begin, k.type.value_or(entity_type::person), 1.0f}, &k});
            scan.scan(cont, spans);
            for (const auto& s : spans) {
                if (!options_.pii_types.contains(s.type)) continue;
                bool overlaps = false;
                for (const auto& r : repl) overlaps = overlaps || (s.begin < r.first.end && r.first.begin < s.end);
                if (!overlaps) repl.push_back({s, nullptr});
            }
            std::sort(repl.begin(), repl.end(), [](const auto& a, const auto& b) { return a.first.begin < b.first.begin; });
            std::size_t at = 0;
            for (const auto& [s, known] : repl) {
                if (s.begin < at) continue;
                chosen.append(cont.substr(at, s.begin - at));
                if (known && !known->type) chosen += "<" + known->label + ">";
                else chosen += anonymizer_.replacement_for(s.type, s.text(cont));
                at = s.end;
            }
            chosen.append(cont.substr(at));
        }
        // Clean means: no PII the scanner can see, and none of this dialog's values.
        bool clean = !scan.contains_any(chosen, options_.pii_types);
        for (const auto& v : values) clean = clean && (v.size() < 2 || chosen.find(v) == std::string::npos);
        if (!clean) { ++stats_.dropped_unclean; continue; }
        ++stats_.pairs;

        pair_sample pos;
        pos.prompt = options_.chat_template.render(pos_ctx, true);
        pos.prompt += prefix;
        pos.chosen = chosen + std::string(eot);
        pos.rejected = std::string(cont) + std::string(eot);
        pos.dialog_id = src.id;
        pos.pii_type = o.label;
        if (options_.cfg_doubling) {
            pair_sample neg;
            neg.prompt = options_.chat_template.render(detail::with_system_sentence(before, options_.neg_sentence), true);
            neg.prompt += prefix;
            neg.chosen = pos.rejected;
            neg.rejected = pos.chosen;
            neg.dialog_id = src.id;
            neg.pii_type = o.label;
            neg.negative = true;
            made.push_back(std::move(pos));
            made.push_back(std::move(neg));
        } else {
            made.push_back(std::move(pos));
        }
    }
    auto& dst = to_test ? test : train;
    (to_test ? stats_.test_samples : stats_.train_samples) += made.size();
    for (auto& m : made) dst.push_back(std::move(m));
}

inline pair_build_stats build_preference_pairs(pair_builder& builder, const std::filesystem::path& input,
                                               const std::filesystem::path& train_out, const std::filesystem::path& test_out,
                                               io::on_malformed malformed) {
    io::jsonl_writer train_w(train_out), test_w(test_out);
    std::vector<pair_sample> train, test;
    const bool meta = builder.options().include_metadata;
    const auto report = io::read_jsonl_file(
        input,
        [&](nlohmann::json&& j, std::size_t line) {
            const dialog d = dialog_from_json(j, line);
            train.clear();
            test.clear();
            builder.add(d, train, test);
            for (const auto& s : train) train_w.write(s.to_json(meta));
            for (const auto& s : test) test_w.write(s.to_json(meta));
        },
        io::jsonl_read_options{malformed, input.string()});
    builder.stats().malformed_lines += report.skipped.size();
    train_w.commit();
    test_w.commit();
    return builder.stats();
}

}  // namespace lethe::privacy
