// tests/fuzz/fuzz_scanner.hpp - the PII scanner and anonymizer
// (lethe/privacy/scanner.hpp, operators.hpp) on arbitrary bytes. Three
// control bytes: the entity types to report (12 bits over bytes 0-1), context
// names (byte 1 bit 4), the minimum confidence (byte 2) and the operator every
// type gets (byte 1 bits 5-7 with byte 2's low bit).
#pragma once

#include "fuzz_privacy_common.hpp"

namespace lethe_fuzz {

inline int fuzz_scanner(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::privacy;
    input in(data, size);
    const unsigned b0 = in.byte(), b1 = in.byte(), b2 = in.byte();
    scanner_options opt;
    opt.types = entity_set{};
    const unsigned mask = b0 | ((b1 & 0x0F) << 8);
    for (std::size_t t = 0; t < entity_type_count; ++t)
        if ((mask >> t) & 1u) opt.types = opt.types.with(static_cast<entity_type>(t));
    if (mask == 0) opt.types = entity_set::all();
    opt.context_names = (b1 & 0x10) != 0;
    opt.min_confidence = static_cast<float>(b2 >> 1) / 127.0f;
    const std::string_view text = in.rest();
    return reject_cleanly([&] {
        const scanner sc(opt);
        std::vector<entity_span> spans;
        sc.scan(text, spans);
        privacy_detail::check_spans(text, spans, opt);
        bool any = false;
        for (const auto& s : spans) any = any || entity_set::all_pii().contains(s.type);
        LETHE_FUZZ_CHECK(sc.contains_any(text) == any, "contains_any agrees with scan");

        const auto kind = static_cast<operator_kind>(((b1 >> 5) | ((b2 & 1u) << 3)) % operator_kind_names.size());
        replacement_policy p = replacement_policy::uniform(kind);
        p.seed = b0;
        p.scope = (b2 & 2) ? consistency_scope::dataset : consistency_scope::document;
        p[entity_type::email].kind = operator_kind::mask;
        p[entity_type::email].keep_last = static_cast<int>(b0 % 7);
        privacy_detail::install_test_hash(p);
        privacy_detail::check_anonymizer(text, p, sc);
    });
}

}  // namespace lethe_fuzz
