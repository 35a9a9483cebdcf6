// A causal_lm for the eval tests whose continuation is scripted: at the first
// prefill after a reset, script(prompt text) decides the whole continuation;
// every later position puts logit `confidence` on its next byte (EOS after
// the end) and 0 on every other token. So a test decides exactly what the
// model "knows" and what it leaks.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include <lethe/core/causal_lm.hpp>
#include <lethe/core/error.hpp>
#include <lethe/eval/tokenizer.hpp>

namespace eval_test {

class scripted_lm {
public:
    using script_fn = std::function<std::string(const std::string& prompt)>;
    scripted_lm(script_fn script, lethe::index_t slots = 8, float confidence = 8.0f)
        : script_(std::move(script)), confidence_(confidence), slots_(static_cast<std::size_t>(slots)) {}

    lethe::index_t vocab_size() const noexcept { return 259; }  // byte_tokenizer with ChatML markers
    lethe::index_t num_slots() const noexcept { return static_cast<lethe::index_t>(slots_.size()); }
    lethe::index_t max_length() const noexcept { return 4096; }
    lethe::index_t length(lethe::index_t s) const { return static_cast<lethe::index_t>(at(s).history.size()); }
    void reset(lethe::index_t s) { at(s) = slot{}; }
    void fork(lethe::index_t src, lethe::index_t dst) { at(dst) = at(src); }

    void prefill(std::span<const lethe::index_t> slots, std::span<const std::span<const lethe::token_id>> tokens,
                 lethe::view2<float> logits) {
        for (std::size_t r = 0; r < slots.size(); ++r) {
            slot& s = at(slots[r]);
            s.history.insert(s.history.end(), tokens[r].begin(), tokens[r].end());
            if (!s.scripted) {
                s.prompt_len = s.history.size();
                s.continuation = script_(tok_.decode(s.history));
                s.scripted = true;
            }
            write(s, logits, static_cast<lethe::index_t>(r));
        }
        ++prefill_calls;
    }
    void step(std::span<const lethe::index_t> slots, std::span<const lethe::token_id> next, lethe::view2<float> logits) {
        for (std::size_t r = 0; r < slots.size(); ++r) {
            slot& s = at(slots[r]);
            s.history.push_back(next[r]);
            write(s, logits, static_cast<lethe::index_t>(r));
        }
        ++step_calls;
    }

    lethe::index_t prefill_calls = 0, step_calls = 0;

private:
    struct slot {
        std::vector<lethe::token_id> history;
        std::size_t prompt_len = 0;
        std::string continuation;
        bool scripted = false;
    };
    slot& at(lethe::index_t s) {
        lethe::require(s >= 0 && s < num_slots(), "scripted_lm", "slot ", s, " out of range");
        return slots_[static_cast<std::size_t>(s)];
    }
    const slot& at(lethe::index_t s) const { return const_cast<scripted_lm*>(this)->at(s); }
    void write(const slot& s, lethe::view2<float> logits, lethe::index_t row) const {
        for (lethe::index_t j = 0; j < 259; ++j) logits(row, j) = 0.0f;
        const std::size_t g = s.history.size() - s.prompt_len;
        const lethe::token_id next = g < s.continuation.size()
                                         ? static_cast<lethe::token_id>(static_cast<unsigned char>(s.continuation[g]))
                                         : lethe::eval::byte_tokenizer::eos_id;
        logits(row, next) = confidence_;
    }

    script_fn script_;
    float confidence_;
    std::vector<slot> slots_;
    lethe::eval::byte_tokenizer tok_;
};

static_assert(lethe::causal_lm<scripted_lm>);

}  // namespace eval_test
