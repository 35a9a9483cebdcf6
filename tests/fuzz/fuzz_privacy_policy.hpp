// tests/fuzz/fuzz_privacy_policy.hpp - replacement policies from JSON
// (lethe/privacy/operators.hpp, policy_from_json): the policy read must be
// usable, i.e. an anonymizer built from it replaces a PII-rich text without
// failing and keeps the anonymizer's output contract.
#pragma once

#include "fuzz_privacy_common.hpp"

namespace lethe_fuzz {

inline int fuzz_privacy_policy(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::privacy;
    const nlohmann::json j = nlohmann::json::parse(as_text(data, size), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    return reject_cleanly([&] {
        replacement_policy p = policy_from_json(j);
        for (const auto& op : p.per_type) {
            LETHE_FUZZ_CHECK(static_cast<std::size_t>(op.kind) < operator_kind_names.size(), "operator kind");
            LETHE_FUZZ_CHECK(op.keep_last >= 0, "keep_last");
            LETHE_FUZZ_CHECK(op.hash_hex_chars >= 1 && op.hash_hex_chars <= 64, "hash_hex_chars");
            LETHE_FUZZ_CHECK(static_cast<unsigned char>(op.mask_char) < 0x80, "mask_char is one ASCII character");
        }
        privacy_detail::install_test_hash(p);
        static const scanner sc;
        static constexpr std::string_view text =
            "Hi, I'm Sarah Johnson (sarah.johnson@example.com, +1 415 555 2671). I live in London; "
            "SSN 123-45-6789, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, born March 5, 1990. "
            "Server 192.168.10.24 / fe80::1, see https://status.example.org/x. [NAME-1] was here.";
        privacy_detail::check_anonymizer(text, p, sc);
    });
}

}  // namespace lethe_fuzz
