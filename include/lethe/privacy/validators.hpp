// lethe/privacy/validators.hpp - the checksums and grammars that separate
// real identifiers from look-alike digit strings. Each function looks at a
// bounded piece of text and never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../core/utf8.hpp"

namespace lethe::privacy {

namespace detail {
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) noexcept { return is_upper(c) || is_lower(c); }
constexpr bool is_alnum(char c) noexcept { return is_digit(c) || is_alpha(c); }
constexpr int hex_value(char c) noexcept {
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}
}  // namespace detail

// ---------------------------------------------------------------- UTF-8
using lethe::first_invalid_utf8;  // core/utf8.hpp

// ---------------------------------------------------------------- checksums
// Luhn (ISO/IEC 7812-1 annex B) over the digits of `s`, other bytes ignored.
// Returns false when there are fewer than 2 digits.
constexpr bool luhn_valid(std::string_view s) noexcept {
    int sum = 0, count = 0;
    for (std::size_t k = s.size(); k-- > 0;) {
        if (!detail::is_digit(s[k])) continue;
        int d = s[k] - '0';
        if (count % 2 == 1) { d *= 2; if (d > 9) d -= 9; }
        sum += d;
        ++count;
    }
    return count >= 2 && sum % 10 == 0;
}

// The Luhn check digit that completes `payload_digits` (digits only).
constexpr int luhn_check_digit(std::string_view payload_digits) noexcept {
    int sum = 0, count = 0;
    for (std::size_t k = payload_digits.size(); k-- > 0;) {
        int d = payload_digits[k] - '0';
        if (count % 2 == 0) { d *= 2; if (d > 9) d -= 9; }  // the check digit will take position 0
        sum += d;
        ++count;
    }
    return (10 - sum % 10) % 10;
}

// Issuer prefixes (IIN ranges) of the networks we accept, with their lengths:
// Visa 4 (13,16,19), Mastercard 51-55 and 2221-2720 (16), Amex 34/37 (15),
// Discover 6011/644-649/65 (16-19), JCB 3528-3589 (16-19), Diners 36/38/300-305 (14-19),
// UnionPay 62 (16-19), Maestro 50/56-58/6304/6759/676x (12-19).
constexpr bool credit_card_prefix_valid(std::string_view digits) noexcept {
    const std::size_t n = digits.size();
    if (n < 12 || n > 19) return false;
    auto pre = [&](std::size_t k) {
        int v = 0;
        for (std::size_t i = 0; i < k; ++i) v = v * 10 + (digits[i] - '0');
        return v;
    };
    const int p1 = pre(1), p2 = pre(2), p3 = pre(3), p4 = pre(4);
    if (p1 == 4) return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;
    if (p2 == 34 || p2 == 37) return n == 15;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return n >= 16;
    if (p4 >= 3528 && p4 <= 3589) return n >= 16;
    if (p2 == 36 || p2 == 38 || (p3 >= 300 && p3 <= 305)) return n >= 14;
    if (p2 == 62) return n >= 16;
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p4 == 6304 || p4 == 6759 || p3 == 676) return n >= 12;
    return false;
}

// US Social Security Number AAA-GG-SSSS (digits only, 9 of them): area 000,
// 666 and 900-999, group 00 and serial 0000 are never issued (SSA rules).
constexpr bool us_ssn_valid(std::string_view nine_digits) noexcept {
    if (nine_digits.size() != 9) return false;
    for (char c : nine_digits) if (!detail::is_digit(c)) return false;
    const int area = (nine_digits[0] - '0') * 100 + (nine_digits[1] - '0') * 10 + (nine_digits[2] - '0');
    const int group = (nine_digits[3] - '0') * 10 + (nine_digits[4] - '0');
    const bool serial_zero = nine_digits.substr(5) == "0000";
    return area != 0 && area != 666 && area < 900 && group != 0 && !serial_zero;
}

// ---------------------------------------------------------------- IBAN
// Total IBAN length per country (SWIFT IBAN registry), 0 when unknown.
constexpr int iban_length_for_country(char a, char b) noexcept {
    struct entry { char c0, c1; unsigned char len; };
    constexpr entry table[] = {
        {'A','D',24},{'A','E',23},{'A','L',28},{'A','T',20},{'A','Z',28},{'B','A',20},{'B','E',16},{'B','G',22},
        {'B','H',22},{'B','R',29},{'B','Y',28},{'C','H',21},{'C','R',22},{'C','Y',28},{'C','Z',24},{'D','E',22},
        {'D','K',18},{'D','O',28},{'E','E',20},{'E','G',29},{'E','S',24},{'F','I',18},{'F','O',18},{'F','R',27},
        {'G','B',22},{'G','E',22},{'G','I',23},{'G','L',18},{'G','R',27},{'G','T',28},{'H','R',21},{'H','U',28},
        {'I','E',22},{'I','L',23},{'I','Q',23},{'I','S',26},{'I','T',27},{'J','O',30},{'K','W',30},{'K','Z',20},
        {'L','B',28},{'L','C',32},{'L','I',21},{'L','T',20},{'L','U',20},{'L','V',21},{'M','C',27},{'M','D',24},
        {'M','E',22},{'M','K',19},{'M','R',27},{'M','T',31},{'M','U',30},{'N','L',18},{'N','O',15},{'P','K',24},
        {'P','L',28},{'P','S',29},{'P','T',25},{'Q','A',29},{'R','O',24},{'R','S',22},{'S','A',24},{'S','C',31},
        {'S','E',24},{'S','I',19},{'S','K',24},{'S','M',27},{'S','V',28},{'T','L',23},{'T','N',24},{'T','R',26},
        {'U','A',29},{'V','A',22},{'V','G',24},{'X','K',20},
    };
    for (const auto& e : table)
        if (e.c0 == a && e.c1 == b) return e.len;
    return 0;
}

// ISO 13616 check: move the first four characters to the end, letters to
// 10..35, the number mod 97 must be 1. `compact` holds no spaces.
constexpr bool iban_checksum_valid(std::string_view compact) noexcept {
    if (compact.size() < 5) return false;
    int rem = 0;
    for (std::size_t k = 0; k < compact.size(); ++k) {
        const char c = compact[(k + 4) % compact.size()];
        if (detail::is_digit(c)) rem = (rem * 10 + (c - '0')) % 97;
        else if (detail::is_upper(c)) rem = (rem * 100 + (c - 'A' + 10)) % 97;
        else return false;
    }
    return rem == 1;
}

// Country length, check digits and checksum of an IBAN without spaces.
constexpr bool iban_valid(std::string_view compact) noexcept {
    if (compact.size() < 15 || compact.size() > 34) return false;
    if (!detail::is_upper(compact[0]) || !detail::is_upper(compact[1]) || !detail::is_digit(compact[2]) ||
        !detail::is_digit(compact[3]))
        return false;
    if (static_cast<std::size_t>(iban_length_for_country(compact[0], compact[1])) != compact.size()) return false;
    return iban_checksum_valid(compact);
}

// The two check digits that make `country + "00" + bban` valid.
constexpr int iban_check_digits(std::string_view country, std::string_view bban) noexcept {
    int rem = 0;
    auto push = [&rem](char c) {
        if (detail::is_digit(c)) rem = (rem * 10 + (c - '0')) % 97;
        else rem = (rem * 100 + (c - 'A' + 10)) % 97;
    };
    for (char c : bban) push(c);
    push(country[0]);
    push(country[1]);
    push('0');
    push('0');
    return 98 - rem;
}

// ---------------------------------------------------------------- IP
// Parses a dotted-quad IPv4 address at the start of `s`: four decimal octets
// 0-255 without leading zeros. Returns the length consumed, 0 if none.
constexpr std::size_t parse_ipv4_prefix(std::string_view s) noexcept {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= s.size() || s[i] != '.') return 0;
            ++i;
        }
        const std::size_t start = i;
        int v = 0;
        while (i < s.size() && detail::is_digit(s[i]) && i - start < 3) v = v * 10 + (s[i++] - '0');
        const std::size_t len = i - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return 0;
        if (i < s.size() && detail::is_digit(s[i])) return 0;  // a fourth digit
    }
    return i;
}

// True when all of `s` is one IPv4 address.
constexpr bool ipv4_valid(std::string_view s) noexcept { return !s.empty() && parse_ipv4_prefix(s) == s.size(); }

// Parses an IPv6 address (RFC 4291 text forms: eight 1-4 digit hex groups,
// at most one "::", optionally an embedded IPv4 tail) at the start of `s`.
// Returns the length of the longest valid address there, 0 if none.
constexpr std::size_t parse_ipv6_prefix(std::string_view s) noexcept {
    std::size_t i = 0, best = 0;
    int groups = 0;
    bool compressed = false;
    if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        best = 2;  // "::" alone
    } else if (!s.empty() && s[0] == ':') {
        return 0;
    }
    while (i < s.size() && groups < 8) {
        // An embedded IPv4 address ends the address (it stands for two groups).
        if (groups <= 6 && (compressed || groups == 6)) {
            const std::size_t v4 = parse_ipv4_prefix(s.substr(i));
            if (v4 > 0) {
                if (compressed ? groups + 2 <= 7 : groups + 2 == 8) best = i + v4;
                break;
            }
        }
        const std::size_t start = i;
        while (i < s.size() && i - start < 4 && detail::hex_value(s[i]) >= 0) ++i;
        if (i == start) break;
        if (i < s.size() && detail::hex_value(s[i]) >= 0) return best;  // a 5th hex digit
        ++groups;
        if (compressed ? groups <= 7 : groups == 8) best = i;
        if (i + 1 < s.size() && s[i] == ':' && s[i + 1] == ':') {
            if (compressed) break;
            compressed = true;
            i += 2;
            if (groups <= 7) best = i;
        } else if (i < s.size() && s[i] == ':') {
            ++i;
        } else {
            break;
        }
    }
    return best;
}

constexpr bool ipv6_valid(std::string_view s) noexcept { return !s.empty() && parse_ipv6_prefix(s) == s.size(); }

// ---------------------------------------------------------------- dates
constexpr int days_in_month(int month, int year) noexcept {
    constexpr int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12) return 0;
    if (month == 2 && year > 0 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
    if (month == 2 && year <= 0) return 29;  // year unknown: allow Feb 29
    return d[month - 1];
}

// year: 4-digit 1000-2999, or 0 when absent / two-digit.
constexpr bool calendar_date_valid(int year, int month, int day) noexcept {
    return day >= 1 && day <= days_in_month(month, year);
}

}  // namespace lethe::privacy
