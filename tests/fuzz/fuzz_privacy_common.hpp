// tests/fuzz/fuzz_privacy_common.hpp - checks shared by the scanner and
// policy fuzzers: the scanner's documented span contract and what an
// anonymized text may look like.
#pragma once

#include <lethe/privacy.hpp>

#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz::privacy_detail {

// A stand-in for HMAC-SHA256 (the real one needs lethe::crypto): 64 hex digits
// from FNV-1a, enough to exercise the hash operator's formatting.
inline void install_test_hash(lethe::privacy::replacement_policy& p) {
    p.keyed_hash = [](lethe::privacy::entity_type t, std::string_view v) {
        std::uint64_t h = lethe::privacy::fnv1a64(v, 0xCBF29CE484222325ull ^ static_cast<std::uint64_t>(t));
        static constexpr char hex[] = "0123456789abcdef";
        std::string s;
        for (int k = 0; k < 64; ++k) {
            s += hex[h & 15];
            h = (h >> 4) | (h << 60);
        }
        return s;
    };
}

inline bool is_continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// scanner.hpp: spans sorted by begin, never overlapping, inside the text,
// non-empty, of a requested type and at least min_confidence; in valid UTF-8
// text they start and end on code point boundaries.
inline void check_spans(std::string_view text, const std::vector<lethe::privacy::entity_span>& spans,
                        const lethe::privacy::scanner_options& opt) {
    const bool valid = lethe::privacy::first_invalid_utf8(text) == text.size();
    std::size_t last_end = 0;
    for (const auto& s : spans) {
        LETHE_FUZZ_CHECK(s.begin < s.end && s.end <= text.size(), "span inside the text");
        LETHE_FUZZ_CHECK(s.begin >= last_end, "spans sorted and non-overlapping");
        LETHE_FUZZ_CHECK(opt.types.contains(s.type) && s.confidence >= opt.min_confidence && s.confidence <= 1.0f,
                         "span type and confidence");
        if (valid) {
            LETHE_FUZZ_CHECK(!is_continuation(text[s.begin]), "span starts on a code point");
            LETHE_FUZZ_CHECK(s.end == text.size() || !is_continuation(text[s.end]), "span ends on a code point");
        }
        last_end = s.end;
    }
}

// Anonymizes `text` with `policy` and checks the result: kept spans leave the
// text as it was; a refusal is the policy's refusal text; otherwise valid UTF-8
// input gives valid UTF-8 output, and the same policy gives the same output.
inline void check_anonymizer(std::string_view text, const lethe::privacy::replacement_policy& policy,
                             const lethe::privacy::scanner& sc) {
    using namespace lethe::privacy;
    anonymizer a(policy, sc);
    const std::vector<entity_span> spans = sc.scan(text);
    a.begin_document();
    std::string out;
    const bool done = a.apply(text, spans, out);
    bool refuses = false, all_keep = true;
    for (const auto& s : spans) {
        refuses = refuses || policy[s.type].kind == operator_kind::refuse;
        all_keep = all_keep && policy[s.type].kind == operator_kind::keep;
    }
    LETHE_FUZZ_CHECK(done == !refuses, "apply reports a refusal");
    if (refuses) {
        LETHE_FUZZ_CHECK(out == policy.refusal, "refusal text");
        return;
    }
    if (all_keep) LETHE_FUZZ_CHECK(out == text, "keep leaves the text as it is");
    const bool valid_policy = first_invalid_utf8(policy.refusal) == policy.refusal.size();
    bool valid_texts = valid_policy;
    for (const auto& op : policy.per_type) valid_texts = valid_texts && first_invalid_utf8(op.text) == op.text.size();
    if (valid_texts && first_invalid_utf8(text) == text.size())
        LETHE_FUZZ_CHECK(first_invalid_utf8(out) == out.size(), "anonymized text is valid UTF-8");
    anonymizer b(policy, sc);
    LETHE_FUZZ_CHECK(b.anonymize(text) == out, "anonymize is deterministic and equals scan + apply");
}

}  // namespace lethe_fuzz::privacy_detail
