// lethe/privacy/operators.hpp - what replaces each finding: a per-type
// replacement policy (from code or JSON) and the anonymizer that applies it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "entity.hpp"
#include "scanner.hpp"

namespace lethe::privacy {

enum class operator_kind : unsigned char {
    keep,                  // leave the text as it is
    typed_placeholder,     // "<EMAIL>"
    numbered_placeholder,  // "[EMAIL-1]", the same value gets the same number within a document
    redact,                // replaced by `text` (empty by default: the value is deleted)
    mask,                  // all but the last `keep_last` characters become `mask_char`
    keyed_hash,            // "EMAIL_" + first `hash_hex_chars` hex digits of HMAC-SHA256(key, type, value)
    pseudonym,             // a seeded realistic fake of the same format, consistent per scope
    refuse,                // the whole document becomes the policy's refusal text
};

inline constexpr std::array<std::string_view, 8> operator_kind_names = {
    "keep", "placeholder", "numbered", "redact", "mask", "hash", "pseudonym", "refuse"};

constexpr std::string_view name_of(operator_kind k) noexcept { return operator_kind_names[static_cast<std::size_t>(k)]; }

inline operator_kind operator_kind_from_name(std::string_view name, std::string_view where = "operator") {
    for (std::size_t i = 0; i < operator_kind_names.size(); ++i)
        if (operator_kind_names[i] == name) return static_cast<operator_kind>(i);
    fail("lethe::privacy", where, ": unknown operator '", name,
         "' (expected keep, placeholder, numbered, redact, mask, hash, pseudonym or refuse)");
}

struct replacement_operator {
    operator_kind kind = operator_kind::typed_placeholder;
    std::string text;            // redact: the replacement (default empty)
    int keep_last = 4;           // mask
    char mask_char = '*';        // mask
    int hash_hex_chars = 16;     // keyed_hash: 1..64
};

// Pseudonyms and numbers stay consistent within one document (reset by
// anonymizer::begin_document) or across a whole dataset.
enum class consistency_scope : unsigned char { document, dataset };

struct replacement_policy {
    std::array<replacement_operator, entity_type_count> per_type{};
    std::uint64_t seed = 0;  // pseudonyms
    consistency_scope scope = consistency_scope::document;
    std::string refusal = "I'm sorry, but I can't share personal information.";
    // HMAC-SHA256 provider for operator_kind::keyed_hash; installed by
    // install_keyed_hash() from <lethe/privacy/keyed_hash.hpp> (needs lethe::crypto).
    std::function<std::string(entity_type, std::string_view)> keyed_hash;

    replacement_policy() { per_type[index_of(entity_type::placeholder)].kind = operator_kind::keep; }

    // Every PII type gets `kind`; challenge placeholders are kept.
    static replacement_policy uniform(operator_kind kind) {
        replacement_policy p;
        for (std::size_t i = 0; i < entity_type_count; ++i) p.per_type[i].kind = kind;
        p.per_type[index_of(entity_type::placeholder)].kind = operator_kind::keep;
        return p;
    }
    replacement_operator& operator[](entity_type t) noexcept { return per_type[index_of(t)]; }
    const replacement_operator& operator[](entity_type t) const noexcept { return per_type[index_of(t)]; }
};

// Reads a policy from JSON (format in docs/privacy.md):
//   {"default": "placeholder", "seed": 7, "scope": "document", "refusal": "...",
//    "entities": {"EMAIL": {"operator": "mask", "keep_last": 4}, "PHONE": "pseudonym"}}
// Unknown keys, types and operators are errors naming the field.
replacement_policy policy_from_json(const nlohmann::json& j);

// Applies a policy to text. Holds the per-document and per-dataset state
// (numbering, pseudonym tables) and per-type counts of what it replaced.
class anonymizer {
public:
    explicit anonymizer(replacement_policy policy = {}, scanner scan = scanner());

    // Starts a new document: numbered placeholders restart at 1 and, under
    // document scope, pseudonyms are drawn afresh.
    void begin_document();

    // Scans and replaces one document (begin_document() is called first).
    std::string anonymize(std::string_view text);

    // Writes `text` with `spans` (sorted, non-overlapping, e.g. from scanner::scan)
    // replaced into `out` (cleared first), within the current document.
    // Returns false when a refuse operator fired: `out` then holds the refusal.
    bool apply(std::string_view text, std::span<const entity_span> spans, std::string& out);

    // The replacement for one value of one type within the current document.
    std::string replacement_for(entity_type type, std::string_view value);

    const replacement_policy& policy() const noexcept { return policy_; }
    const scanner& detector() const noexcept { return scanner_; }
    // Spans replaced (or kept) per type since construction / reset_counts().
    const std::array<std::size_t, entity_type_count>& counts() const noexcept { return counts_; }
    std::size_t refused_documents() const noexcept { return refused_; }
    void reset_counts() noexcept { counts_.fill(0); refused_ = 0; }

private:
    std::string pseudonym(entity_type type, std::string_view value);

    replacement_policy policy_;
    scanner scanner_;
    std::vector<entity_span> spans_;
    std::uint64_t document_ = 0;
    std::array<int, entity_type_count> next_number_{};
    std::unordered_map<std::string, int> numbers_;               // per document: type + value -> n
    std::unordered_map<std::string, std::string> fakes_;         // per scope: type + value -> fake
    std::unordered_set<std::string> used_fakes_;                 // per scope: no two values share a fake
    std::array<std::size_t, entity_type_count> counts_{};
    std::size_t refused_ = 0;
};

}  // namespace lethe::privacy

#include "operators_impl.hpp"
