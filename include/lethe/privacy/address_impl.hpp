// lethe/privacy/address_impl.hpp - the street-address recogniser behind
// scanner::scan (entity_type::address). Included by scanner_impl.hpp.
//
// The shapes it reads (street + house number, then postcode and city):
//   US, UK  "42 Baker Street", "221B Baker St.", "350 5th Avenue, Apt 4B",
//           "1600 Pennsylvania Ave NW, Washington, DC 20500",
//           "10 Downing Street, London SW1A 2AA"
//   FR      "12 rue de la Paix, 75002 Paris", "5 bis avenue Victor Hugo"
//   DE      "Hauptstraße 5, 10115 Berlin", "Berliner Straße 12a"
//   PL      "ul. Marszałkowska 10/12, 00-950 Warszawa", "al. Jerozolimskie 65"
//   postcode + city alone: "10115 Berlin" (a gazetteer city), "00-950 Warszawa"
// A street needs its house number and its street word (Street, rue, -straße,
// ul., ...): a number before capitalised words is not enough.
//
// Every reader looks at most a fixed number of words of at most
// max_word_bytes each, so an attempt costs O(1) and the scan stays linear.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace lethe::privacy::detail {

namespace address {

inline constexpr std::size_t max_word_bytes = 40;

// A word [b, e) of at most max_word_bytes; e == b when there is none.
inline std::size_t word_at(std::string_view s, std::size_t b) noexcept {
    if (b >= s.size() || !is_word_byte(s[b])) return b;
    const std::size_t e = word_end(s, b);
    return e - b > max_word_bytes ? b : e;
}

// A capital letter, or a byte >= 0x80 ("Łódź", "Élysée"): the scanner has no
// case tables for non-ASCII letters, and a street name is read after its
// street word or number, which already says what it is.
inline bool capitalised(std::string_view s, std::size_t b) noexcept {
    return b < s.size() && (is_upper(s[b]) || static_cast<unsigned char>(s[b]) >= 0x80);
}

inline bool one_of(std::string_view w, std::initializer_list<std::string_view> list) noexcept {
    for (auto x : list)
        if (w == x) return true;
    return false;
}

inline bool ends_with_ci(std::string_view w, std::string_view suffix) noexcept {
    return w.size() >= suffix.size() && ieq_prefix(w, w.size() - suffix.size(), suffix);
}

// An abbreviation may carry its '.': returns the end after it.
inline std::size_t with_dot(std::string_view s, std::size_t e) noexcept { return e < s.size() && s[e] == '.' ? e + 1 : e; }

// English street words, after the name ("Baker Street", "Pennsylvania Ave"):
// the USPS street suffixes (Publication 28, appendix C1) and British ones.
// Strong words name a street whatever follows.
inline bool english_street_word(std::string_view w) noexcept {
    return one_of(w, {"Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive",
                      "Dr", "Court", "Ct", "Place", "Pl", "Way", "Terrace", "Ter", "Close", "Crescent", "Square", "Sq",
                      "Highway", "Hwy", "Parkway", "Pkwy", "Circle", "Cir", "Row", "Mews", "Gardens", "Grove", "Walk",
                      "Trail", "Trl", "Alley", "Plaza", "Parade", "Broadway", "Annex", "Arcade", "Bayou", "Bypass",
                      "Causeway", "Crossing", "Crossroad", "Expressway", "Freeway", "Loop", "Motorway", "Pike",
                      "Radial", "Ramp", "Route", "Skyway", "Stravenue", "Throughway", "Trace", "Trafficway",
                      "Turnpike", "Via", "Viaduct", "Extension", "Spur", "Overpass", "Underpass", "Junction", "Path",
                      "Heights", "Estates", "Manor", "Commons", "Landing", "Ridge", "Meadows", "Glen", "Hollow",
                      "Knoll", "Knolls", "Vista", "Oval", "Pass", "Curve", "Passage", "Wynd", "Drives", "Ways"});
}

// Weak street words are common nouns too ("the 5 Great Lakes", "3 Red Lights"):
// they name a street only with a city, state, ZIP or postcode after them.
inline bool weak_street_word(std::string_view w) noexcept {
    return one_of(w, {"Bend", "Bluff", "Bluffs", "Bottom", "Branch", "Bridge", "Brook", "Brooks", "Burg", "Burgs",
                      "Camp", "Canyon", "Cape", "Center", "Centers", "Cliff", "Cliffs", "Club", "Corner", "Corners",
                      "Course", "Cove", "Coves", "Creek", "Crest", "Dale", "Dam", "Divide", "Fall", "Falls", "Ferry",
                      "Field", "Fields", "Flat", "Flats", "Ford", "Fords", "Forest", "Forge", "Forges", "Fork", "Forks",
                      "Fort", "Green", "Greens", "Harbor", "Harbors", "Haven", "Hill", "Hills", "Inlet", "Island",
                      "Islands", "Isle", "Key", "Keys", "Lake", "Lakes", "Land", "Light", "Lights", "Loaf", "Lock",
                      "Locks", "Lodge", "Mall", "Mill", "Mills", "Mission", "Mount", "Mountain", "Mountains", "Neck",
                      "Orchard", "Park", "Parks", "Pine", "Pines", "Plain", "Plains", "Point", "Points", "Port",
                      "Ports", "Prairie", "Ranch", "Rapid", "Rapids", "Rest", "River", "Shoal", "Shoals", "Shore",
                      "Shores", "Spring", "Springs", "Station", "Stream", "Summit", "Track", "Trailer", "Tunnel",
                      "Union", "Unions", "Valley", "Valleys", "View", "Views", "Village", "Villages", "Ville", "Wall",
                      "Well", "Wells", "Courts", "Circles", "Squares", "Streets", "Roads", "Lanes", "Plazas", "Gateway",
                      "Centre", "Common"});
}

// The abbreviations that take a '.' ("Baker St.", "av. Foch"); "Street." ends a sentence.
inline bool street_abbreviation(std::string_view w) noexcept {
    return one_of(w, {"St", "Ave", "Av", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Sq", "Hwy", "Pkwy", "Cir", "av", "bd", "Bd"});
}
inline std::size_t abbreviation_dot(std::string_view s, std::size_t b, std::size_t e) noexcept {
    return street_abbreviation(s.substr(b, e - b)) ? with_dot(s, e) : e;
}

// French street words, before the name ("rue de la Paix").
inline bool french_street_word(std::string_view w) noexcept {
    return one_of(w, {"rue", "Rue", "avenue", "Avenue", "av", "boulevard", "Boulevard", "bd", "Bd", "place", "Place",
                      "allée", "Allée", "chemin", "Chemin", "impasse", "Impasse", "quai", "Quai", "cours", "Cours",
                      "route", "Route", "passage", "Passage", "square", "Square"});
}

inline bool french_particle(std::string_view w) noexcept {
    return one_of(w, {"de", "du", "des", "la", "le", "les", "aux", "au", "et", "sur", "en"}) ||
           (w.size() > 2 && (w.substr(0, 2) == "l'" || w.substr(0, 2) == "d'"));
}

// German street words: a compound's end ("Hauptstraße", "Lindenweg") or a
// word of its own after an adjective ("Berliner Straße"). "-ring" needs a
// long compound ("Kaiserring"): "Spring 2021" and "String 5" are not streets.
inline bool german_street_word(std::string_view w, bool compound) noexcept {
    static constexpr std::string_view ends[] = {"straße", "strasse", "weg", "platz", "allee", "gasse",
                                                "ring", "damm", "ufer", "chaussee", "steig", "pfad"};
    for (auto e : ends) {
        const std::size_t min_size = e == "ring" ? 8 : e.size() + 1;
        if (compound ? (w.size() >= min_size && ends_with_ci(w, e)) : (w.size() == e.size() && ieq_prefix(w, 0, e)))
            return true;
    }
    return false;
}

// A street-first number that reads as a year ("Hauptweg 1989" is rare; "in
// Spring 2021" is not): 4 digits from 1800 to 2099 are not house numbers there.
inline bool looks_like_year(std::string_view s, std::size_t b, std::size_t e) noexcept {
    if (e - b != 4) return false;
    const int v = (s[b] - '0') * 1000 + (s[b + 1] - '0') * 100 + (s[b + 2] - '0') * 10 + (s[b + 3] - '0');
    return v >= 1800 && v <= 2099;
}

// "ul.", "al.", "pl.", "os." (ulica, aleja, plac, osiedle), or spelled out.
inline std::size_t polish_street_prefix(std::string_view s, std::size_t b) noexcept {
    const std::size_t e = word_at(s, b);
    const std::string_view w = s.substr(b, e - b);
    if (e < s.size() && s[e] == '.' && one_of(w, {"ul", "al", "pl", "os", "Ul", "Al", "Pl", "Os"})) return e + 1;
    if (one_of(w, {"ulica", "aleja", "Ulica", "Aleja"})) return e;
    return b;
}

// A house number: 1-5 digits, an optional letter ("221B", "12a"), an optional
// range or flat ("12-14", "10/12"); 0 if there is none or it runs into a word.
inline std::size_t house_number(std::string_view s, std::size_t b) noexcept {
    const std::size_t n = s.size();
    std::size_t i = b;
    while (i < n && is_digit(s[i]) && i - b < 6) ++i;
    if (i == b || i - b > 5 || s[b] == '0') return 0;
    if (i < n && is_alpha(s[i]) && !(i + 1 < n && is_word_byte(s[i + 1]))) ++i;
    if (i + 1 < n && (s[i] == '-' || s[i] == '/') && is_digit(s[i + 1])) {
        std::size_t j = i + 1;
        while (j < n && is_digit(s[j]) && j - i <= 4) ++j;
        if (j - i > 4) return 0;
        if (j < n && is_alpha(s[j]) && !(j + 1 < n && is_word_byte(s[j + 1]))) ++j;
        i = j;
    }
    return (i < n && is_word_byte(s[i])) ? 0 : i;
}

// "DC", "CA", ...: the 50 states and DC.
inline bool us_state(std::string_view w) noexcept {
    static constexpr std::string_view states =
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
        "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY ";
    if (w.size() != 2 || !is_upper(w[0]) || !is_upper(w[1])) return false;
    for (std::size_t k = 0; k + 2 < states.size(); k += 3)
        if (states[k] == w[0] && states[k + 1] == w[1]) return true;
    return false;
}

// n digits exactly, then a boundary; returns the end or 0.
inline std::size_t digits_exactly(std::string_view s, std::size_t b, std::size_t count) noexcept {
    std::size_t i = b;
    while (i < s.size() && is_digit(s[i]) && i - b < count) ++i;
    if (i - b != count || (i < s.size() && is_word_byte(s[i]))) return 0;
    return i;
}

// ZIP: 12345 or 12345-6789.
inline std::size_t us_zip(std::string_view s, std::size_t b) noexcept {
    const std::size_t e = digits_exactly(s, b, 5);
    if (!e) return 0;
    if (e + 5 <= s.size() && s[e] == '-')
        if (const std::size_t e4 = digits_exactly(s, e + 1, 4)) return e4;
    return e;
}

// UK postcode: outward A9, A99, AA9, AA99, A9A or AA9A, a space, inward 9AA.
inline std::size_t uk_postcode(std::string_view s, std::size_t b) noexcept {
    const std::size_t e = word_at(s, b);
    const std::string_view w = s.substr(b, e - b);
    if (w.size() < 2 || w.size() > 4 || !is_upper(w[0])) return 0;
    std::size_t k = 1;
    if (is_upper(w[k])) ++k;
    if (k >= w.size() || !is_digit(w[k])) return 0;
    ++k;
    if (k < w.size() && (is_digit(w[k]) || is_upper(w[k]))) ++k;
    if (k != w.size()) return 0;
    if (e + 4 > s.size() || s[e] != ' ') return 0;
    const std::size_t i = e + 1;
    if (!(is_digit(s[i]) && is_upper(s[i + 1]) && is_upper(s[i + 2]))) return 0;
    return (i + 3 < s.size() && is_word_byte(s[i + 3])) ? 0 : i + 3;
}

// Continental postcodes: 5 digits (DE, FR, US-style) or NN-NNN (PL).
inline std::size_t continental_postcode(std::string_view s, std::size_t b, bool& polish) noexcept {
    polish = false;
    if (const std::size_t e = digits_exactly(s, b, 5)) return e;
    if (b + 6 <= s.size() && is_digit(s[b]) && is_digit(s[b + 1]) && s[b + 2] == '-')
        if (const std::size_t e = digits_exactly(s, b + 3, 3)) { polish = true; return e; }
    return 0;
}

// 1-3 capitalised words without digits that are not stopwords or state
// codes ("New York", "Washington"; "London SW1A" stops before the postcode).
inline std::size_t city_words(std::string_view s, std::size_t b) {
    std::size_t e = b;
    for (int k = 0; k < 3; ++k) {
        const std::size_t wb = k == 0 ? b : e + 1;
        if (k > 0 && !(e < s.size() && s[e] == ' ')) break;
        const std::size_t we = word_at(s, wb);
        const std::string_view w = s.substr(wb, we - wb);
        if (we == wb || !capitalised(s, wb) || is_stopword(w) || us_state(w)) break;
        if (std::any_of(w.begin(), w.end(), [](char c) { return is_digit(c); })) break;
        e = we;
    }
    return e;
}

inline std::size_t postcode_and_city(std::string_view s, std::size_t b, bool& polish) {
    const std::size_t pe = continental_postcode(s, b, polish);
    if (!pe || pe + 1 >= s.size() || s[pe] != ' ') return 0;
    const std::size_t ce = city_words(s, pe + 1);
    return ce > pe + 1 ? ce : 0;
}

// Words that make "Court" a court of law ("the 3 Supreme Court justices").
inline bool institution_before_court(std::string_view w) noexcept {
    return one_of(w, {"Supreme", "High", "District", "Federal", "Crown", "Circuit", "County", "Magistrates",
                      "Family", "Appeals", "Constitutional", "Juvenile", "Criminal", "Civil"});
}

inline bool unit_word(std::string_view w) noexcept {
    return one_of(w, {"Apt", "Apartment", "Suite", "Ste", "Unit", "Flat", "Floor", "Fl", "Room", "Studio"});
}

// ", Apt 4B", " Suite 200", ", Flat 3", " #12".
inline std::size_t unit(std::string_view s, std::size_t b) noexcept {
    std::size_t i = b;
    if (i < s.size() && s[i] == '#') ++i;
    else {
        const std::size_t e = word_at(s, b);
        if (!unit_word(s.substr(b, e - b))) return 0;
        i = with_dot(s, e);
        if (!(i < s.size() && s[i] == ' ')) return 0;
        ++i;
    }
    std::size_t j = i;
    while (j < s.size() && is_alnum(s[j]) && j - i < 6) ++j;
    if (j == i || (j < s.size() && is_word_byte(s[j]))) return 0;
    return j;
}

struct tail_result {
    std::size_t end;
    bool located;  // a postcode, state or city was read
};

// What may follow a street: a unit, a directional, a city, a state and ZIP,
// a postcode and city, a UK postcode; up to four parts, each after ", " or " ".
inline tail_result tail(std::string_view s, std::size_t e, const gazetteers& g) {
    tail_result r{e, false};
    bool city = false;
    for (int part = 0; part < 4; ++part) {
        std::size_t i = r.end;
        const bool comma = i < s.size() && s[i] == ',';
        if (comma) ++i;
        if (!(i + 1 < s.size() && s[i] == ' ')) break;
        ++i;
        if (const std::size_t u = unit(s, i)) { r.end = u; continue; }
        const std::size_t we = word_at(s, i);
        const std::string_view w = s.substr(i, we - i);
        if (part == 0 && !comma && one_of(w, {"N", "S", "E", "W", "NE", "NW", "SE", "SW"})) { r.end = we; continue; }
        if (us_state(w) && (city || comma)) {
            std::size_t z = 0;
            if (we + 1 < s.size() && s[we] == ' ') z = us_zip(s, we + 1);
            if (z || city) { r.end = z ? z : we; r.located = true; break; }
        }
        if (const std::size_t p = uk_postcode(s, i)) { r.end = p; r.located = true; break; }
        bool polish = false;
        if (const std::size_t pc = postcode_and_city(s, i, polish)) { r.end = pc; r.located = true; city = true; continue; }
        if (!comma || city) break;
        // A city after a comma: taken when the gazetteer knows it or a state or
        // postcode follows ("Springfield, IL 62704", "London SW1A 2AA").
        const std::size_t ce = city_words(s, i);
        if (ce == i) break;
        bool next_located = false;
        if (ce + 1 < s.size() && (s[ce] == ' ' || (s[ce] == ',' && ce + 2 < s.size() && s[ce + 1] == ' '))) {
            const std::size_t nb = s[ce] == ',' ? ce + 2 : ce + 1;
            const std::size_t ne = word_at(s, nb);
            next_located = us_state(s.substr(nb, ne - nb)) || uk_postcode(s, nb) != 0;
        }
        std::size_t known = 0;
        for (std::size_t k = ce; k > i; k = k - 1) {  // longest gazetteer prefix of the city words
            if ((k == ce || s[k] == ' ') && g.locations.contains(s.substr(i, k - i))) { known = k; break; }
        }
        if (next_located) { r.end = ce; city = true; r.located = true; continue; }
        if (known) { r.end = known; city = true; r.located = true; continue; }
        break;
    }
    return r;
}

// Number first: English "42 Baker Street", French "12 rue de la Paix", or a
// postcode and a known city ("10115 Berlin").
inline candidate match_number_first(std::string_view s, std::size_t pos, const gazetteers& g) {
    const std::size_t n = s.size();
    std::size_t street_end = 0;
    const std::size_t hn = house_number(s, pos);
    if (hn && hn + 1 < n && (s[hn] == ' ' || (s[hn] == ',' && hn + 2 < n && s[hn + 1] == ' '))) {
        std::size_t i = s[hn] == ',' ? hn + 2 : hn + 1;
        std::size_t we = word_at(s, i);
        if (one_of(s.substr(i, we - i), {"bis", "ter"}) && we + 1 < n && s[we] == ' ') {
            i = we + 1;
            we = word_at(s, i);
        }
        if (french_street_word(s.substr(i, we - i))) {
            // rue [particles] Name [Name...]: ends on a capitalised word.
            std::size_t e = abbreviation_dot(s, i, we);
            for (int k = 0; k < 6 && e + 1 < n && s[e] == ' '; ++k) {
                const std::size_t b = e + 1, x = word_at(s, b);
                if (x == b) break;
                const std::string_view w = s.substr(b, x - b);
                if (capitalised(s, b) && !is_stopword(w)) street_end = e = x;
                else if (french_particle(w)) e = x;
                else break;
            }
        } else {
            // [N|S|E|W] Name [Name...] Street: 1-4 name words before the street word.
            std::size_t e = hn, last_len = 0;
            int names = 0;
            for (int k = 0; k < 5 && e + 1 < n && s[e] == ' '; ++k) {
                const std::size_t b = e + 1, x = word_at(s, b);
                if (x == b) break;
                const std::string_view w = s.substr(b, x - b);
                const bool ordinal = is_digit(w[0]) && w.size() >= 3 && w.size() <= 6 &&
                                     (ends_with_ci(w, "st") || ends_with_ci(w, "nd") || ends_with_ci(w, "rd") ||
                                      ends_with_ci(w, "th"));
                if (is_upper(w[0]) && english_street_word(w) && (names > 0 || w == "Broadway")) {
                    // "3 Supreme Court justices": a court, not a street.
                    if (!(w == "Court" && institution_before_court(s.substr(e - last_len, last_len))))
                        street_end = abbreviation_dot(s, b, x);
                    break;
                }
                if (names > 0 && weak_street_word(w)) {
                    const tail_result t = tail(s, x, g);
                    if (t.located || t.end > x) { street_end = x; break; }  // a city, postcode or unit follows
                }
                if (!(ordinal || (capitalised(s, b) && !is_stopword(w)))) break;
                ++names;
                last_len = x - b;
                e = x;
            }
        }
    }
    if (street_end) {
        const tail_result t = tail(s, street_end, g);
        return {t.end, entity_type::address, t.located ? 0.95f : 0.85f};
    }
    // "10115 Berlin", "00-950 Warszawa": a postcode with a gazetteer city, or
    // the Polish NN-NNN shape with any capitalised word.
    bool polish = false;
    const std::size_t pc = postcode_and_city(s, pos, polish);
    if (pc) {
        const std::size_t city_b = s.find(' ', pos) + 1;
        std::size_t known = 0;
        for (std::size_t k = pc; k > city_b; --k)
            if ((k == pc || s[k] == ' ') && g.locations.contains(s.substr(city_b, k - city_b))) { known = k; break; }
        if (known) return {known, entity_type::address, 0.85f};
        if (polish) return {pc, entity_type::address, 0.85f};
    }
    return {};
}

// A unit before the street: "Flat 3, 27 Old Road", "Apt 4B, 350 5th Avenue",
// or a unit whose number is the house number ("Studio 8 Walton Station").
inline candidate match_unit_first(std::string_view s, std::size_t pos, const gazetteers& g) {
    const std::size_t n = s.size();
    const std::size_t we = word_at(s, pos);
    if (!unit_word(s.substr(pos, we - pos))) return {};
    std::size_t i = with_dot(s, we);
    if (!(i + 1 < n && s[i] == ' ')) return {};
    ++i;
    if (is_digit(s[i]))
        if (const candidate a = match_number_first(s, i, g); a.end) return {a.end, entity_type::address, a.confidence};
    std::size_t j = i;
    while (j < n && is_alnum(s[j]) && j - i < 6) ++j;
    if (j == i || (j < n && is_word_byte(s[j]))) return {};
    if (j < n && s[j] == ',') ++j;
    if (!(j + 1 < n && s[j] == ' ' && is_digit(s[j + 1]))) return {};
    const candidate a = match_number_first(s, j + 1, g);
    return a.end ? candidate{a.end, entity_type::address, a.confidence} : candidate{};
}

// Street word first: German "Hauptstraße 5", "Berliner Straße 12a"; Polish
// "ul. Marszałkowska 10" (the prefix is at pos).
inline candidate match_street_first(std::string_view s, std::size_t pos, const gazetteers& g) {
    const std::size_t n = s.size();
    std::size_t i = pos;
    const std::size_t pl = polish_street_prefix(s, pos);
    const bool polish = pl != pos;
    if (polish) {
        if (!(pl + 1 < n && s[pl] == ' ')) return {};
        i = pl + 1;
    }
    std::size_t e = i;
    for (int k = 0; k < 4; ++k) {
        const std::size_t b = k == 0 ? i : e + 1;
        if (k > 0 && !(e + 1 < n && s[e] == ' ')) return {};
        if (is_digit(s[b])) {
            if (k == 0) return {};
            // The house number: Polish after any name; German after a street word.
            const std::string_view last = s.substr(i, e - i);
            const std::size_t lw = last.rfind(' ') == std::string_view::npos ? 0 : last.rfind(' ') + 1;
            const std::string_view w = last.substr(lw);
            const bool german = german_street_word(w, true) || (k >= 2 && german_street_word(w, false));
            if (!polish && !german) return {};
            const std::size_t hn = house_number(s, b);
            if (!hn) return {};
            const tail_result t = tail(s, hn, g);
            if (!t.located && looks_like_year(s, b, hn)) return {};  // a postcode or city says it is a number
            return {t.end, entity_type::address, t.located ? 0.95f : 0.85f};
        }
        const std::size_t x = word_at(s, b);
        if (x == b || !capitalised(s, b) || is_stopword(s.substr(b, x - b))) return {};
        e = x;
        // "Str." ends a German street name; the number follows the dot.
        if (!polish && e + 2 < n && s[e] == '.' && s[e + 1] == ' ' && is_digit(s[e + 2]) &&
            (ends_with_ci(s.substr(b, x - b), "str") && x - b >= 3)) {
            const std::size_t hn = house_number(s, e + 2);
            if (!hn) return {};
            const tail_result t = tail(s, hn, g);
            if (!t.located && looks_like_year(s, e + 2, hn)) return {};
            return {t.end, entity_type::address, t.located ? 0.95f : 0.85f};
        }
    }
    return {};
}

}  // namespace address

}  // namespace lethe::privacy::detail
