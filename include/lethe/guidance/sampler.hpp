// lethe/guidance/sampler.hpp - the sampler chain: from a logit row to a token.
//
// Each row is processed by one thread in a fixed order, so a row's token is
// a function of (logits, history, params, seed, stream, step) only: the same
// on seq, par (any thread count) and thrust's CPP/OMP systems, bit for bit.
// On CUDA the device expf may differ from the host's exp_fast by an ulp, which
// can only matter when the uniform draw falls within rounding of a boundary.
//
// The chain works on a candidate list (id, value) per row, like llama.cpp's
// token-data array. Steps, applied in the user's order (default order below):
//   logit_bias   value[id] += bias                   (llama.cpp --logit-bias)
//   banned       value[id] = -inf
//   penalties    over the last N history tokens, each distinct token t with
//                count c: repetition (CTRL, Keskar et al. 2019, as llama.cpp):
//                v > 0 ? v / r : v * r; then v -= c * frequency + presence
//                (OpenAI's frequency/presence penalties)
//   top_k        keep the k largest values (ties: lower id first); k = 0 off
//   typical      locally typical sampling (Meister et al. 2022): sort by
//                |-log p - H|, keep the shortest prefix with mass >= typical_p
//   top_p        nucleus (Holtzman et al. 2019): shortest prefix of the sorted
//                list with mass >= top_p; top_p = 1 off
//   min_p        keep p >= min_p * p_max (Nguyen et al. 2024); 0 off
//   temperature  v /= T; T = 0 means greedy
// then the final choice: greedy (argmax, ties to the lower id) or dist
// (inverse CDF of softmax over the list with u = philox_uniform(seed, stream,
// step)). Filters keep at least min_keep candidates. Probabilities inside the
// filters are those of the current values (before temperature when
// temperature comes later, as in llama.cpp's default chain).
// Default order: logit_bias, banned, penalties, top_k, typical, top_p, min_p,
// temperature, then dist (llama.cpp's documented default, minus the samplers
// lethe does not implement: DRY, top-n-sigma, XTC).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/numerics.hpp"
#include "../core/view.hpp"
#include "philox.hpp"

namespace lethe::guidance {

enum class sampler_step : std::uint8_t { logit_bias, banned, penalties, top_k, typical, top_p, min_p, temperature };
inline constexpr int max_chain_length = 16;

const char* to_string(sampler_step s) noexcept;
sampler_step parse_sampler_step(std::string_view name);

// Plain data, captured by value in kernels. The bias and banned arrays must
// live where the policy runs (device memory for a CUDA policy).
struct sampler_params {
    int chain_length = 8;
    sampler_step chain[max_chain_length] = {sampler_step::logit_bias, sampler_step::banned,  sampler_step::penalties,
                                            sampler_step::top_k,      sampler_step::typical, sampler_step::top_p,
                                            sampler_step::min_p,      sampler_step::temperature};
    bool greedy = false;  // final choice; temperature 0 also means greedy
    float temperature = 0.8f;
    int top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float typical_p = 1.0f;
    float repeat_penalty = 1.0f;
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int min_keep = 1;
    const token_id* bias_ids = nullptr;
    const float* bias_values = nullptr;
    index_t num_bias = 0;
    const token_id* banned_ids = nullptr;
    index_t num_banned = 0;
};

// Throws lethe::error for out-of-range settings (top_p outside (0, 1], ...).
void validate(const sampler_params& p, index_t vocab_size, const char* where = "sampler");

// Per-row scratch: ids, values and sort keys, [rows, vocab] each. Allocate
// once and reuse; sample_rows never allocates.
template <class Space = host_space>
struct sampler_workspace_view {
    strided_view<token_id, 2, Space> ids;
    strided_view<float, 2, Space> values;
    strided_view<float, 2, Space> keys;
};

struct sampler_workspace {
    std::vector<token_id> ids;
    std::vector<float> values, keys;
    index_t rows = 0, vocab = 0;
    void resize(index_t r, index_t v) {
        rows = r;
        vocab = v;
        const auto n = static_cast<std::size_t>(r * v);
        if (ids.size() < n) {
            ids.resize(n);
            values.resize(n);
            keys.resize(n);
        }
    }
    sampler_workspace_view<host_space> view() {
        return {make_view(ids.data(), rows, vocab), make_view(values.data(), rows, vocab),
                make_view(keys.data(), rows, vocab)};
    }
};

// Per-row randomness: token of row i uses philox_uniform(seed[i], stream[i], step).
template <class Space = host_space>
struct sampler_streams {
    strided_view<const std::uint64_t, 1, Space> seed;
    strided_view<const std::uint64_t, 1, Space> stream;
    std::uint64_t step = 0;
};

// tokens(i) = the chain applied to logits(i, :). history [rows, N] holds the
// last N tokens of each row's context (entries < 0 are padding). Throws
// lethe::error (naming the row) for NaN or +inf logits, and when every
// candidate of a row is -inf (all banned).
template <execution_policy P, class Logits, class History, class Tokens>
void sample_rows(const P& pol, const Logits& logits, const History& history, const Tokens& tokens,
                 const sampler_params& params, const sampler_streams<typename P::space>& streams,
                 const sampler_workspace_view<typename P::space>& ws);

}  // namespace lethe::guidance

#include "sampler_impl.hpp"
