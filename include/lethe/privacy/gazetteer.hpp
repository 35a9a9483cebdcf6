// lethe/privacy/gazetteer.hpp - word lists for PERSON and LOCATION: defaults
// compiled in (name_lists.hpp), more loadable from files (one entry per line).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "../core/error.hpp"
#include "name_lists.hpp"
#include "validators.hpp"

namespace lethe::privacy {

// A set of phrases ("Paris", "New York", "Smith") matched exactly, case
// included: capitalisation is one of the cues the scanner relies on.
// Multi-word entries use single spaces.
class gazetteer {
public:
    gazetteer() = default;
    gazetteer(const gazetteer& o) { for (const auto& p : o.storage_) add(p); }
    gazetteer& operator=(const gazetteer& o) {
        if (this != &o) { gazetteer tmp(o); swap(tmp); }
        return *this;
    }
    gazetteer(gazetteer&&) noexcept = default;
    gazetteer& operator=(gazetteer&&) noexcept = default;
    void swap(gazetteer& o) noexcept {
        storage_.swap(o.storage_);
        set_.swap(o.set_);
        std::swap(max_words_, o.max_words_);
        std::swap(filter_, o.filter_);
    }

    // Adds one phrase; surrounding whitespace is trimmed, runs of inner
    // whitespace must already be single spaces. Invalid UTF-8 is rejected.
    void add(std::string_view phrase) {
        while (!phrase.empty() && (phrase.front() == ' ' || phrase.front() == '\t')) phrase.remove_prefix(1);
        while (!phrase.empty() && (phrase.back() == ' ' || phrase.back() == '\t' || phrase.back() == '\r'))
            phrase.remove_suffix(1);
        if (phrase.empty() || set_.count(phrase)) return;
        require(phrase.size() <= max_phrase_bytes, "lethe::privacy::gazetteer::add", "entry longer than ",
                max_phrase_bytes, " bytes");
        require(first_invalid_utf8(phrase) == phrase.size(), "lethe::privacy::gazetteer::add", "entry is not valid UTF-8");
        storage_.emplace_back(phrase);
        set_.insert(storage_.back());
        const std::string_view first = phrase.substr(0, phrase.find(' '));
        const std::size_t k = filter_key(first);
        filter_[k / 64] |= std::uint64_t{1} << (k % 64);
        std::size_t words = 1;
        for (char c : phrase) words += c == ' ';
        if (words > max_words_) max_words_ = words;
    }

    // Reads one entry per line; '#' starts a comment line. Errors name the line.
    void load_file(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        require(in.good(), "lethe::privacy::gazetteer::load_file", "cannot open '", path.string(), "'");
        std::string line;
        std::size_t line_no = 0;
        while (std::getline(in, line)) {
            ++line_no;
            if (!line.empty() && line[0] == '#') continue;
            try {
                add(line);
            } catch (const error& e) {
                fail("lethe::privacy::gazetteer::load_file", path.string(), ":", line_no, ": ", e.what());
            }
        }
    }

    bool contains(std::string_view phrase) const noexcept {
        return may_start_with(phrase.substr(0, phrase.find(' '))) && set_.find(phrase) != set_.end();
    }
    // False when no entry starts with `word`; true means "maybe". A 16 Kbit
    // filter on (first byte, last byte, length): most capitalised words that
    // are not names are rejected here without hashing.
    bool may_start_with(std::string_view word) const noexcept {
        if (word.empty()) return false;
        const std::size_t k = filter_key(word);
        return (filter_[k / 64] >> (k % 64)) & 1u;
    }
    std::size_t size() const noexcept { return storage_.size(); }
    std::size_t max_words() const noexcept { return max_words_; }
    // Entries in insertion order (used by the pseudonymiser to draw fakes).
    const std::deque<std::string>& entries() const noexcept { return storage_; }

    static constexpr std::size_t max_phrase_bytes = 128;

private:
    std::deque<std::string> storage_;  // deque: element addresses stay put, the set views them
    std::unordered_set<std::string_view> set_;
    std::size_t max_words_ = 0;
    std::array<std::uint64_t, 256> filter_{};

    static std::size_t filter_key(std::string_view w) noexcept {
        const auto b0 = static_cast<unsigned char>(w.front()), bl = static_cast<unsigned char>(w.back());
        return ((static_cast<std::size_t>(b0) * 131u + bl) * 31u + w.size()) & 0x3FFFu;
    }
};

// The three lists the scanner uses.
struct gazetteers {
    gazetteer first_names;
    gazetteer last_names;
    gazetteer locations;
    // Given names that are also English words ("Mark", "Will", "Roger"): a
    // person only when a listed surname follows ("Mark Goodman").
    gazetteer word_first_names;

    // The built-in lists: ~32k given names and ~32k surnames in their own
    // scripts (name_lists.hpp, generated from CC0 and MIT sources by
    // tools/gazetteer/make_names.py), and large cities and countries. Given
    // names that are also English words ("May", "Will", "Mark") and place
    // names that are ("Nice", "Reading") are left out on purpose.
    static std::shared_ptr<const gazetteers> defaults() {
        static const std::shared_ptr<const gazetteers> d = [] {
            auto g = std::make_shared<gazetteers>();
            for (auto w : name_lists::common_given_names) g->first_names.add(w);
            for (auto w : name_lists::common_surnames) g->last_names.add(w);
            add_lines(g->first_names, name_lists::given_names);
            add_lines(g->last_names, name_lists::surnames);
            add_lines(g->word_first_names, name_lists::word_given_names);
            for (auto w : default_locations) g->locations.add(w);
            return g;
        }();
        return d;
    }

    // Each chunk holds entries separated by '\n'.
    template <std::size_t N>
    static void add_lines(gazetteer& g, const std::string_view (&chunks)[N]) {
        for (std::string_view c : chunks)
            for (std::size_t b = 0, e; b < c.size(); b = e + 1) {
                e = c.find('\n', b);
                if (e == std::string_view::npos) e = c.size();
                g.add(c.substr(b, e - b));
            }
    }

    static constexpr std::string_view default_locations[] = {
        "London", "Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Vienna", "Prague", "Warsaw", "Budapest",
        "Amsterdam", "Brussels", "Copenhagen", "Stockholm", "Oslo", "Helsinki", "Dublin", "Edinburgh", "Manchester",
        "Birmingham", "Munich", "Hamburg", "Frankfurt", "Cologne", "Zurich", "Zürich", "Geneva", "Milan", "Naples",
        "Barcelona", "Valencia", "Seville", "Porto", "Athens", "Istanbul", "Moscow", "Kyiv", "Bucharest",
        "Belgrade", "Zagreb", "Krakow", "Kraków", "Lyon", "Marseille", "Toulouse", "Rotterdam", "Antwerp",
        "New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego",
        "Dallas", "San Jose", "San Francisco", "Seattle", "Boston", "Denver", "Miami", "Atlanta", "Detroit",
        "Washington", "Baltimore", "Portland", "Las Vegas", "New Orleans", "Toronto", "Montreal", "Vancouver",
        "Ottawa", "Mexico City", "Guadalajara", "Bogotá", "Lima", "Santiago", "Buenos Aires", "São Paulo",
        "Rio de Janeiro", "Caracas", "Havana", "Tokyo", "Osaka", "Kyoto", "Seoul", "Busan", "Beijing", "Shanghai",
        "Shenzhen", "Hong Kong", "Taipei", "Singapore", "Bangkok", "Hanoi", "Jakarta", "Manila", "Kuala Lumpur",
        "Mumbai", "Delhi", "New Delhi", "Bangalore", "Chennai", "Kolkata", "Karachi", "Lahore", "Dhaka", "Dubai",
        "Abu Dhabi", "Riyadh", "Tehran", "Baghdad", "Cairo", "Lagos", "Nairobi", "Johannesburg", "Cape Town",
        "Casablanca", "Sydney", "Melbourne", "Brisbane", "Perth", "Auckland", "Wellington",
        "United States", "United Kingdom", "Canada", "Mexico", "Brazil", "Argentina", "Chile", "Colombia", "Peru",
        "France", "Germany", "Spain", "Italy", "Portugal", "Netherlands", "Belgium", "Switzerland", "Austria",
        "Poland", "Sweden", "Norway", "Denmark", "Finland", "Ireland", "Scotland", "Greece", "Turkey", "Russia",
        "Ukraine", "Romania", "Hungary", "Japan", "China", "India", "Pakistan", "Bangladesh", "Indonesia",
        "Vietnam", "Thailand", "Philippines", "Australia", "New Zealand", "Egypt", "Nigeria", "Kenya",
        "South Africa", "Morocco", "Saudi Arabia", "Iran", "Iraq", "Israel", "California", "Texas", "Florida",
        "Ohio", "Michigan", "Oregon", "Bavaria", "Catalonia", "Ontario", "Quebec",
    };
};

}  // namespace lethe::privacy
