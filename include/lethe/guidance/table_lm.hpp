// lethe/guidance/table_lm.hpp - a tiny causal_lm for tests and examples.
//
// logits(next | context) = bigram[last token] + context_bias[first token]:
// the first token plays the role of the system sentence (it steers the whole
// continuation, as the POS/NEG system prompts of arXiv 2412.06846 do) and the
// last one gives local grammar. Slots hold real token histories, so reset,
// fork, length and max_length behave as in a transformer's KV cache. It also
// counts calls and rows, so tests can check that CFG runs as one batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/view.hpp"

namespace lethe::guidance {

class table_lm {
public:
    // bigram and context_bias are [vocab, vocab], row-major.
    table_lm(index_t vocab, index_t num_slots, index_t max_length, std::vector<float> bigram,
             std::vector<float> context_bias)
        : vocab_(vocab), max_length_(max_length), bigram_(std::move(bigram)), context_(std::move(context_bias)),
          slots_(static_cast<std::size_t>(num_slots)) {
        require(vocab > 0 && num_slots > 0 && max_length > 0, "table_lm", "vocab, slots and max_length must be > 0");
        require(bigram_.size() == static_cast<std::size_t>(vocab * vocab), "table_lm", "bigram table has ",
                bigram_.size(), " entries, expected ", vocab * vocab);
        require(context_.size() == static_cast<std::size_t>(vocab * vocab), "table_lm", "context table has ",
                context_.size(), " entries, expected ", vocab * vocab);
    }

    // A random model: N(0, scale) tables from a fixed seed (SplitMix64 +
    // Box-Muller, so the tables are the same on every standard library).
    static table_lm random(index_t vocab, index_t num_slots, index_t max_length, std::uint64_t seed,
                           float scale = 2.0f) {
        std::vector<float> b(static_cast<std::size_t>(vocab * vocab)), c(b.size());
        std::uint64_t s = seed;
        auto next = [&s]() {
            std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            return (static_cast<double>((z ^ (z >> 31)) >> 11) + 0.5) * 0x1p-53;
        };
        auto normal = [&]() { return std::sqrt(-2.0 * std::log(next())) * std::cos(6.283185307179586 * next()); };
        for (auto& x : b) x = static_cast<float>(scale * normal());
        for (auto& x : c) x = static_cast<float>(0.5 * scale * normal());
        return table_lm(vocab, num_slots, max_length, std::move(b), std::move(c));
    }

    index_t vocab_size() const noexcept { return vocab_; }
    index_t num_slots() const noexcept { return static_cast<index_t>(slots_.size()); }
    index_t max_length() const noexcept { return max_length_; }
    index_t length(index_t slot) const {
        check_slot(slot, "table_lm::length");
        return static_cast<index_t>(slots_[static_cast<std::size_t>(slot)].size());
    }
    void reset(index_t slot) {
        check_slot(slot, "table_lm::reset");
        slots_[static_cast<std::size_t>(slot)].clear();
    }
    void fork(index_t src, index_t dst) {
        check_slot(src, "table_lm::fork");
        check_slot(dst, "table_lm::fork");
        slots_[static_cast<std::size_t>(dst)] = slots_[static_cast<std::size_t>(src)];
    }

    void prefill(std::span<const index_t> slots, std::span<const std::span<const token_id>> tokens,
                 view2<float> logits) {
        constexpr const char* where = "table_lm::prefill";
        require(slots.size() == tokens.size(), where, slots.size(), " slots but ", tokens.size(), " token spans");
        check_batch(slots, logits, where);
        for (std::size_t r = 0; r < slots.size(); ++r) {
            require(!tokens[r].empty(), where, "row ", r, ": empty token span");
            for (std::size_t k = 0; k < tokens[r].size(); ++k) check_token(tokens[r][k], where, r);
            require(length(slots[r]) + static_cast<index_t>(tokens[r].size()) <= max_length_, where, "row ", r,
                    ": slot ", slots[r], " would hold more than max_length = ", max_length_, " tokens");
        }
        for (std::size_t r = 0; r < slots.size(); ++r) {
            auto& s = slots_[static_cast<std::size_t>(slots[r])];
            s.insert(s.end(), tokens[r].begin(), tokens[r].end());
            write_logits(s, logits, static_cast<index_t>(r));
        }
        ++prefill_calls;
        rows_evaluated += static_cast<index_t>(slots.size());
    }

    void step(std::span<const index_t> slots, std::span<const token_id> next, view2<float> logits) {
        constexpr const char* where = "table_lm::step";
        require(slots.size() == next.size(), where, slots.size(), " slots but ", next.size(), " tokens");
        check_batch(slots, logits, where);
        for (std::size_t r = 0; r < slots.size(); ++r) {
            check_token(next[r], where, r);
            require(length(slots[r]) + 1 <= max_length_, where, "row ", r, ": slot ", slots[r], " is full");
            require(length(slots[r]) > 0, where, "row ", r, ": slot ", slots[r], " is empty (prefill it first)");
        }
        for (std::size_t r = 0; r < slots.size(); ++r) {
            auto& s = slots_[static_cast<std::size_t>(slots[r])];
            s.push_back(next[r]);
            write_logits(s, logits, static_cast<index_t>(r));
        }
        ++step_calls;
        rows_evaluated += static_cast<index_t>(slots.size());
    }

    std::span<const token_id> tokens(index_t slot) const {
        check_slot(slot, "table_lm::tokens");
        return slots_[static_cast<std::size_t>(slot)];
    }

    index_t prefill_calls = 0, step_calls = 0, rows_evaluated = 0;

private:
    void check_slot(index_t slot, const char* where) const {
        require(slot >= 0 && slot < num_slots(), where, "slot ", slot, " outside [0, ", num_slots(), ")");
    }
    void check_token(token_id t, const char* where, std::size_t row) const {
        require(t >= 0 && t < vocab_, where, "row ", row, ": token id ", t, " outside [0, ", vocab_, ")");
    }
    void check_batch(std::span<const index_t> slots, const view2<float>& logits, const char* where) const {
        require(logits.extent(0) == static_cast<index_t>(slots.size()) && logits.extent(1) == vocab_, where,
                "logits are [", logits.extent(0), ", ", logits.extent(1), "], expected [", slots.size(), ", ", vocab_,
                "]");
        for (std::size_t r = 0; r < slots.size(); ++r) {
            check_slot(slots[r], where);
            for (std::size_t q = 0; q < r; ++q)
                require(slots[q] != slots[r], where, "slot ", slots[r], " appears twice in one batch");
        }
    }
    void write_logits(const std::vector<token_id>& s, const view2<float>& logits, index_t row) const {
        const auto first = static_cast<std::size_t>(s.front()), last = static_cast<std::size_t>(s.back());
        const auto V = static_cast<std::size_t>(vocab_);
        for (std::size_t j = 0; j < V; ++j)
            logits(row, static_cast<index_t>(j)) = bigram_[last * V + j] + context_[first * V + j];
    }

    index_t vocab_, max_length_;
    std::vector<float> bigram_, context_;
    std::vector<std::vector<token_id>> slots_;
};

static_assert(causal_lm<table_lm>);

}  // namespace lethe::guidance
