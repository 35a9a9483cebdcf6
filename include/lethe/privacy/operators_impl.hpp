// lethe/privacy/operators_impl.hpp - policy_from_json and the anonymizer.
// Included by operators.hpp.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "pseudonym.hpp"

namespace lethe::privacy {

namespace detail {

// An integer field within [lo, hi]. Not nlohmann's get<int>(): it casts a
// float as it is, and a float outside int's range is undefined behaviour
// (fuzz_privacy_policy found keep_last = 4.7e53).
inline std::int64_t integer_field(const nlohmann::json& v, const std::string& field, std::int64_t lo, std::int64_t hi) {
    constexpr std::string_view where = "lethe::privacy::policy_from_json";
    require(v.is_number_integer(), where, field, ": must be an integer, got ", v.type_name());
    bool in_range;
    if (v.is_number_unsigned()) {
        const std::uint64_t u = v.get<std::uint64_t>();
        in_range = hi >= 0 && u <= static_cast<std::uint64_t>(hi) && static_cast<std::int64_t>(u) >= lo;
    } else {
        const std::int64_t i = v.get<std::int64_t>();
        in_range = i >= lo && i <= hi;
    }
    require(in_range, where, field, ": must be in [", lo, ", ", hi, "], got ", v.dump());
    return v.is_number_unsigned() ? static_cast<std::int64_t>(v.get<std::uint64_t>()) : v.get<std::int64_t>();
}

inline replacement_operator operator_from_json(const nlohmann::json& j, const std::string& where) {
    replacement_operator op;
    if (j.is_string()) {
        op.kind = operator_kind_from_name(j.get<std::string>(), where);
        return op;
    }
    require(j.is_object(), "lethe::privacy::policy_from_json", where, ": expected an operator name or an object");
    for (const auto& [key, value] : j.items()) {
        const std::string field = where + "." + key;
        try {
            if (key == "operator") op.kind = operator_kind_from_name(value.get<std::string>(), field);
            else if (key == "text") op.text = value.get<std::string>();
            else if (key == "keep_last") op.keep_last = static_cast<int>(integer_field(value, field, 0, std::numeric_limits<int>::max()));
            else if (key == "mask_char") {
                const auto s = value.get<std::string>();
                require(s.size() == 1, "lethe::privacy::policy_from_json", field, ": must be one ASCII character");
                op.mask_char = s[0];
            } else if (key == "hash_hex_chars") op.hash_hex_chars = static_cast<int>(integer_field(value, field, 1, 64));
            else fail("lethe::privacy::policy_from_json", field, ": unknown key");
        } catch (const nlohmann::json::exception& e) {
            fail("lethe::privacy::policy_from_json", field, ": ", e.what());
        }
    }
    require(j.contains("operator"), "lethe::privacy::policy_from_json", where, ": missing \"operator\"");
    require(op.keep_last >= 0, "lethe::privacy::policy_from_json", where, ".keep_last: must be >= 0");
    require(op.hash_hex_chars >= 1 && op.hash_hex_chars <= 64, "lethe::privacy::policy_from_json", where,
            ".hash_hex_chars: must be 1..64");
    return op;
}

// Number of UTF-8 code points (lead bytes) in s.
inline std::size_t code_points(std::string_view s) noexcept {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

}  // namespace detail

inline replacement_policy policy_from_json(const nlohmann::json& j) {
    constexpr std::string_view where = "lethe::privacy::policy_from_json";
    require(j.is_object(), where, "policy must be a JSON object");
    replacement_policy p;
    if (j.contains("default")) {
        const replacement_operator def = detail::operator_from_json(j["default"], "default");
        for (std::size_t i = 0; i < entity_type_count; ++i)
            if (static_cast<entity_type>(i) != entity_type::placeholder) p.per_type[i] = def;
    }
    for (const auto& [key, value] : j.items()) {
        try {
            if (key == "default") continue;
            if (key == "seed") {
                // Any integer in [0, 2^64): nlohmann's get<std::uint64_t>() of a float or a negative number is not checked.
                require(value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0), where,
                        "seed: must be a non-negative integer, got ", value.dump());
                p.seed = value.get<std::uint64_t>();
            }
            else if (key == "scope") {
                const auto s = value.get<std::string>();
                require(s == "document" || s == "dataset", where, "scope: expected \"document\" or \"dataset\", got '", s, "'");
                p.scope = s == "document" ? consistency_scope::document : consistency_scope::dataset;
            } else if (key == "refusal") p.refusal = value.get<std::string>();
            else if (key == "entities") {
                require(value.is_object(), where, "entities: expected an object keyed by entity type");
                for (const auto& [type_name, op] : value.items()) {
                    const auto t = entity_type_from_name(type_name);
                    require(t.has_value(), where, "entities.", type_name, ": unknown entity type");
                    p[*t] = detail::operator_from_json(op, "entities." + type_name);
                }
            } else fail(where, key, ": unknown key");
        } catch (const nlohmann::json::exception& e) {
            fail(where, key, ": ", e.what());
        }
    }
    return p;
}

inline anonymizer::anonymizer(replacement_policy policy, scanner scan)
    : policy_(std::move(policy)), scanner_(std::move(scan)) {
    for (std::size_t i = 0; i < entity_type_count; ++i)
        if (policy_.per_type[i].kind == operator_kind::keyed_hash)
            require(static_cast<bool>(policy_.keyed_hash), "lethe::privacy::anonymizer", name_of(static_cast<entity_type>(i)),
                    ": the hash operator needs install_keyed_hash() from <lethe/privacy/keyed_hash.hpp> (link lethe::crypto)");
}

inline void anonymizer::begin_document() {
    ++document_;
    next_number_.fill(0);
    numbers_.clear();
    if (policy_.scope == consistency_scope::document) {
        fakes_.clear();
        used_fakes_.clear();
    }
}

inline std::string anonymizer::pseudonym(entity_type type, std::string_view value) {
    std::string key(1, static_cast<char>('A' + index_of(type)));
    key += value;
    if (auto it = fakes_.find(key); it != fakes_.end()) return it->second;
    // Stream key: seed, type, value and (document scope) the document number.
    std::uint64_t k = fnv1a64(key, fnv1a64(std::string_view(reinterpret_cast<const char*>(&policy_.seed), sizeof policy_.seed)));
    if (policy_.scope == consistency_scope::document) k ^= document_ * 0x9E3779B97F4A7C15ull;
    std::string fake;
    for (int attempt = 0; attempt < 16; ++attempt) {  // redraw on a clash with another value's fake or the value itself
        fake = format_preserving_fake(type, value, k + static_cast<std::uint64_t>(attempt) * 0xD1B54A32D192ED03ull, scanner_.lists());
        if (fake != value && !used_fakes_.count(std::string(1, key[0]) + fake)) break;
    }
    used_fakes_.insert(std::string(1, key[0]) + fake);
    fakes_.emplace(std::move(key), fake);
    return fake;
}

inline std::string anonymizer::replacement_for(entity_type type, std::string_view value) {
    const replacement_operator& op = policy_[type];
    switch (op.kind) {
        case operator_kind::keep: return std::string(value);
        case operator_kind::typed_placeholder: {
            std::string o(1, '<');
            o += name_of(type);
            o += '>';
            return o;
        }
        case operator_kind::numbered_placeholder: {
            std::string key(1, static_cast<char>('A' + index_of(type)));
            key += value;
            auto [it, inserted] = numbers_.try_emplace(std::move(key), 0);
            if (inserted) it->second = ++next_number_[index_of(type)];
            std::string o(1, '[');
            o += name_of(type);
            o += '-';
            o += std::to_string(it->second);
            o += ']';
            return o;
        }
        case operator_kind::redact: return op.text;
        case operator_kind::mask: {
            const std::size_t cps = detail::code_points(value);
            const std::size_t hide = cps > static_cast<std::size_t>(op.keep_last) ? cps - static_cast<std::size_t>(op.keep_last) : 0;
            std::string o(hide, op.mask_char);
            std::size_t seen = 0, k = 0;
            for (; k < value.size(); ++k) {
                if ((static_cast<unsigned char>(value[k]) & 0xC0) != 0x80) {
                    if (seen == hide) break;
                    ++seen;
                }
            }
            o += value.substr(k);
            return o;
        }
        case operator_kind::keyed_hash:
            return std::string(name_of(type)) + "_" + policy_.keyed_hash(type, value).substr(0, static_cast<std::size_t>(op.hash_hex_chars));
        case operator_kind::pseudonym: return pseudonym(type, value);
        case operator_kind::refuse: return policy_.refusal;
    }
    return std::string(value);
}

inline bool anonymizer::apply(std::string_view text, std::span<const entity_span> spans, std::string& out) {
    out.clear();
    for (const auto& s : spans) {
        if (policy_[s.type].kind == operator_kind::refuse) {
            ++counts_[index_of(s.type)];
            ++refused_;
            out = policy_.refusal;
            return false;
        }
    }
    out.reserve(text.size() + text.size() / 8);
    std::size_t at = 0;
    for (const auto& s : spans) {
        require(s.begin >= at && s.end <= text.size() && s.begin <= s.end, "lethe::privacy::anonymizer::apply",
                "spans must be sorted, non-overlapping and inside the text (span at byte ", s.begin, ")");
        out.append(text.substr(at, s.begin - at));
        const replacement_operator& op = policy_[s.type];
        if (op.kind == operator_kind::typed_placeholder) {  // the common case, without a temporary
            out += '<';
            out += name_of(s.type);
            out += '>';
        } else {
            out += replacement_for(s.type, s.text(text));
        }
        ++counts_[index_of(s.type)];
        at = s.end;
    }
    out.append(text.substr(at));
    return true;
}

inline std::string anonymizer::anonymize(std::string_view text) {
    begin_document();
    scanner_.scan(text, spans_);
    std::string out;
    apply(text, spans_, out);
    return out;
}

}  // namespace lethe::privacy
