// lethe/recipe/pairs.hpp - stage 2 (replacement data) on the eval layer's
// dialogs: converts them to lethe::privacy dialogs and runs the privacy
// layer's pair builder (one pair per PII occurrence in an assistant turn,
// policy replacement or a generator checked by the scanner, CFG-aware
// doubling under the POS / NEG system sentences, split by dialog).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "../eval/dialog.hpp"
#include "../privacy/pair_builder.hpp"

namespace lethe::recipe {

// "[NAME-1]" -> "NAME-1" with the value; messages keep their placeholders
// (the privacy dialog's challenge shape).
inline privacy::dialog to_privacy_dialog(const eval::pii_dialog& d) {
    privacy::dialog out;
    out.id = d.id;
    for (const auto& t : d.turns) out.messages.push_back({std::string(eval::role_name(t.who)), t.text});
    for (const auto& v : d.values) out.values[v.placeholder.substr(1, v.placeholder.size() - 2)] = v.value;
    return out;
}

struct pair_split {
    std::vector<privacy::pair_sample> train, test;
    std::vector<std::size_t> train_dialogs, test_dialogs;  // indices into the input dialogs
    privacy::pair_build_stats stats;
};

// Runs `builder` over every dialog; the split follows the builder's seeded
// hash of each dialog id.
inline pair_split build_pairs(privacy::pair_builder& builder, std::span<const eval::pii_dialog> dialogs) {
    pair_split out;
    for (std::size_t i = 0; i < dialogs.size(); ++i) {
        const auto pd = to_privacy_dialog(dialogs[i]);
        (builder.in_test_split(pd) ? out.test_dialogs : out.train_dialogs).push_back(i);
        builder.add(pd, out.train, out.test);
    }
    out.stats = builder.stats();
    return out;
}

}  // namespace lethe::recipe
