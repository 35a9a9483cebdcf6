// lethe/core/causal_lm.hpp - the concept every decodable language model meets.
//
// Decoding (guidance), evaluation and the recipe depend only on this concept;
// the reference transformer, test models and users' own engines satisfy it.
// A model holds up to num_slots() sequences ("slots"), each with its own KV
// state. Calls take a batch of slots, so the conditional and the negative
// context of classifier-free guidance run as rows of one batch per step.
//
//   m.vocab_size()                 -> index_t
//   m.num_slots()                  -> index_t   sequences the model can hold
//   m.max_length()                 -> index_t   tokens a slot can hold
//   m.length(slot)                 -> index_t   tokens in the slot now
//   m.reset(slot)                               empty the slot
//   m.fork(src, dst)                            dst becomes a copy of src
//   m.prefill(slots, tokens, logits)            append tokens[r] (a span of
//        ids, non-empty) to slot slots[r]; logits row r = last position's
//   m.step(slots, next, logits)                 append one id per slot;
//        logits row r = that position's logits
// `logits` is a host view2<float> [slots.size(), vocab_size()]. Errors (slot
// out of range, token id >= vocab, sequence longer than max_length) throw
// lethe::error before any state changes.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "config.hpp"
#include "view.hpp"

namespace lethe {

using token_id = std::int32_t;

template <class M>
concept causal_lm = requires(M& m, const M& cm, index_t slot, std::span<const index_t> slots,
                             std::span<const std::span<const token_id>> tokens, std::span<const token_id> next,
                             view2<float> logits) {
    { cm.vocab_size() } -> std::convertible_to<index_t>;
    { cm.num_slots() } -> std::convertible_to<index_t>;
    { cm.max_length() } -> std::convertible_to<index_t>;
    { cm.length(slot) } -> std::convertible_to<index_t>;
    m.reset(slot);
    m.fork(slot, slot);
    m.prefill(slots, tokens, logits);
    m.step(slots, next, logits);
};

}  // namespace lethe
