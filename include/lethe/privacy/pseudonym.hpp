// lethe/privacy/pseudonym.hpp - seeded realistic fakes that keep the format
// of the value they replace: a phone stays a plausible phone with the same
// separators, a card keeps its grouping and passes Luhn, an IBAN keeps its
// country and passes mod-97, an e-mail stays an e-mail (at example.*).
// The same (value, key) always gives the same fake.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "../core/hash.hpp"
#include "entity.hpp"
#include "gazetteer.hpp"
#include "scanner.hpp"
#include "validators.hpp"

namespace lethe::privacy {

// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded stream, the same on
// every platform (std:: distributions are not).
struct splitmix64 {
    std::uint64_t state;
    std::uint64_t next() noexcept {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int below(int n) noexcept { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
    int between(int lo, int hi) noexcept { return lo + below(hi - lo + 1); }  // inclusive
};

// FNV-1a (core/hash.hpp) turns a value into a stream key.
using lethe::fnv1a64;

namespace detail {

inline char random_digit(splitmix64& r, char lo = '0') { return static_cast<char>(lo + r.below('9' - lo + 1)); }

// An ASCII entry of `list` (fakes used in e-mails must be ASCII).
inline std::string_view pick_ascii(const gazetteer& list, splitmix64& r, bool single_word = true) {
    const auto& e = list.entries();
    for (int attempt = 0; attempt < 64; ++attempt) {
        const std::string& w = e[static_cast<std::size_t>(r.below(static_cast<int>(e.size())))];
        bool ok = true;
        for (char c : w) ok = ok && (is_alpha(c) || (!single_word && c == ' '));
        if (ok) return w;
    }
    return single_word ? "Alex" : "Springfield";
}

inline std::string lower_ascii(std::string_view s) {
    std::string o(s);
    for (char& c : o) if (is_upper(c)) c = static_cast<char>(c - 'A' + 'a');
    return o;
}

// Phones: digits redrawn, separators kept; the country code after '+', the
// trunk '0'/'00' and a NANP leading '1' are kept; a digit that starts a group
// is 2-9 so NANP area and exchange codes stay valid.
inline std::string fake_phone(std::string_view v, splitmix64& r) {
    std::string o(v);
    std::size_t i = 0;
    if (!o.empty() && o[0] == '+') {
        i = 1;
        while (i < o.size() && is_digit(o[i])) ++i;  // country code group
    } else {
        while (i < o.size() && i < 2 && o[i] == '0') ++i;
        if (i == 0 && o.size() > 1 && o[0] == '1' && !is_digit(o[1])) i = 1;
    }
    bool group_start = true;
    for (; i < o.size(); ++i) {
        if (!is_digit(o[i])) { group_start = true; continue; }
        o[i] = random_digit(r, group_start ? '2' : '0');
        group_start = false;
    }
    return o;
}

inline std::string fake_ssn(std::string_view v, splitmix64& r) {
    int area = r.between(1, 898);
    if (area >= 666) ++area;
    char digits[32];
    std::snprintf(digits, sizeof digits, "%03d%02d%04d", area, r.between(1, 99), r.between(1, 9999));
    std::string o(v);
    int k = 0;
    for (char& c : o) if (is_digit(c) && k < 9) c = digits[k++];
    return o;
}

// Cards keep the first four digits (the network), redraw the rest and fix
// the Luhn check digit; grouping is kept.
inline std::string fake_card(std::string_view v, splitmix64& r) {
    std::string digits;
    for (char c : v) if (is_digit(c)) digits += c;
    for (std::size_t k = 4; k + 1 < digits.size(); ++k) digits[k] = random_digit(r);
    digits.back() = static_cast<char>('0' + luhn_check_digit(std::string_view(digits).substr(0, digits.size() - 1)));
    std::string o(v);
    std::size_t k = 0;
    for (char& c : o) if (is_digit(c)) c = digits[k++];
    return o;
}

// IBANs keep the country, redraw the BBAN by character class and recompute
// the check digits; spacing is kept.
inline std::string fake_iban(std::string_view v, splitmix64& r) {
    std::string compact;
    for (char c : v) if (c != ' ') compact += c;
    for (std::size_t k = 4; k < compact.size(); ++k)
        compact[k] = is_digit(compact[k]) ? random_digit(r) : static_cast<char>('A' + r.below(26));
    const int check = iban_check_digits(std::string_view(compact).substr(0, 2), std::string_view(compact).substr(4));
    compact[2] = static_cast<char>('0' + check / 10);
    compact[3] = static_cast<char>('0' + check % 10);
    std::string o(v);
    std::size_t k = 0;
    for (char& c : o) if (c != ' ') c = compact[k++];
    return o;
}

inline std::string fake_ipv4(splitmix64& r) {
    return std::to_string(r.between(11, 223)) + "." + std::to_string(r.between(0, 255)) + "." +
           std::to_string(r.between(0, 255)) + "." + std::to_string(r.between(1, 254));
}

// Every hex digit redrawn with the same case; "::" and group lengths kept.
inline std::string fake_ipv6(std::string_view v, splitmix64& r) {
    static constexpr char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    std::string o(v);
    for (char& c : o) {
        if (is_digit(c) || (c >= 'a' && c <= 'f')) c = lower[r.below(16)];
        else if (c >= 'A' && c <= 'F') c = upper[r.below(16)];
    }
    return o;
}

// Letters and digits redrawn by class; scheme, "www.", the top-level domain
// and all punctuation kept, so the result is still a URL of the same shape.
inline std::string fake_url(std::string_view v, splitmix64& r) {
    std::string o(v);
    std::size_t i = 0;
    for (std::string_view p : {"https://", "http://", "ftp://", "HTTPS://", "HTTP://"})
        if (v.substr(0, p.size()) == p) { i = p.size(); break; }
    if (v.substr(i, 4) == "www." || v.substr(i, 4) == "WWW.") i += 4;
    std::size_t host_end = i;
    while (host_end < o.size() && (is_alnum(o[host_end]) || o[host_end] == '-' || o[host_end] == '.')) ++host_end;
    std::size_t tld = host_end;
    while (tld > i && o[tld - 1] != '.') --tld;
    for (std::size_t k = i; k < o.size(); ++k) {
        if (k >= tld && k < host_end) continue;  // keep the top-level domain
        char& c = o[k];
        if (is_digit(c)) c = random_digit(r);
        else if (is_lower(c)) c = static_cast<char>('a' + r.below(26));
        else if (is_upper(c)) c = static_cast<char>('A' + r.below(26));
    }
    return o;
}

// Numbers and month names redrawn in place: 4-digit groups become years
// 1950-2020, numbers <= 12 (month or day) stay <= 12, larger days 13-28.
inline std::string fake_date(std::string_view v, splitmix64& r) {
    static constexpr std::string_view months[] = {"January", "February", "March",     "April",   "May",      "June",
                                                  "July",    "August",   "September", "October", "November", "December"};
    std::string o;
    std::size_t i = 0;
    int last_number = 0;
    while (i < v.size()) {
        if (is_digit(v[i])) {
            std::size_t e = i;
            int val = 0;
            while (e < v.size() && is_digit(v[e])) val = val * 10 + (v[e++] - '0');
            const std::size_t w = e - i;
            int nv;
            if (w == 4) nv = r.between(1950, 2020);
            else if (w == 2 && v.size() <= 8 && e == v.size() && i > 0 && v[i - 1] == '/') nv = r.between(0, 99);  // M/D/YY year
            else nv = val <= 12 ? r.between(1, 12) : r.between(13, 28);
            std::string num = std::to_string(nv);
            while (num.size() < w) num.insert(num.begin(), '0');
            o += num;
            last_number = nv;
            i = e;
            // ordinal suffix follows the new number
            if (i + 1 < v.size() && is_lower(v[i]) && is_lower(v[i + 1]) && (i + 2 == v.size() || !is_alpha(v[i + 2]))) {
                const int m10 = last_number % 10, m100 = last_number % 100;
                o += (m100 >= 11 && m100 <= 13) ? "th" : m10 == 1 ? "st" : m10 == 2 ? "nd" : m10 == 3 ? "rd" : "th";
                i += 2;
            }
        } else if (is_upper(v[i])) {
            std::size_t e = i;
            while (e < v.size() && is_alpha(v[e])) ++e;
            const std::string_view word = v.substr(i, e - i);
            bool is_month = false;
            for (auto m : months) is_month = is_month || m == word || (word.size() >= 3 && m.substr(0, word.size()) == word);
            if (is_month) {
                const std::string_view m = months[r.below(12)];
                o += word.size() >= 3 && word.size() < 5 && word != "June" && word != "July" ? m.substr(0, 3) : m;
            } else {
                o += word;
            }
            i = e;
        } else {
            o += v[i++];
        }
    }
    return o;
}

// Addresses keep their shape: digits are redrawn (house numbers without a
// leading 0, postcodes digit for digit), the street's name words are drawn
// from a list of common ones and the city's from the locations; street words
// ("Street", "rue", "ul."), particles, state codes and UK postcode letters stay.
inline std::string fake_address(std::string_view v, const gazetteers& lists, splitmix64& r) {
    static constexpr std::string_view street_names[] = {"Oak", "Maple", "Cedar", "Elm", "Pine", "Birch", "Willow",
                                                        "Chestnut", "Walnut", "Linden", "Hawthorn", "Aspen"};
    std::string o;
    bool after_comma = false, in_city = false;  // in_city: this comma part's city was drawn
    bool postcode = false;                       // the last token was a postcode
    std::size_t i = 0;
    while (i < v.size()) {
        const char c = v[i];
        if (is_digit(c)) {
            std::size_t e = i;
            while (e < v.size() && (is_digit(v[e]) || (v[e] == '-' && e + 1 < v.size() && is_digit(v[e + 1])))) ++e;
            for (std::size_t k = i; k < e; ++k) o += v[k] == '-' ? '-' : random_digit(r, k == i ? '1' : '0');
            // A city follows a postcode ("10115 Berlin", "00-950 Warszawa").
            postcode = e - i >= 5;
            i = e;
            continue;
        }
        if (!is_upper(c)) {
            if (c == ',') after_comma = true, in_city = false;
            if (c != ' ') postcode = false;
            o += c;
            ++i;
            continue;
        }
        std::size_t e = i;
        while (e < v.size() && !(v[e] == ' ' || v[e] == ',' || v[e] == '.')) ++e;
        const std::string_view w = v.substr(i, e - i);
        const bool code = w.size() <= 4 && std::all_of(w.begin(), w.end(), [](char x) { return is_upper(x) || is_digit(x); });
        const bool keep = code || address::english_street_word(w) || address::french_street_word(w) ||
                          address::german_street_word(w, false) || address::unit_word(w) || address::one_of(w, {"Ul", "Al", "Pl", "Os", "Ulica", "Aleja"});
        const bool city = after_comma || postcode;
        postcode = false;
        if (keep) {
            o += w;
        } else if (city && in_city) {
            if (!o.empty() && o.back() == ' ') o.pop_back();  // "New York" became one drawn city
        } else if (city) {
            o += pick_ascii(lists.locations, r);
            in_city = true;
        } else {
            const std::string_view name = street_names[r.below(12)];
            o += name;
            if (address::german_street_word(w, true)) o += "weg";  // "Hauptstraße" -> "Oakweg"
        }
        i = e;
    }
    return o;
}

}  // namespace detail

// A fake for `value` of `type`, drawn from the stream keyed by `key`.
inline std::string format_preserving_fake(entity_type type, std::string_view value, std::uint64_t key,
                                          const gazetteers& lists) {
    splitmix64 r{key};
    switch (type) {
        case entity_type::email: {
            std::string local = detail::lower_ascii(detail::pick_ascii(lists.first_names, r)) + "." +
                                detail::lower_ascii(detail::pick_ascii(lists.last_names, r));
            if (r.below(2)) local += std::to_string(r.between(10, 99));
            static constexpr std::string_view domains[] = {"example.com", "example.org", "example.net"};
            return local + "@" + std::string(domains[r.below(3)]);
        }
        case entity_type::phone: return detail::fake_phone(value, r);
        case entity_type::us_ssn: return detail::fake_ssn(value, r);
        case entity_type::credit_card: return detail::fake_card(value, r);
        case entity_type::iban: return detail::fake_iban(value, r);
        case entity_type::ipv4: return detail::fake_ipv4(r);
        case entity_type::ipv6: return detail::fake_ipv6(value, r);
        case entity_type::url: return detail::fake_url(value, r);
        case entity_type::date: return detail::fake_date(value, r);
        case entity_type::person: {
            std::size_t words = 1;
            for (char c : value) words += c == ' ';
            std::string o(detail::pick_ascii(lists.first_names, r));
            for (std::size_t k = 1; k < words; ++k) {
                o += ' ';
                o += detail::pick_ascii(lists.last_names, r);
            }
            return o;
        }
        case entity_type::location: return std::string(detail::pick_ascii(lists.locations, r, false));
        case entity_type::address: return detail::fake_address(value, lists, r);
        case entity_type::placeholder: return std::string(value);
    }
    return std::string(value);
}

}  // namespace lethe::privacy
