// lethe/privacy/scanner.hpp - finds personal data in text in one linear pass.
//
// No regular-expression engine: a hand-written scanner walks the text once,
// and at each word start tries a fixed set of bounded recognisers (digit
// groups, e-mail around an '@', URL, IPv6, IBAN, dates, placeholders, street
// addresses (address_impl.hpp), names).
// Every recogniser either reads a bounded number of bytes or consumes what it
// reads, so the total work is O(text size) on any input.
//
// Byte offsets and UTF-8. Spans are byte offsets into the text. Every span
// starts and ends at an ASCII byte or at the edge of a whole word, and the
// scanner treats every byte >= 0x80 as a letter, so a span never splits a
// well-formed code point. Invalid UTF-8 is never an error: each maximal
// ill-formed subpart (Unicode 15, 3.9) is a boundary, and the well-formed text
// on either side is scanned as a text of its own, so "555-123-4567\xFF" still
// yields the phone number and no span covers a bad byte. Use
// first_invalid_utf8() (core/utf8.hpp) to report such input.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "entity.hpp"
#include "gazetteer.hpp"

namespace lethe::privacy {

struct scanner_options {
    entity_set types = entity_set::all();  // what to report
    float min_confidence = 0.5f;           // spans below are dropped
    // PERSON/LOCATION from context alone ("my name is Xyz", "I live in Xyz")
    // for words not in the gazetteers, at confidence 0.6.
    bool context_names = true;
};

class scanner {
public:
    scanner() : scanner(scanner_options{}) {}
    explicit scanner(scanner_options options, std::shared_ptr<const gazetteers> lists = gazetteers::defaults())
        : options_(options), lists_(std::move(lists)) {
        require(lists_ != nullptr, "lethe::privacy::scanner", "gazetteers must not be null");
    }

    // Clears `out` and fills it with the spans found, sorted by begin and
    // never overlapping (on overlap the earlier, then the longer, span wins).
    void scan(std::string_view text, std::vector<entity_span>& out) const;

    std::vector<entity_span> scan(std::string_view text) const {
        std::vector<entity_span> out;
        scan(text, out);
        return out;
    }

    // True when the text holds at least one span of a type in `types`.
    bool contains_any(std::string_view text, entity_set types = entity_set::all_pii()) const {
        std::vector<entity_span> spans;
        scan(text, spans);
        for (const auto& s : spans)
            if (types.contains(s.type)) return true;
        return false;
    }

    const scanner_options& options() const noexcept { return options_; }
    const gazetteers& lists() const noexcept { return *lists_; }

private:
    void scan_well_formed(std::string_view text, std::vector<entity_span>& out) const;

    scanner_options options_;
    std::shared_ptr<const gazetteers> lists_;
};

}  // namespace lethe::privacy

#include "scanner_impl.hpp"
