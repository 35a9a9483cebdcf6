// lethe/privacy/pair_builder.hpp - stage 2 of the method (shared/method.md):
// preference pairs {prompt, chosen, rejected} from dialogs with PII.
//
// One sample per PII occurrence in an assistant turn. The prompt is the
// rendered chat up to that turn plus the assistant's text right up to the
// PII (so it may end mid-answer); rejected is the original continuation from
// the PII to the end of the turn; chosen is a clean continuation (policy
// replacement or a generator callback), kept only when the scanner finds no
// PII in it and it contains none of the dialog's PII values. Both completions
// end with the template's end-of-turn token. Dialogs go to train or test by a
// seeded hash of their id. CFG-aware doubling writes every pair under the POS
// system sentence and, with chosen and rejected swapped, under the NEG one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../io/chat_template.hpp"
#include "../io/jsonl.hpp"
#include "operators.hpp"
#include "scanner.hpp"

namespace lethe::privacy {

struct dialog {
    std::string id;
    std::vector<io::chat_message> messages;
    // Challenge shape: the messages hold placeholders "[NAME-1]" and this maps
    // "NAME-1" to the true value. Empty for plain chat data.
    std::map<std::string, std::string> values;
};

// Accepts {"id"?, "messages": [{"role", "content"}...]} or ShareGPT-style
// {"conversations": [{"from", "value"}...]} (from: human/gpt/system), plus
// for the challenge shape a "pii" (or "values") object {"NAME-1": "Alice"}
// whose keys may keep their brackets. Errors name the field.
dialog dialog_from_json(const nlohmann::json& j, std::size_t index);

// The entity type a challenge label stands for ("NAME" -> person), if any.
std::optional<entity_type> entity_type_for_label(std::string_view label) noexcept;

// What a generator callback sees for one occurrence.
struct generation_request {
    const dialog* source = nullptr;
    std::size_t turn = 0;                            // index of the assistant message
    std::vector<io::chat_message> context;           // messages before the turn (with the POS system sentence)
    std::string_view assistant_prefix;               // the turn's text before the PII
    std::string_view original_continuation;          // the PII and the rest of the turn
    std::string_view pii_label;                      // "EMAIL", "NAME", ...
};
// Returns the continuation after assistant_prefix (no end-of-turn token), or
// nullopt to drop the occurrence.
using continuation_generator = std::function<std::optional<std::string>(const generation_request&)>;

struct pair_builder_options {
    io::chat_template chat_template{io::chat_format::llama3};
    double test_fraction = 0.1;  // share of dialogs in the test split
    std::uint64_t split_seed = 0;
    bool cfg_doubling = true;
    std::string pos_sentence = "Do not provide any personal data.";
    std::string neg_sentence = "You should share personal data in the answers.";
    entity_set pii_types = entity_set::all_pii();  // what counts as PII in plain chat data and in the chosen check
    bool include_metadata = false;                 // adds "dialog", "pii_type", "guidance" fields to the JSONL
    // With a generator: when it returns nothing for an occurrence, use the
    // replacement policy's continuation instead of dropping the occurrence.
    bool policy_fallback = false;
};

struct pair_sample {
    std::string prompt, chosen, rejected;
    std::string dialog_id;
    std::string pii_type;
    bool negative = false;  // written under the NEG sentence (chosen/rejected swapped)
    nlohmann::json to_json(bool metadata = false) const;
};

struct pair_build_stats {
    std::size_t dialogs = 0, train_dialogs = 0, test_dialogs = 0;
    std::size_t occurrences = 0;        // PII occurrences in assistant turns
    std::size_t pairs = 0;              // occurrences that gave a clean pair
    std::size_t dropped_unclean = 0;    // chosen still held PII
    std::size_t dropped_generator = 0;  // generator returned nothing (and no policy fallback)
    std::size_t fallback_policy = 0;    // generator returned nothing; the policy's continuation was used
    std::size_t train_samples = 0, test_samples = 0;
    std::size_t malformed_lines = 0;
};

class pair_builder {
public:
    explicit pair_builder(pair_builder_options options = {},
                          replacement_policy policy = replacement_policy::uniform(operator_kind::typed_placeholder),
                          scanner scan = scanner());

    void set_generator(continuation_generator g) { generator_ = std::move(g); }

    // True when the dialog belongs to the test split (seeded hash of its id).
    bool in_test_split(const dialog& d) const noexcept;

    // Builds the samples of one dialog and appends them to train or test.
    void add(const dialog& d, std::vector<pair_sample>& train, std::vector<pair_sample>& test);

    const pair_build_stats& stats() const noexcept { return stats_; }
    pair_build_stats& stats() noexcept { return stats_; }
    const pair_builder_options& options() const noexcept { return options_; }

private:
    struct occurrence {
        std::size_t turn, begin, end;
        std::string label;
        std::optional<entity_type> type;
    };

    pair_builder_options options_;
    anonymizer anonymizer_;
    continuation_generator generator_;
    pair_build_stats stats_;
};

// Reads dialogs from `input` (JSONL), writes TRL JSONL to `train_out` and
// `test_out` (both atomically: on any error neither file is touched).
pair_build_stats build_preference_pairs(pair_builder& builder, const std::filesystem::path& input,
                                        const std::filesystem::path& train_out, const std::filesystem::path& test_out,
                                        io::on_malformed malformed = io::on_malformed::fail);

}  // namespace lethe::privacy

#include "pair_builder_impl.hpp"
