// lethe/model/kv_slots.hpp - the host-side bookkeeping of a model's KV-cache
// slots (how many tokens each sequence holds), shared by the CPU model
// (llama.hpp) and the thrust one (thrust_llama.hpp): checks on slot ids,
// batch validation before any state changes, and the length updates after a
// batch has run. The caches themselves stay with each model (host vectors or
// device memory).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/config.hpp"
#include "../core/error.hpp"

namespace lethe::model {

class kv_slot_table {
public:
    // Tokens in a validated batch, and the longest sequence it leaves.
    struct batch_extent {
        index_t tokens = 0;
        index_t longest = 1;
    };

    void resize(index_t slots, const char* where) {
        require(slots >= 0, where, "slots must be >= 0, got ", slots);
        lengths_.assign(std::size_t(slots), 0);
    }
    index_t size() const noexcept { return index_t(lengths_.size()); }

    void check(index_t slot, const char* where) const {
        require(slot >= 0 && slot < size(), where, "slot ", slot, " out of range [0, ", size(),
                ") (call set_num_slots first)");
    }
    index_t length(index_t slot, const char* where) const {
        check(slot, where);
        return lengths_[std::size_t(slot)];
    }
    // Unchecked (after check or validate).
    index_t operator[](index_t slot) const noexcept { return lengths_[std::size_t(slot)]; }

    void reset(index_t slot, const char* where) {
        check(slot, where);
        lengths_[std::size_t(slot)] = 0;
    }
    // fork(src, dst): checks both and gives dst src's length; the model copies
    // the cache rows.
    index_t fork(index_t src, index_t dst, const char* where) {
        check(src, where);
        check(dst, where);
        return lengths_[std::size_t(dst)] = lengths_[std::size_t(src)];
    }

    // Checks a batch (row r appends rows[r] to slot slots[r]) before anything
    // runs: one slot per row; known, distinct slots; no empty row; room in
    // each slot; token ids in the vocabulary.
    batch_extent validate(std::span<const index_t> slots, std::span<const std::span<const token_id>> rows,
                          index_t vocab, index_t max_seq, const char* where) const {
        batch_extent e;
        const index_t R = index_t(rows.size());
        require(R > 0, where, "empty batch");
        require(index_t(slots.size()) == R, where, "slots (", slots.size(), ") and token rows (", R, ") differ in count");
        for (index_t r = 0; r < R; ++r) {
            const index_t s = slots[std::size_t(r)];
            check(s, where);
            for (index_t r2 = 0; r2 < r; ++r2)
                require(slots[std::size_t(r2)] != s, where, "rows ", r2, " and ", r, " both use slot ", s);
            const auto& toks = rows[std::size_t(r)];
            require(!toks.empty(), where, "row ", r, ": empty token span");
            const index_t end = lengths_[std::size_t(s)] + index_t(toks.size());
            require(end <= max_seq, where, "row ", r, ": slot ", s, " would hold ", end, " tokens, more than max_length ",
                    max_seq);
            for (std::size_t i = 0; i < toks.size(); ++i)
                require(toks[i] >= 0 && toks[i] < vocab, where, "row ", r, ", token ", i, ": id ", toks[i],
                        " outside [0, ", vocab, ")");
            e.tokens += index_t(toks.size());
            e.longest = std::max(e.longest, end);
        }
        return e;
    }
    // A decode step's batch: one row of one token per slot.
    static void step_rows(std::span<const token_id> next, std::vector<std::span<const token_id>>& rows) {
        rows.clear();
        for (std::size_t r = 0; r < next.size(); ++r) rows.push_back(next.subspan(r, 1));
    }
    // After the batch ran: each slot holds its row's tokens too.
    void advance(std::span<const index_t> slots, std::span<const std::span<const token_id>> rows) noexcept {
        for (std::size_t r = 0; r < rows.size(); ++r) lengths_[std::size_t(slots[r])] += index_t(rows[r].size());
    }

private:
    std::vector<index_t> lengths_;
};

}  // namespace lethe::model
