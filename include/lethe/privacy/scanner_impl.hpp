// lethe/privacy/scanner_impl.hpp - the recognisers behind scanner::scan.
// Included by scanner.hpp; not meant to be included alone.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "entity.hpp"
#include "gazetteer.hpp"
#include "validators.hpp"

namespace lethe::privacy {
namespace detail {

// ---------------------------------------------------------------- bytes
enum : unsigned char {
    cls_space = 1,
    cls_digit = 2,
    cls_upper = 4,
    cls_lower = 8,
    cls_high = 16,          // >= 0x80: part of a multi-byte (or invalid) sequence
    cls_email_local = 32,   // RFC 5322 dot-atom characters we accept
    cls_domain = 64,        // letters, digits, '-', '.'
    cls_special = 128,      // '@', ':', '[', '+', '(': bytes some recogniser starts from or needs
};

constexpr std::array<unsigned char, 256> make_class_table() {
    std::array<unsigned char, 256> t{};
    for (int c = 0; c < 256; ++c) {
        unsigned char v = 0;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') v |= cls_space;
        if (c >= '0' && c <= '9') v |= cls_digit | cls_email_local | cls_domain;
        if (c >= 'A' && c <= 'Z') v |= cls_upper | cls_email_local | cls_domain;
        if (c >= 'a' && c <= 'z') v |= cls_lower | cls_email_local | cls_domain;
        if (c >= 0x80) v |= cls_high;
        if (c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'') v |= cls_email_local;
        if (c == '-' || c == '.') v |= cls_domain;
        if (c == '@' || c == ':' || c == '[' || c == '+' || c == '(') v |= cls_special;
        t[static_cast<std::size_t>(c)] = v;
    }
    return t;
}
inline constexpr std::array<unsigned char, 256> char_class = make_class_table();

inline unsigned char cls(char c) noexcept { return char_class[static_cast<unsigned char>(c)]; }
inline bool is_space_byte(char c) noexcept { return cls(c) & cls_space; }
inline bool is_word_byte(char c) noexcept { return cls(c) & (cls_digit | cls_upper | cls_lower | cls_high); }

// End of the word starting at i: letters, digits, bytes >= 0x80, and inner
// apostrophes or hyphens between word bytes ("O'Brien", "Jean-Luc").
inline std::size_t word_end(std::string_view s, std::size_t i) noexcept {
    const std::size_t n = s.size(), b = i;
    while (i < n) {
        if (is_word_byte(s[i])) { ++i; continue; }
        if ((s[i] == '\'' || s[i] == '-') && i > b && i + 1 < n && is_word_byte(s[i + 1])) { ++i; continue; }
        break;
    }
    return i;
}

// Cuts `end` back so [begin, end) does not finish inside a UTF-8 sequence.
inline std::size_t utf8_safe_end(std::string_view s, std::size_t begin, std::size_t end) noexcept {
    std::size_t lead = end;
    int cont = 0;
    while (lead > begin && cont < 3 && (static_cast<unsigned char>(s[lead - 1]) & 0xC0) == 0x80) { --lead; ++cont; }
    if (lead == begin) return end;
    const unsigned char c = static_cast<unsigned char>(s[lead - 1]);
    if (c < 0x80) return end;  // ends in ASCII (or stray continuation bytes, left as they are)
    const int need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    return cont >= need ? end : lead - 1;
}

inline bool ieq_prefix(std::string_view s, std::size_t pos, std::string_view p) noexcept {
    if (s.size() - pos < p.size()) return false;
    for (std::size_t k = 0; k < p.size(); ++k) {
        char c = s[pos + k];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != p[k]) return false;
    }
    return true;
}

// ---------------------------------------------------------------- placeholders
// "[NAME-1]": '[' + [A-Z_]{1,32} + '-' + digits{1,6} + ']'.
inline std::size_t match_placeholder(std::string_view s, std::size_t pos) noexcept {
    const std::size_t n = s.size();
    std::size_t i = pos + 1;
    while (i < n && i - pos <= 32 && (is_upper(s[i]) || s[i] == '_')) ++i;
    if (i == pos + 1 || i >= n || s[i] != '-') return 0;
    const std::size_t d = ++i;
    while (i < n && i - d < 6 && is_digit(s[i])) ++i;
    if (i == d || i >= n || s[i] != ']') return 0;
    return i + 1;
}

// ---------------------------------------------------------------- e-mail
// Host names: labels of letters, digits and inner '-', 1-63 bytes, at least
// two labels, an alphabetic top-level label of 2+ letters.
inline bool domain_valid(std::string_view d) noexcept {
    if (d.empty() || d.size() > 253) return false;
    std::size_t labels = 0, start = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i < d.size() && d[i] != '.') continue;
        const std::string_view label = d.substr(start, i - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        ++labels;
        if (i == d.size()) {
            if (label.size() < 2) return false;
            for (char c : label) if (!is_alpha(c)) return false;
        }
        start = i + 1;
    }
    return labels >= 2;
}

// Every address in the token [b, e): for each '@', the local part grows left
// (at most 64 bytes, never past the previous address) and the domain right
// (at most 253 bytes), so the work is linear in the token.
template <class Emit>
void extract_emails(std::string_view s, std::size_t b, std::size_t e, Emit&& emit) {
    std::size_t prev_end = b;
    for (std::size_t a = b; a < e; ++a) {
        if (s[a] != '@') continue;
        std::size_t l = a;
        while (l > prev_end && a - l < 64 && (cls(s[l - 1]) & cls_email_local)) --l;
        while (l < a && (s[l] == '.' || s[l] == '\'' || s[l] == '-')) ++l;
        if (l == a || s[a - 1] == '.') continue;
        std::size_t r = a + 1;
        while (r < e && r - a <= 254 && (cls(s[r]) & cls_domain)) ++r;
        while (r > a + 1 && (s[r - 1] == '.' || s[r - 1] == '-')) --r;
        if (!domain_valid(s.substr(a + 1, r - a - 1))) continue;
        emit(l, r);
        prev_end = r;
        a = r - 1;
    }
}

// ---------------------------------------------------------------- URL
// scheme://host[:port][/path...] or www.host...; the path runs to the next
// whitespace or <>"` and trailing sentence punctuation is given back.
inline std::size_t match_url(std::string_view s, std::size_t pos) noexcept {
    const std::size_t n = s.size();
    std::size_t i = pos;
    if (ieq_prefix(s, pos, "https://")) i += 8;
    else if (ieq_prefix(s, pos, "http://")) i += 7;
    else if (ieq_prefix(s, pos, "ftp://")) i += 6;
    else if (ieq_prefix(s, pos, "www.")) i += 0;
    else return 0;
    const std::size_t host_b = i;
    while (i < n && (cls(s[i]) & cls_domain)) ++i;
    std::size_t host_e = i;
    while (host_e > host_b && s[host_e - 1] == '.') --host_e;
    const std::string_view host = s.substr(host_b, host_e - host_b);
    if (!(host == "localhost" || domain_valid(host) || ipv4_valid(host))) return 0;
    i = host_e;
    if (i < n && s[i] == ':' && i + 1 < n && is_digit(s[i + 1])) {
        ++i;
        const std::size_t pb = i;
        while (i < n && is_digit(s[i]) && i - pb < 5) ++i;
    }
    if (i < n && (s[i] == '/' || s[i] == '?' || s[i] == '#')) {
        int open_paren = 0;
        while (i < n) {
            const char c = s[i];
            if (is_space_byte(c) || c == '<' || c == '>' || c == '"' || c == '`' ||
                static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
                break;
            if (c == '(') ++open_paren;
            if (c == ')') { if (open_paren == 0) break; --open_paren; }
            ++i;
        }
        while (i > host_e) {
            const char c = s[i - 1];
            if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\'' || c == ']') --i;
            else break;
        }
    }
    return utf8_safe_end(s, pos, i);
}

// ---------------------------------------------------------------- IPv6
inline std::size_t match_ipv6(std::string_view s, std::size_t pos) noexcept {
    if (pos > 0 && (is_word_byte(s[pos - 1]) || s[pos - 1] == ':' || s[pos - 1] == '.')) return 0;
    const std::size_t len = parse_ipv6_prefix(s.substr(pos, 45));
    if (len < 3) return 0;
    const std::size_t e = pos + len;
    if (e < s.size() && (is_word_byte(s[e]) || s[e] == ':' || (s[e] == '.' && e + 1 < s.size() && is_digit(s[e + 1]))))
        return 0;
    // Needs two hex groups ("fe80::1"), or is the loopback "::1": rejects "ab::", "a::".
    int groups = 0;
    bool in_group = false;
    for (std::size_t k = pos; k < e; ++k) {
        const bool h = hex_value(s[k]) >= 0;
        if (h && !in_group) ++groups;
        in_group = h;
    }
    if (groups < 2 && s.substr(pos, len) != "::1") return 0;
    return e;
}

// ---------------------------------------------------------------- digit groups
// Up to 8 groups of digits joined by one separator (' ', '-', '.', '/'), an
// optional leading '+', and groups optionally in parentheses: the common
// skeleton of phone numbers, card numbers, SSNs, IPv4 addresses and numeric dates.
struct digit_groups {
    static constexpr int max_groups = 8;
    int count = 0;
    bool plus = false;
    bool any_paren = false;
    // Only entries [0, count) are meaningful; left uninitialised on purpose
    // (this struct is filled for every number in the text).
    std::size_t gb[max_groups], ge[max_groups];  // the digits of group k
    std::size_t end[max_groups];                 // group k's end, ')' included
    char sep[max_groups];                        // separator before group k (k >= 1); ')' for "(555)123"
    std::size_t skip = 0;                            // where scanning resumes when nothing matches
};

inline void read_digit_groups(std::string_view s, std::size_t pos, digit_groups& g) noexcept {
    const std::size_t n = s.size();
    std::size_t i = pos;
    int total = 0;
    char next_sep = 0;
    g.count = 0;
    g.plus = g.any_paren = false;
    g.skip = 0;
    if (s[i] == '+') { g.plus = true; ++i; }
    while (g.count < digit_groups::max_groups) {
        bool paren = false;
        if (i < n && s[i] == '(') { paren = true; ++i; }
        const std::size_t b = i;
        while (i < n && is_digit(s[i]) && i - b <= 19) ++i;
        if (i == b) break;
        if (i - b > 19) {  // a run of 20+ digits: no identifier is that long
            if (g.count == 0) {
                while (i < n && is_digit(s[i])) ++i;  // a single long run: skip it whole
                g.skip = i;
            }
            break;
        }
        const std::size_t e = i;
        if (paren) {
            if (i < n && s[i] == ')') ++i;
            else break;
            g.any_paren = true;
        }
        const int k = g.count++;
        g.gb[k] = b;
        g.ge[k] = e;
        g.end[k] = i;
        g.sep[k] = next_sep;
        total += static_cast<int>(e - b);
        if (total > 20 || i >= n) break;
        const char c = s[i];
        if ((c == ' ' || c == '-' || c == '.' || c == '/') && i + 1 < n &&
            (is_digit(s[i + 1]) || (s[i + 1] == '(' && i + 2 < n && is_digit(s[i + 2])))) {
            next_sep = c;
            ++i;
        } else if (paren && is_digit(c)) {
            next_sep = ')';
        } else {
            break;
        }
    }
    if (g.skip == 0) g.skip = g.count > 0 ? g.end[0] : pos + 1;
}

struct candidate {
    std::size_t end = 0;
    entity_type type = entity_type::phone;
    float confidence = 0.0f;
};

// May an entity end at e? Not inside a word, and not before "-5"/".5"/"/5".
inline bool number_boundary_ok(std::string_view s, std::size_t e) noexcept {
    if (e >= s.size()) return true;
    const char c = s[e];
    if (is_word_byte(c) || c == '@') return false;
    if ((c == '-' || c == '.' || c == '/' || c == ':') && e + 1 < s.size() && is_digit(s[e + 1])) return false;
    return true;
}

// A phone extension right after the number ("555-2671x123", "x" and 1-6
// digits): returns its end, or 0.
inline std::size_t phone_extension(std::string_view s, std::size_t e) noexcept {
    if (!(e + 1 < s.size() && s[e] == 'x' && is_digit(s[e + 1]))) return 0;
    std::size_t i = e + 1;
    while (i < s.size() && is_digit(s[i]) && i - e <= 6) ++i;
    return i - e <= 6 && number_boundary_ok(s, i) ? i : 0;
}

// The longest phone/SSN/card/IPv4/date reading of the first k groups.
inline candidate classify_digit_groups(std::string_view s, const digit_groups& g) noexcept {
    for (int k = g.count; k >= 1; --k) {
        std::size_t end = g.end[k - 1];
        const std::size_t ext = phone_extension(s, end);  // only a phone may end in one
        const bool boundary = number_boundary_ok(s, end);
        if (!boundary && !ext) continue;
        char digits[24];
        int nd = 0;
        int len[digit_groups::max_groups];
        bool same_sep = true, any_paren = false;
        for (int j = 0; j < k; ++j) {
            len[j] = static_cast<int>(g.ge[j] - g.gb[j]);
            for (std::size_t q = g.gb[j]; q < g.ge[j] && nd < 23; ++q) digits[nd++] = s[q];
            if (j >= 2 && g.sep[j] != g.sep[1]) same_sep = false;
            if (g.end[j] != g.ge[j]) any_paren = true;
            if (j >= 1 && g.sep[j] == ')') any_paren = true;
        }
        const std::string_view d(digits, static_cast<std::size_t>(nd));
        const char sep1 = k >= 2 ? g.sep[1] : 0;
        // Before an extension ("555-2671x123") only the E.164 and North American
        // phone readings apply: `plain` is false there.
        const bool plain = !g.plus && !any_paren && boundary;
        const std::size_t phone_end = ext ? ext : end;

        // IPv4: four dotted octets.
        if (plain && k == 4 && same_sep && sep1 == '.' && ipv4_valid(s.substr(g.gb[0], end - g.gb[0])))
            return {end, entity_type::ipv4, 0.95f};
        // Numeric dates: Y-M-D, D/M/Y or M/D/Y (4-digit year), M/D/YY with '/'.
        if (plain && k == 3 && same_sep && (sep1 == '/' || sep1 == '-' || sep1 == '.')) {
            auto num = [&](int j) {
                int v = 0;
                // Groups run to 19 digits; dates need at most 4, so saturate
                // instead of overflowing int on "1234567812-4-4567".
                for (std::size_t q = g.gb[j]; q < g.ge[j]; ++q) v = v < 100000 ? v * 10 + (s[q] - '0') : 100000;
                return v;
            };
            const int a = num(0), b = num(1), c = num(2);
            if (len[0] == 4 && len[1] <= 2 && len[2] <= 2 && a >= 1000 && a <= 2999 && calendar_date_valid(a, b, c))
                return {end, entity_type::date, 0.9f};
            if (len[0] <= 2 && len[1] <= 2 && len[2] == 4 && c >= 1000 && c <= 2999 &&
                (calendar_date_valid(c, b, a) || calendar_date_valid(c, a, b)))
                return {end, entity_type::date, 0.9f};
            if (sep1 == '/' && len[0] <= 2 && len[1] <= 2 && len[2] == 2 &&
                (calendar_date_valid(0, a, b) || calendar_date_valid(0, b, a)))
                return {end, entity_type::date, 0.75f};
        }
        // US SSN: AAA-GG-SSSS (or with spaces), issued ranges only.
        if (plain && k == 3 && same_sep && (sep1 == '-' || sep1 == ' ') && len[0] == 3 && len[1] == 2 && len[2] == 4 &&
            us_ssn_valid(d))
            return {end, entity_type::us_ssn, sep1 == '-' ? 0.95f : 0.8f};
        // Payment cards: 13-19 digits, one run or 4-4-4-4(-3) / 4-6-5 / 4-6-4 groups, known issuer, Luhn.
        if (plain && nd >= 13 && nd <= 19 && (k == 1 || (same_sep && (sep1 == ' ' || sep1 == '-')))) {
            bool layout = k == 1;
            if (!layout) {
                layout = true;
                for (int j = 0; j + 1 < k; ++j) layout = layout && len[j] == 4;
                layout = layout && len[k - 1] >= 1 && len[k - 1] <= 4;
                if (k == 3 && len[0] == 4 && len[1] == 6 && (len[2] == 5 || len[2] == 4)) layout = true;
            }
            if (layout && credit_card_prefix_valid(d) && luhn_valid(d)) return {end, entity_type::credit_card, 0.95f};
        }
        // Phones. E.164 with '+': 8-15 digits, country code not starting with 0.
        if (g.plus && nd >= 8 && nd <= 15 && d[0] != '0') return {phone_end, entity_type::phone, 0.95f};
        if (!g.plus) {
            // North American: [1 or 001] NXX NXX XXXX.
            const int pre = (k == 4 && len[0] == 1 && d[0] == '1') ? 1 : (k == 4 && len[0] == 3 && d.substr(0, 3) == "001") ? 3 : 0;
            const int off = pre ? 1 : 0;
            if (k - off == 3 && len[off] == 3 && len[off + 1] == 3 && len[off + 2] == 4 && nd == 10 + pre) {
                const char area = d[static_cast<std::size_t>(pre)], exch = d[static_cast<std::size_t>(pre + 3)];
                bool seps_ok = true;
                for (int j = 1; j < k; ++j) seps_ok = seps_ok && (g.sep[j] == ' ' || g.sep[j] == '-' || g.sep[j] == '.' || g.sep[j] == ')');
                if (seps_ok && area >= '2' && exch >= '2') return {phone_end, entity_type::phone, 0.9f};
            }
            if (!boundary) continue;
            // European national numbers: trunk 0, 9-11 digits, 2+ groups of 2+ digits;
            // international prefix 00 with 10-15 digits.
            if (!any_paren && k >= 2 && d[0] == '0' && len[0] >= 2 && len[0] <= 5) {
                bool groups_ok = true;
                for (int j = 0; j < k; ++j) groups_ok = groups_ok && len[j] >= 2;
                for (int j = 1; j < k; ++j) groups_ok = groups_ok && g.sep[j] != ')';
                const bool intl = d[1] == '0';
                if (groups_ok && ((!intl && nd >= 9 && nd <= 11) || (intl && nd >= 10 && nd <= 15)))
                    return {end, entity_type::phone, 0.8f};
            }
        }
    }
    return {};
}

// ---------------------------------------------------------------- written dates
// Month name (full, 3-letter, or "Sept"), capitalised, optional '.' after an abbreviation.
inline int match_month(std::string_view s, std::size_t pos, std::size_t& end) noexcept {
    static constexpr std::string_view full[] = {"January", "February", "March",     "April",   "May",      "June",
                                                "July",    "August",   "September", "October", "November", "December"};
    if (pos >= s.size()) return 0;  // "5 " at the very end: no month follows
    switch (s[pos]) {  // month initials
        case 'J': case 'F': case 'M': case 'A': case 'S': case 'O': case 'N': case 'D': break;
        default: return 0;
    }
    const std::size_t e = word_end(s, pos);
    const std::string_view w = s.substr(pos, e - pos);
    if (w.size() < 3 || w.size() > 9) return 0;
    for (int m = 0; m < 12; ++m) {
        const std::string_view f = full[m];
        if (w == f || (w.size() == 3 && f.substr(0, 3) == w) || (m == 8 && w == "Sept")) {
            end = e;
            if (w.size() < f.size() && e < s.size() && s[e] == '.') end = e + 1;
            return m + 1;
        }
    }
    return 0;
}

// Reads 1-2 digits (a day) with an optional st/nd/rd/th suffix.
inline std::size_t read_day(std::string_view s, std::size_t i, int& day) noexcept {
    const std::size_t n = s.size(), b = i;
    day = 0;
    while (i < n && is_digit(s[i]) && i - b < 2) day = day * 10 + (s[i++] - '0');
    if (i == b || (i < n && is_digit(s[i]))) return 0;
    if (i + 1 < n && (ieq_prefix(s, i, "st") || ieq_prefix(s, i, "nd") || ieq_prefix(s, i, "rd") || ieq_prefix(s, i, "th")))
        i += 2;
    if (i < n && is_word_byte(s[i])) return 0;
    return i;
}

// Reads " YYYY" (1000-2999) after optional ','.
inline std::size_t read_year(std::string_view s, std::size_t i, int& year) noexcept {
    const std::size_t n = s.size();
    if (i < n && s[i] == ',') ++i;
    if (i >= n || s[i] != ' ') return 0;
    ++i;
    const std::size_t b = i;
    year = 0;
    while (i < n && is_digit(s[i]) && i - b < 4) year = year * 10 + (s[i++] - '0');
    if (i - b != 4 || year < 1000 || year > 2999 || !number_boundary_ok(s, i)) return 0;
    return i;
}

// "March 5", "March 5th, 2021", "Mar. 5 2021", "March 2021".
inline candidate match_date_month_first(std::string_view s, std::size_t pos) noexcept {
    std::size_t i;
    const int month = match_month(s, pos, i);
    if (month == 0 || i >= s.size() || s[i] != ' ') return {};
    int day = 0, year = 0;
    const std::size_t after_day = read_day(s, i + 1, day);
    if (after_day) {
        const std::size_t after_year = read_year(s, after_day, year);
        if (!calendar_date_valid(after_year ? year : 0, month, day)) return {};
        return {after_year ? after_year : after_day, entity_type::date, after_year ? 0.95f : 0.85f};
    }
    const std::size_t after_year = read_year(s, i, year);
    if (after_year) return {after_year, entity_type::date, 0.8f};
    return {};
}

// "5 March 2021", "5th of March, 2021", "21 Jan".
inline candidate match_date_day_first(std::string_view s, std::size_t pos) noexcept {
    int day = 0;
    std::size_t i = read_day(s, pos, day);
    if (!i || i >= s.size() || s[i] != ' ') return {};
    ++i;
    if (ieq_prefix(s, i, "of ")) i += 3;
    std::size_t e;
    const int month = match_month(s, i, e);
    if (month == 0) return {};
    int year = 0;
    const std::size_t after_year = read_year(s, e, year);
    if (!calendar_date_valid(after_year ? year : 0, month, day)) return {};
    if (!after_year && !number_boundary_ok(s, e)) return {};
    return {after_year ? after_year : e, entity_type::date, after_year ? 0.95f : 0.85f};
}

// ---------------------------------------------------------------- IBAN
// Compact ("DE89370400440532013000") or printed in groups of four. `shaped`
// is set to the end of an IBAN-shaped run even when its checksum fails, so
// the caller can skip it whole (its digit groups are not phone numbers).
inline std::size_t match_iban(std::string_view s, std::size_t pos, std::size_t& shaped) noexcept {
    shaped = 0;
    const std::size_t n = s.size();
    if (pos + 4 > n || !is_upper(s[pos]) || !is_upper(s[pos + 1]) || !is_digit(s[pos + 2]) || !is_digit(s[pos + 3]))
        return 0;
    const int length = iban_length_for_country(s[pos], s[pos + 1]);
    if (length == 0) return 0;
    char buf[34];
    int m = 0;
    std::size_t i = pos;
    while (m < length) {
        if (i >= n) return 0;
        const char c = s[i];
        if (is_digit(c) || is_upper(c)) { buf[m++] = c; ++i; continue; }
        if (c == ' ' && m % 4 == 0 && i + 1 < n && (is_digit(s[i + 1]) || is_upper(s[i + 1]))) { ++i; continue; }
        return 0;
    }
    if (i < n && is_word_byte(s[i])) return 0;
    shaped = i;
    return iban_checksum_valid(std::string_view(buf, static_cast<std::size_t>(m))) ? i : 0;
}

// ---------------------------------------------------------------- names
inline bool is_stopword(std::string_view w) {
    static const std::unordered_set<std::string_view> words = {
        "The", "A", "An", "This", "That", "These", "Those", "My", "Our", "Your", "His", "Her", "Their", "Its", "It",
        "I", "We", "You", "They", "He", "She", "There", "Here", "What", "When", "Where", "Why", "How", "Who",
        "Which", "If", "But", "And", "Or", "So", "Yes", "No", "Not", "Please", "Thanks", "Thank", "Hello", "Hi",
        "Dear", "Sure", "Of", "In", "On", "At", "To", "For", "With", "From", "By", "As", "Is", "Are", "Was",
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
        "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
        "Mr", "Mrs", "Ms", "Dr", "Prof", "Street", "Avenue", "Road", "Inc", "Ltd", "Company", "University",
        "OK", "Ok", "Okay", "Also", "Then", "Now", "Let", "Can", "Could", "Would", "Should", "Do", "Does",
    };
    return words.count(w) > 0;
}

enum class name_cue { none, person, location };

// The one or two words before `pos` (bounded look-back) against the cue
// phrases: titles and "my name is" point to a person, "live in" to a place.
inline name_cue cue_before(std::string_view s, std::size_t pos) noexcept {
    if (pos < 2 || s[pos - 1] != ' ') return name_cue::none;
    auto prev_word = [&](std::size_t end, std::size_t& begin) {
        begin = end;
        while (begin > 0 && end - begin < 12 && !is_space_byte(s[begin - 1])) --begin;
        return s.substr(begin, end - begin);
    };
    std::size_t b1, b2;
    const std::string_view w1 = prev_word(pos - 1, b1);
    // Dispatch on length first: most previous words match no cue at all.
    switch (w1.size()) {
        case 2:
            if (w1 == "Mr" || w1 == "Ms" || w1 == "Dr") return name_cue::person;
            if (w1 != "is" && w1 != "am" && w1 != "in" && w1 != "to") return name_cue::none;
            break;
        case 3:
            return (w1 == "Mr." || w1 == "Ms." || w1 == "Dr." || w1 == "Mrs" || w1 == "I'm") ? name_cue::person : name_cue::none;
        case 4:
            return (w1 == "Mrs." || w1 == "Dear") ? name_cue::person : name_cue::none;
        case 5:
            if (w1 == "Prof." || w1 == "named" || w1 == "name:" || w1 == "Name:") return name_cue::person;
            return (w1 == "city:" || w1 == "City:") ? name_cue::location : name_cue::none;
        case 6:
            return w1 == "called" ? name_cue::person : name_cue::none;
        case 8:
            if (w1 == "Regards,") return name_cue::person;
            return (w1 == "Address:" || w1 == "address:") ? name_cue::location : name_cue::none;
        case 10:
            return w1 == "Sincerely," ? name_cue::person : name_cue::none;
        default:
            return name_cue::none;
    }
    // "is", "am", "in", "to": the word before decides.
    std::string_view w2;
    if (b1 >= 2 && s[b1 - 1] == ' ') w2 = prev_word(b1 - 1, b2);
    if (w1 == "is" && (w2 == "name" || w2 == "Name")) return name_cue::person;
    if (w1 == "am" && w2 == "I") return name_cue::person;
    if (w1 == "in" && (w2 == "live" || w2 == "lives" || w2 == "living" || w2 == "born" || w2 == "based" ||
                       w2 == "located" || w2 == "lived" || w2 == "resides" || w2 == "reside"))
        return name_cue::location;
    if (w1 == "to" && (w2 == "moved" || w2 == "relocated" || w2 == "travelling" || w2 == "traveling")) return name_cue::location;
    return name_cue::none;
}

// PERSON or LOCATION starting at a capitalised word; `end` is 0 on no match.
// How a word's first letter reads for names: upper case (ASCII, Latin-1,
// Latin Extended-A, Greek, Cyrillic, Armenian), caseless (Han, kana, Hangul,
// Arabic, Hebrew, Indic, Thai, Georgian, Ethiopic: a name there has no
// capital to show it), or neither. Well-formed UTF-8 is assumed (scan_well_formed).
enum class letter_case : unsigned char { other, upper, caseless };

inline letter_case letter_case_at(std::string_view s, std::size_t i) noexcept {
    const auto c0 = static_cast<unsigned char>(s[i]);
    if (c0 < 0x80) return is_upper(s[i]) ? letter_case::upper : letter_case::other;
    const int len = c0 >= 0xF0 ? 4 : c0 >= 0xE0 ? 3 : c0 >= 0xC0 ? 2 : 0;
    if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) return letter_case::other;
    char32_t cp = c0 & (0x7Fu >> len);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3Fu);
    auto in = [cp](char32_t a, char32_t b) { return cp >= a && cp <= b; };
    const bool upper = (in(0xC0, 0xDE) && cp != 0xD7) || (in(0x100, 0x137) && cp % 2 == 0) ||
                       (in(0x139, 0x148) && cp % 2 == 1) || (in(0x14A, 0x177) && cp % 2 == 0) || cp == 0x178 ||
                       (in(0x179, 0x17E) && cp % 2 == 1) || cp == 0x386 || in(0x388, 0x38F) ||
                       (in(0x391, 0x3AB) && cp != 0x3A2) || in(0x400, 0x42F) || in(0x531, 0x556);
    if (upper) return letter_case::upper;
    const bool caseless = in(0x5D0, 0x5EA) || in(0x620, 0x64A) || in(0x671, 0x6D3) || in(0x904, 0x939) ||
                          in(0x985, 0x9B9) || in(0xB85, 0xBB9) || in(0xE01, 0xE2E) || in(0x10D0, 0x10FA) ||
                          in(0x1200, 0x135A) || in(0x3041, 0x3096) || in(0x30A1, 0x30FA) || in(0x3400, 0x4DBF) ||
                          in(0x4E00, 0x9FFF) || in(0xAC00, 0xD7A3);
    return caseless ? letter_case::caseless : letter_case::other;
}

inline bool place_prefix(std::string_view w) noexcept {
    static constexpr std::string_view prefixes[] = {"North", "South", "East", "West", "New",  "Port",  "Lake",   "Saint",
                                                    "Sainte", "Mount", "Fort", "San",  "Santa", "Los",  "Las"};
    for (auto p : prefixes)
        if (w == p) return true;
    return false;
}

inline candidate match_name(std::string_view s, std::size_t pos, const gazetteers& g, bool context_names) {
    const std::size_t n = s.size();
    const std::size_t e0 = word_end(s, pos);
    if (e0 - pos > gazetteer::max_phrase_bytes) return {};
    // Up to 4 words joined by single spaces, for multi-word entries.
    std::size_t ends[4] = {e0, 0, 0, 0};
    int words = 1;
    while (words < 4 && ends[words - 1] + 1 < n && s[ends[words - 1]] == ' ' && is_word_byte(s[ends[words - 1] + 1])) {
        const std::size_t we = word_end(s, ends[words - 1] + 1);
        if (we - pos > gazetteer::max_phrase_bytes) break;
        ends[words++] = we;
    }
    std::size_t loc_end = 0;
    const std::string_view w0 = s.substr(pos, e0 - pos);
    if (g.locations.may_start_with(w0))
        for (int k = std::min<int>(words, static_cast<int>(g.locations.max_words())); k >= 1; --k)
            if (g.locations.contains(s.substr(pos, ends[k - 1] - pos))) { loc_end = ends[k - 1]; break; }
    const bool last = g.last_names.contains(w0);
    // The next word continues the name when capitalised ("Zoë Müller", "Jan Ödegaard"),
    // or, in a caseless script, when it is a listed name itself.
    auto capitalised_at = [&](int j) {
        const std::size_t b = ends[j - 1] + 1;
        const letter_case lc = letter_case_at(s, b);
        if (lc == letter_case::caseless) {
            const std::string_view w = s.substr(b, ends[j] - b);
            return g.last_names.contains(w) || g.first_names.contains(w);
        }
        return lc == letter_case::upper;
    };
    // A person's span: the name and the capitalised words that follow it
    // (surnames from the list, or any capitalised non-stopword), at most 3 words.
    auto person_end = [&]() {
        std::size_t e = e0;
        for (int j = 1; j < words && j < 3; ++j) {
            if (!capitalised_at(j)) break;
            const std::string_view w = s.substr(ends[j - 1] + 1, ends[j] - ends[j - 1] - 1);
            if (!(g.last_names.contains(w) || (!is_stopword(w) && !g.locations.contains(w)))) break;
            if (first_invalid_utf8(w) != w.size()) break;
            e = ends[j];
        }
        return e;
    };
    // A place prefix before a name is a place ("Port Elizabeth", "Saint Louis",
    // "Lake Louise", "North Chelsea"), not the person the name would make.
    if (!loc_end && words >= 2 && place_prefix(w0) && capitalised_at(1)) {
        const std::string_view w1 = s.substr(ends[0] + 1, ends[1] - ends[0] - 1);
        if (!is_stopword(w1) && (g.first_names.contains(w1) || g.last_names.contains(w1) || g.word_first_names.contains(w1)))
            loc_end = ends[1];
    }
    // A given name that is also a word ("Mark", "Roger") needs a listed surname after it.
    const bool first = g.first_names.contains(w0) ||
                       (words >= 2 && g.word_first_names.contains(w0) && capitalised_at(1) &&
                        g.last_names.contains(s.substr(ends[0] + 1, ends[1] - ends[0] - 1)));
    if (!first && !last && !loc_end && !context_names) return {};
    const name_cue cue = cue_before(s, pos);
    // A word that is both ("Paris", "Florence", "Hong" of "Hong Kong") is a place
    // unless a person cue comes before it.
    if (first && !(loc_end && cue != name_cue::person))
        return {person_end(), entity_type::person, cue == name_cue::person ? 0.95f : 0.85f};
    if (loc_end) return {loc_end, entity_type::location, cue == name_cue::location ? 0.95f : 0.85f};
    if (last && cue == name_cue::person) return {person_end(), entity_type::person, 0.9f};
    if (context_names && cue != name_cue::none && !is_stopword(w0) && first_invalid_utf8(w0) == w0.size()) {
        if (cue == name_cue::person) return {person_end(), entity_type::person, 0.6f};
        return {e0, entity_type::location, 0.6f};
    }
    return {};
}

}  // namespace detail

}  // namespace lethe::privacy

#include "address_impl.hpp"

namespace lethe::privacy {

// ---------------------------------------------------------------- the pass
inline void scanner::scan(std::string_view s, std::vector<entity_span>& out) const {
    std::size_t bad = first_invalid_utf8(s);
    if (bad == s.size()) return scan_well_formed(s, out);
    // Each well-formed run between ill-formed subparts on its own: a bad byte
    // would otherwise be a letter glued to the word beside it.
    out.clear();
    std::vector<entity_span> run;
    std::size_t start = 0, maximal = 0;
    for (;;) {
        scan_well_formed(s.substr(start, bad - start), run);
        for (auto sp : run) {
            sp.begin += start;
            sp.end += start;
            out.push_back(sp);
        }
        if (bad == s.size()) break;
        utf8_detail::sequence_at(s, bad, maximal);
        start = bad + maximal;
        bad = start + first_invalid_utf8(s.substr(start));
    }
}

inline void scanner::scan_well_formed(std::string_view s, std::vector<entity_span>& out) const {
    using namespace detail;
    out.clear();
    const std::size_t n = s.size();
    const gazetteers& g = *lists_;
    bool in_order = true;  // spans emitted in order of begin (e-mails can break it)
    const bool want_address = options_.types.contains(entity_type::address);
    auto emit = [&](std::size_t b, std::size_t e, entity_type t, float conf) {
        if (!(options_.types.contains(t) && conf >= options_.min_confidence)) return;
        if (!out.empty() && b < out.back().begin) in_order = false;
        out.push_back({b, e, t, conf});
    };
    std::size_t pos = 0, tok_end = 0;
    bool tok_colon = false, tok_plain = false;
    std::size_t email_first = 0, email_last = 0;  // this token's e-mails, as indices into `out`
    while (pos < n) {
        const char c = s[pos];
        if (is_space_byte(c)) { ++pos; continue; }
        if (pos >= tok_end) {
            // A new whitespace-delimited token: one pass ORs its byte classes;
            // only tokens with '@' or ':' get a second look for "://".
            std::size_t i = pos;
            unsigned acc = 0;
            while (i < n) {
                const unsigned k = char_class[static_cast<unsigned char>(s[i])];
                if (k & cls_space) break;
                acc |= k;
                ++i;
            }
            tok_end = i;
            tok_plain = !(acc & (cls_upper | cls_digit | cls_special));
            tok_colon = false;
            email_first = email_last = out.size();
            if (acc & cls_special) {
                bool at = false, scheme = false;
                for (std::size_t k = pos; k < tok_end; ++k) {
                    if (s[k] == '@') at = true;
                    else if (s[k] == ':') {
                        tok_colon = true;
                        if (!at && k + 2 < n && s[k + 1] == '/' && s[k + 2] == '/') scheme = true;
                    }
                }
                if (at && !scheme && options_.types.contains(entity_type::email)) {
                    extract_emails(s, pos, tok_end, [&](std::size_t b, std::size_t e) { emit(b, e, entity_type::email, 0.95f); });
                    email_last = out.size();
                }
            }
        }
        // Polish street prefixes ("ul. Marszałkowska 10") are lower-case words.
        if ((c == 'u' || c == 'a' || c == 'p' || c == 'o') && want_address && (pos == 0 || !is_word_byte(s[pos - 1]))) {
            const candidate a = address::match_street_first(s, pos, g);
            if (a.end) { emit(pos, a.end, a.type, a.confidence); pos = a.end; continue; }
        }
        // Lower-case words with no digit, capital or special byte hold nothing
        // (except "www." URLs): skip the whole token.
        if (tok_plain && is_lower(c) && c != 'w') { pos = tok_end; continue; }
        while (email_first < email_last && out[email_first].end <= pos) ++email_first;
        if (email_first < email_last && out[email_first].begin <= pos) { pos = out[email_first].end; continue; }

        // Recognisers by first byte. Each returns where scanning resumes.
        if (c == '[') {
            const std::size_t e = match_placeholder(s, pos);
            if (e) emit(pos, e, entity_type::placeholder, 1.0f);
            pos = e ? e : pos + 1;
            continue;
        }
        if ((c == 'h' || c == 'H' || c == 'f' || c == 'F' || c == 'w' || c == 'W') && (pos == 0 || !is_word_byte(s[pos - 1]))) {
            const std::size_t e = match_url(s, pos);
            if (e) { emit(pos, e, entity_type::url, 0.95f); pos = e; continue; }
        }
        if (tok_colon && (hex_value(c) >= 0 || c == ':')) {
            const std::size_t e = match_ipv6(s, pos);
            if (e) { emit(pos, e, entity_type::ipv6, 0.95f); pos = e; continue; }
        }
        if (is_digit(c) || c == '+' || c == '(') {
            if ((c == '+' || c == '(') && !(pos + 1 < n && is_digit(s[pos + 1]))) { ++pos; continue; }
            if (pos > 0) {
                const char p = s[pos - 1];
                // Inside a longer token ("v1.2", "x-12", "12.34.56.78.90"): skip the digits.
                if (is_word_byte(p) || ((p == '.' || p == '-' || p == '/' || p == ':' || p == '+') && pos > 1 &&
                                        is_word_byte(s[pos - 2]))) {
                    std::size_t e = pos + 1;
                    while (e < n && is_digit(s[e])) ++e;
                    pos = e;
                    continue;
                }
            }
            if (want_address && is_digit(c)) {
                const candidate a = address::match_number_first(s, pos, g);
                if (a.end) { emit(pos, a.end, a.type, a.confidence); pos = a.end; continue; }
            }
            digit_groups groups;
            read_digit_groups(s, pos, groups);
            candidate best = classify_digit_groups(s, groups);
            if (is_digit(c)) {
                const candidate wd = match_date_day_first(s, pos);
                if (wd.end > best.end) best = wd;
            }
            if (best.end) { emit(pos, best.end, best.type, best.confidence); pos = best.end; }
            else pos = groups.skip;
            continue;
        }
        if (is_upper(c)) {
            if (pos > 0 && is_word_byte(s[pos - 1])) { pos = word_end(s, pos); continue; }
            std::size_t iban_shaped;
            if (const std::size_t e = match_iban(s, pos, iban_shaped)) { emit(pos, e, entity_type::iban, 0.98f); pos = e; continue; }
            if (iban_shaped) { pos = iban_shaped; continue; }
            const candidate d = match_date_month_first(s, pos);
            if (d.end) { emit(pos, d.end, d.type, d.confidence); pos = d.end; continue; }
            if (want_address) {
                candidate a = address::match_unit_first(s, pos, g);
                if (!a.end) a = address::match_street_first(s, pos, g);
                if (a.end) { emit(pos, a.end, a.type, a.confidence); pos = a.end; continue; }
            }
            const candidate nm = match_name(s, pos, g, options_.context_names);
            if (nm.end) { emit(pos, nm.end, nm.type, nm.confidence); pos = nm.end; continue; }
            pos = word_end(s, pos);
            continue;
        }
        // A word that starts with a non-ASCII capital or a caseless letter may be a
        // name ("Élodie", "Łukasz", "Иван", "佐藤"): the same gazetteer and cue rules.
        if (static_cast<unsigned char>(c) >= 0x80 && !(pos > 0 && is_word_byte(s[pos - 1])) &&
            letter_case_at(s, pos) != letter_case::other) {
            const candidate nm = match_name(s, pos, g, options_.context_names);
            if (nm.end) { emit(pos, nm.end, nm.type, nm.confidence); pos = nm.end; continue; }
            pos = word_end(s, pos);
            continue;
        }
        if (is_word_byte(c)) { pos = word_end(s, pos); continue; }
        ++pos;
    }
    // E-mails were emitted ahead of the spans found before them in their token.
    if (!in_order)
        std::sort(out.begin(), out.end(), [](const entity_span& a, const entity_span& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
        });
    std::size_t kept = 0, last_end = 0;
    for (std::size_t k = 0; k < out.size(); ++k) {
        if (kept > 0 && out[k].begin < last_end) continue;
        out[kept++] = out[k];
        last_end = out[k].end;
    }
    out.resize(kept);
}

}  // namespace lethe::privacy
