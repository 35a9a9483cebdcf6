// lethe/guidance/decode.hpp - batched (CFG) decoding over any lethe::causal_lm.
//
// Each request owns one slot for its conditional context and, when it has a
// negative prompt, a second slot for the negative context. All slots of all
// live requests run as the rows of ONE prefill and then ONE step call per
// generated token (the paper's "batch of two rows"); both contexts of a
// request append the token chosen from the combined row. Per step and request:
//   unguided   row = cfg_conditional(cond)              (log_softmax for space log)
//   guided     row = cfg_combine(cond, neg, g)          (space chosen in options)
// then the sampler chain picks the token with philox_uniform(seed, request
// index, step), so a request's tokens do not depend on the other requests in
// the batch, the policy or the thread count. For cfg_space::prob the combined
// probabilities are clamped and renormalised (prob_sample) and the chain sees
// their logarithms; argmax is unchanged by that.
// Stops, checked in this order after each token: a stop token (not appended),
// a stop string in the detokenised text (text cut before it; its token stays
// in `tokens`), max_new_tokens, a full context (model.max_length()).
// The streaming callback sees each appended token as it is chosen (a stop
// string's own pieces are streamed before the match is known).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"
#include "cfg.hpp"
#include "sampler.hpp"
#include "sampler_config.hpp"

namespace lethe::guidance {

struct generation_request {
    std::vector<token_id> prompt;           // conditional context, non-empty
    std::vector<token_id> negative_prompt;  // empty: unguided (then guidance_scale must be 1)
    float guidance_scale = 1.0f;            // g >= 0
    std::optional<std::uint64_t> seed;      // default: the sampler config's seed
};

enum class stop_reason { max_new_tokens, stop_token, stop_string, context_full };
const char* to_string(stop_reason r) noexcept;

struct generation_result {
    std::vector<token_id> tokens;  // generated tokens (without a final stop token)
    std::string text;              // detokenised, cut before a stop string (empty without a detokenizer)
    stop_reason reason = stop_reason::max_new_tokens;
};

struct token_event {
    index_t request;
    index_t step;
    token_id token;
    std::string_view piece;  // empty without a detokenizer
};

struct generation_options {
    cfg_space space = cfg_space::log;
    sampler_config sampler;
    std::function<std::string(token_id)> detokenize;  // required for stop strings
    std::function<void(const token_event&)> on_token;  // streaming callback
};

// Counts model calls, so tests and benchmarks can see the batching.
struct decode_stats {
    index_t prefill_calls = 0;
    index_t step_calls = 0;
    index_t rows_stepped = 0;
};

template <execution_policy P, causal_lm M>
std::vector<generation_result> generate(const P& pol, M& model, std::span<const generation_request> requests,
                                        const generation_options& options, decode_stats* stats = nullptr);

}  // namespace lethe::guidance

#include "decode_impl.hpp"
