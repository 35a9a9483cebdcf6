// A seeded synthetic chat corpus with known PII spans, for measuring the
// scanner's recall and precision. Values are drawn fresh per sentence
// (valid checksums computed here, independently of the scanner) and mixed
// with look-alike distractors that are not PII.
#pragma once

#include <lethe/privacy.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace privacy_test {

using lethe::privacy::entity_type;

struct gold_span {
    std::size_t begin, end;
    entity_type type;
};

struct corpus {
    std::string text;
    std::vector<gold_span> gold;
};

class corpus_generator {
public:
    explicit corpus_generator(std::uint64_t seed) : r_{seed} {}

    corpus make(std::size_t sentences) {
        corpus c;
        for (std::size_t i = 0; i < sentences; ++i) {
            sentence(c);
            c.text += (i % 7 == 6) ? "\n" : " ";
        }
        return c;
    }

private:
    using T = entity_type;
    lethe::privacy::splitmix64 r_;

    template <class... S>
    const char* pick(S... s) {
        const char* a[] = {s...};
        return a[r_.below(static_cast<int>(sizeof...(S)))];
    }
    std::string digits(int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += static_cast<char>('0' + r_.below(10));
        return s;
    }
    std::string ascii_entry(const lethe::privacy::gazetteer& g) {
        for (;;) {
            const auto& e = g.entries()[static_cast<std::size_t>(r_.below(static_cast<int>(g.size())))];
            bool ok = true;
            for (char ch : e) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'));
            if (ok) return e;
        }
    }
    static std::string lower(std::string s) {
        for (char& ch : s) if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        return s;
    }

    std::string email() {
        const auto& g = *lethe::privacy::gazetteers::defaults();
        std::string local = lower(ascii_entry(g.first_names));
        switch (r_.below(4)) {
            case 0: local += "." + lower(ascii_entry(g.last_names)); break;
            case 1: local += "_" + digits(2); break;
            case 2: local += "+news"; break;
            default: break;
        }
        return local + "@" + pick("gmail.com", "yahoo.co.uk", "mail.example.org", "uni-bonn.de", "outlook.fr", "proton.me");
    }
    std::string phone() {
        const std::string a = std::to_string(r_.between(2, 9)) + digits(2), x = std::to_string(r_.between(2, 9)) + digits(2);
        switch (r_.below(9)) {
            case 0: return "(" + a + ") " + x + "-" + digits(4);
            case 1: return a + "-" + x + "-" + digits(4);
            case 2: return a + "." + x + "." + digits(4);
            case 3: return "+1 " + a + " " + x + " " + digits(4);
            case 4: return "+44 20 " + std::to_string(r_.between(2, 9)) + digits(3) + " " + digits(4);
            case 5: return "+49" + std::to_string(r_.between(1, 9)) + digits(9);
            case 6: return "0" + std::to_string(r_.between(1, 9)) + " " + digits(2) + " " + digits(2) + " " + digits(2) + " " + digits(2);
            case 7: return "030 " + digits(8);
            default: return "1-800-" + x + "-" + digits(4);
        }
    }
    std::string ssn() {
        int area = r_.between(1, 898);
        if (area >= 666) ++area;
        char b[32];
        std::snprintf(b, sizeof b, "%03d-%02d-%04d", area, r_.between(1, 99), r_.between(1, 9999));
        return b;
    }
    std::string card(bool valid = true) {
        std::string d;
        int len = 16;
        switch (r_.below(3)) {
            case 0: d = "4" + digits(14); break;
            case 1: d = std::to_string(r_.between(51, 55)) + digits(13); break;
            default: d = std::string(pick("34", "37")) + digits(12); len = 15; break;
        }
        d += static_cast<char>('0' + lethe::privacy::luhn_check_digit(d));
        if (!valid) d.back() = static_cast<char>('0' + (d.back() - '0' + 1) % 10);
        const char* sep = pick(" ", "-", "");
        if (len == 15) return d.substr(0, 4) + sep + d.substr(4, 6) + sep + d.substr(10);
        return d.substr(0, 4) + sep + d.substr(4, 4) + sep + d.substr(8, 4) + sep + d.substr(12);
    }
    std::string iban(bool valid = true) {
        struct cc { const char* c; int len; };
        static constexpr cc cs[] = {{"DE", 22}, {"GB", 22}, {"FR", 27}, {"NL", 18}, {"ES", 24}, {"IT", 27}, {"CH", 21}, {"BE", 16}};
        const cc& c = cs[r_.below(8)];
        std::string bban = (std::string(c.c) == "GB" || std::string(c.c) == "NL") ? "ABCD" + digits(c.len - 8) : digits(c.len - 4);
        int check = lethe::privacy::iban_check_digits(c.c, bban);
        if (!valid) check = check == 97 ? 2 : check + 1;
        const char cd[3] = {static_cast<char>('0' + check / 10), static_cast<char>('0' + check % 10), 0};
        const std::string compact = std::string(c.c) + cd + bban;
        if (r_.below(2)) return compact;
        std::string grouped;
        for (std::size_t i = 0; i < compact.size(); ++i) {
            if (i > 0 && i % 4 == 0) grouped += ' ';
            grouped += compact[i];
        }
        return grouped;
    }
    std::string ipv4() {
        return std::to_string(r_.between(1, 223)) + "." + std::to_string(r_.below(256)) + "." + std::to_string(r_.below(256)) +
               "." + std::to_string(r_.between(1, 254));
    }
    std::string ipv6() {
        static constexpr char hex[] = "0123456789abcdef";
        auto group = [&] {
            std::string g;
            const int n = r_.between(1, 4);
            g += hex[r_.between(1, 15)];
            for (int i = 1; i < n; ++i) g += hex[r_.below(16)];
            return g;
        };
        if (r_.below(2)) {
            std::string s = group();
            for (int i = 0; i < 7; ++i) s += ":" + group();
            return s;
        }
        return "fe80::" + group() + ":" + group() + ":" + group();
    }
    std::string url() {
        const std::string w = lower(ascii_entry(lethe::privacy::gazetteers::defaults()->last_names));
        switch (r_.below(4)) {
            case 0: return "https://www." + w + "-shop.com/orders/" + digits(5);
            case 1: return "http://" + w + ".org";
            case 2: return "www." + w + ".net/profile?id=" + digits(4) + "&tab=2";
            default: return "https://blog." + w + ".io/2023/05/post-title#comments";
        }
    }
    std::string date() {
        const int y = r_.between(1950, 2024), m = r_.between(1, 12), d = r_.between(1, 28);
        static constexpr const char* months[] = {"January", "February", "March", "April", "May", "June", "July",
                                                 "August", "September", "October", "November", "December"};
        char b[48];
        switch (r_.below(5)) {
            case 0: std::snprintf(b, sizeof b, "%04d-%02d-%02d", y, m, d); break;
            case 1: std::snprintf(b, sizeof b, "%02d/%02d/%04d", m, d, y); break;
            case 2: std::snprintf(b, sizeof b, "%s %d, %d", months[m - 1], d, y); break;
            case 3: std::snprintf(b, sizeof b, "%d %s %d", d, months[m - 1], y); break;
            default: std::snprintf(b, sizeof b, "%02d.%02d.%04d", d, m, y); break;
        }
        return b;
    }
    std::string person() {
        const auto& g = *lethe::privacy::gazetteers::defaults();
        std::string p = g.first_names.entries()[static_cast<std::size_t>(r_.below(static_cast<int>(g.first_names.size())))];
        if (r_.below(2)) p += " " + g.last_names.entries()[static_cast<std::size_t>(r_.below(static_cast<int>(g.last_names.size())))];
        return p;
    }
    std::string location() {
        const auto& g = *lethe::privacy::gazetteers::defaults();
        return g.locations.entries()[static_cast<std::size_t>(r_.below(static_cast<int>(g.locations.size())))];
    }

    // Street addresses in the five countries the scanner reads, with their
    // optional unit, city, state and ZIP or postcode (the gold span is all of it).
    std::string address() {
        const auto& g = *lethe::privacy::gazetteers::defaults();
        const std::string name = ascii_entry(g.last_names), city = ascii_entry(g.locations);
        const std::string number = std::to_string(r_.between(1, 2999)) + (r_.below(8) == 0 ? "B" : "");
        switch (r_.below(5)) {
            case 0: {  // US
                std::string a = number + " " + name + " " + pick("Street", "Avenue", "Ave", "Road", "Blvd", "Drive", "Lane");
                if (r_.below(3) == 0) a += std::string(", ") + pick("Apt", "Suite", "Unit") + " " + std::to_string(r_.between(1, 40));
                if (r_.below(2)) a += ", " + city + ", " + pick("NY", "CA", "TX", "IL", "WA", "DC") + " " + std::to_string(r_.between(10000, 99999));
                return a;
            }
            case 1: {  // UK
                std::string a = number + " " + name + " " + pick("Road", "Lane", "Close", "Street", "Terrace", "Gardens");
                if (r_.below(2)) {
                    const char l1 = static_cast<char>('A' + r_.below(26)), l2 = static_cast<char>('A' + r_.below(26));
                    a += std::string(", London ") + pick("SW", "N", "E", "W", "NW") + std::to_string(r_.between(1, 19)) + " " +
                         std::to_string(r_.between(1, 9)) + l1 + l2;
                }
                return a;
            }
            case 2:  // FR
                return std::to_string(r_.between(1, 199)) + " " + pick("rue", "avenue", "boulevard", "place") + " " +
                       pick("de la ", "du ", "", "des ") + name + (r_.below(2) ? ", " + std::to_string(r_.between(10000, 95999)) + " " + city : "");
            case 3:  // DE
                return name + pick("straße", "weg", "platz", "allee") + " " + std::to_string(r_.between(1, 250)) +
                       (r_.below(2) ? ", " + std::to_string(r_.between(10000, 99999)) + " " + city : "");
            default:  // PL
                return std::string(pick("ul. ", "al. ", "ulica ")) + name + " " + std::to_string(r_.between(1, 150)) +
                       (r_.below(2) ? "/" + std::to_string(r_.between(1, 80)) : "") +
                       (r_.below(2) ? ", " + digits(2) + "-" + digits(3) + " " + city : "");
        }
    }

    // Text with no PII that looks like some: versions, times, prices, invalid
    // checksums, unissued SSNs, out-of-range octets, capitalised common words.
    std::string distractor() {
        switch (r_.below(16)) {
            case 0: return "I updated to version " + std::to_string(r_.below(10)) + "." + std::to_string(r_.below(20)) + "." + std::to_string(r_.below(9)) + " yesterday.";
            case 1: return "The meeting is at " + std::to_string(r_.between(1, 12)) + ":" + digits(2) + " in room " + digits(3) + ".";
            case 2: return "It costs $" + std::to_string(r_.between(1, 999)) + "." + digits(2) + " for " + std::to_string(r_.between(2, 9)) + " items.";
            case 3: return "Order #" + digits(6) + " ships in " + std::to_string(r_.between(2, 14)) + " days.";
            case 4: return "That card number " + card(false) + " failed the check.";
            case 5: return "The code 666-" + digits(2) + "-" + digits(4) + " is not a real SSN, nor is 123-00-" + digits(4) + ".";
            case 6: return "Address 300." + std::to_string(r_.below(256)) + ".1.1 is not an IP address.";
            case 7: return "The account " + iban(false) + " was rejected.";
            case 8: return "On Monday The Apple Store in the Mall opened; Python and Linux are fine.";
            case 9: return "Email me at foo@bar or at name@localhost later.";
            case 10: return "Score was 3/4 and then 12 - 7, about " + digits(5) + " points overall.";
            case 11: return "The ratio 1:" + std::to_string(r_.between(2, 99)) + " and the std::vector class are typical.";
            case 12: return "Reference " + digits(7) + " and ticket 42-" + digits(5) + " are internal.";
            case 13: return "In Spring " + std::to_string(r_.between(1990, 2024)) + " we bought " + std::to_string(r_.between(2, 40)) + " Apple Watch bands.";
            case 14: return "The " + std::to_string(r_.between(2, 9)) + " Supreme Court justices met in Room " + digits(3) + ".";
            default: return "Thanks a lot, that was really helpful for my project.";
        }
    }

    void put(corpus& c, const std::string& s) { c.text += s; }
    void put(corpus& c, const std::string& value, T t) {
        c.gold.push_back({c.text.size(), c.text.size() + value.size(), t});
        c.text += value;
    }

    void sentence(corpus& c) {
        switch (r_.below(13)) {
            case 0: put(c, "Sure, my email is "); put(c, email(), T::email); put(c, " and my phone is "); put(c, phone(), T::phone); put(c, "."); break;
            case 1: put(c, "You can reach support at "); put(c, phone(), T::phone); put(c, " or write to "); put(c, email(), T::email); put(c, " anytime."); break;
            case 2: put(c, "My SSN is "); put(c, ssn(), T::us_ssn); put(c, " and the card "); put(c, card(), T::credit_card); put(c, " expires soon."); break;
            case 3: put(c, "Please wire the money to "); put(c, iban(), T::iban); put(c, " before "); put(c, date(), T::date); put(c, "."); break;
            case 4: put(c, "The server at "); put(c, ipv4(), T::ipv4); put(c, " answered, see "); put(c, url(), T::url); put(c, " for details."); break;
            case 5: put(c, "Our gateway "); put(c, ipv6(), T::ipv6); put(c, " was down on "); put(c, date(), T::date); put(c, ", sorry!"); break;
            case 6: put(c, "Hi "); put(c, person(), T::person); put(c, ", thanks for the update from "); put(c, location(), T::location); put(c, "."); break;
            case 7: put(c, person(), T::person); put(c, " moved to "); put(c, location(), T::location); put(c, " last year and loves it."); break;
            case 8: put(c, "I think "); put(c, person(), T::person); put(c, " can help (call "); put(c, phone(), T::phone); put(c, ")."); break;
            case 9: put(c, "Check "); put(c, url(), T::url); put(c, ", then pay with "); put(c, card(), T::credit_card); put(c, "."); break;
            case 10: put(c, pick("Please send it to ", "I moved to ", "The office is at ")); put(c, address(), T::address); put(c, " since Monday."); break;
            default: put(c, distractor()); break;
        }
    }
};

}  // namespace privacy_test
