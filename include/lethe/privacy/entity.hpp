// lethe/privacy/entity.hpp - the PII entity types the scanner reports and the
// span it reports them in.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace lethe::privacy {

// One entry per kind of personal data the scanner knows. `placeholder` is the
// challenge's already-scrubbed marker "[NAME-1]": not PII itself, but the pair
// builder needs to find it.
enum class entity_type : unsigned char {
    email,
    phone,
    us_ssn,
    credit_card,
    iban,
    ipv4,
    ipv6,
    url,
    date,
    person,
    location,
    address,  // a street address with its number, or a postcode with its city
    placeholder,
};
inline constexpr std::size_t entity_type_count = 13;

inline constexpr std::array<std::string_view, entity_type_count> entity_type_names = {
    "EMAIL", "PHONE", "US_SSN", "CREDIT_CARD", "IBAN", "IPV4", "IPV6", "URL", "DATE", "PERSON", "LOCATION", "ADDRESS", "PLACEHOLDER"};

constexpr std::string_view name_of(entity_type t) noexcept { return entity_type_names[static_cast<std::size_t>(t)]; }
constexpr std::size_t index_of(entity_type t) noexcept { return static_cast<std::size_t>(t); }

// "EMAIL" -> entity_type::email (upper-case names as printed by name_of).
constexpr std::optional<entity_type> entity_type_from_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < entity_type_count; ++i)
        if (entity_type_names[i] == name) return static_cast<entity_type>(i);
    return std::nullopt;
}

// A finding: bytes [begin, end) of the scanned text. Offsets are byte offsets
// and always fall on UTF-8 code point boundaries (see scanner.hpp).
struct entity_span {
    std::size_t begin = 0;
    std::size_t end = 0;
    entity_type type = entity_type::email;
    float confidence = 0.0f;  // 0..1, a heuristic score, not a calibrated probability

    std::size_t size() const noexcept { return end - begin; }
    std::string_view text(std::string_view source) const noexcept { return source.substr(begin, end - begin); }
    friend bool operator==(const entity_span&, const entity_span&) = default;
};

// A set of entity types (bit i = entity_type i).
class entity_set {
public:
    constexpr entity_set() = default;
    static constexpr entity_set all() noexcept { entity_set s; s.bits_ = (1u << entity_type_count) - 1; return s; }
    static constexpr entity_set all_pii() noexcept { return all().without(entity_type::placeholder); }
    constexpr entity_set with(entity_type t) const noexcept { entity_set s = *this; s.bits_ |= 1u << index_of(t); return s; }
    constexpr entity_set without(entity_type t) const noexcept { entity_set s = *this; s.bits_ &= ~(1u << index_of(t)); return s; }
    constexpr bool contains(entity_type t) const noexcept { return (bits_ >> index_of(t)) & 1u; }
    constexpr bool empty() const noexcept { return bits_ == 0; }

private:
    unsigned bits_ = 0;
};

}  // namespace lethe::privacy
