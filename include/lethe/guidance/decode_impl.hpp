// lethe/guidance/decode_impl.hpp - the loop behind decode.hpp.
#pragma once

#include <cmath>

#include "decode.hpp"

namespace lethe::guidance {

inline const char* to_string(stop_reason r) noexcept {
    switch (r) {
        case stop_reason::max_new_tokens: return "max_new_tokens";
        case stop_reason::stop_token: return "stop_token";
        case stop_reason::stop_string: return "stop_string";
        case stop_reason::context_full: return "context_full";
    }
    return "?";
}

namespace detail {

inline void check_ids(std::span<const token_id> ids, index_t vocab, index_t request, const char* what) {
    for (std::size_t k = 0; k < ids.size(); ++k)
        if (ids[k] < 0 || ids[k] >= vocab)
            fail("generate", "request ", request, ": ", what, " token ", k, " has id ", ids[k], ", outside [0, ",
                 vocab, ")");
}

struct live_request {
    index_t index = 0;      // into requests / results
    index_t cond_slot = 0;  // model slot of the conditional context
    index_t neg_slot = -1;  // -1 when unguided
    index_t cond_row = 0;  // rows of the last model call
    index_t neg_row = 0;
    std::vector<token_id> history;  // prompt + generated, for the penalties
    bool done = false;
};

}  // namespace detail

template <execution_policy P, causal_lm M>
std::vector<generation_result> generate(const P& pol, M& model, std::span<const generation_request> requests,
                                        const generation_options& options, decode_stats* stats) {
    static_assert(runs_on_host_v<P>, "generate: causal_lm logits are host memory; use a host policy");
    constexpr const char* where = "generate";
    const index_t V = model.vocab_size();
    const sampler_config& cfg = options.sampler;
    cfg.validate(V);
    require(cfg.stop_strings.empty() || static_cast<bool>(options.detokenize), where,
            "stop_strings need a detokenize function");

    // Validate every request before touching the model.
    std::vector<detail::live_request> live;
    index_t next_slot = 0;
    for (std::size_t r = 0; r < requests.size(); ++r) {
        const auto& q = requests[r];
        const auto ri = static_cast<index_t>(r);
        require(!q.prompt.empty(), where, "request ", ri, ": empty prompt");
        detail::check_ids(q.prompt, V, ri, "prompt");
        detail::check_ids(q.negative_prompt, V, ri, "negative_prompt");
        require(q.guidance_scale >= 0.0f && std::isfinite(q.guidance_scale), where, "request ", ri,
                ": guidance scale g = ", q.guidance_scale, " must be finite and >= 0");
        require(!q.negative_prompt.empty() || q.guidance_scale == 1.0f, where, "request ", ri, ": guidance scale ",
                q.guidance_scale, " needs a negative_prompt (g = 1 without one decodes unguided)");
        detail::live_request lr;
        lr.index = ri;
        lr.cond_slot = next_slot++;
        lr.neg_slot = -1;
        if (!q.negative_prompt.empty()) lr.neg_slot = next_slot++;
        lr.history = q.prompt;
        live.push_back(std::move(lr));
    }
    require(next_slot <= model.num_slots(), where, requests.size(), " requests need ", next_slot,
            " slots, the model has ", model.num_slots());

    std::vector<generation_result> results(requests.size());
    if (requests.empty()) return results;
    if (cfg.max_new_tokens == 0) return results;

    // One prefill for every context of every request.
    std::vector<index_t> slots;
    std::vector<std::span<const token_id>> spans;
    for (auto& lr : live) {
        const auto& q = requests[static_cast<std::size_t>(lr.index)];
        model.reset(lr.cond_slot);
        lr.cond_row = static_cast<index_t>(slots.size());
        slots.push_back(lr.cond_slot);
        spans.emplace_back(q.prompt);
        if (lr.neg_slot >= 0) {
            model.reset(lr.neg_slot);
            lr.neg_row = static_cast<index_t>(slots.size());
            slots.push_back(lr.neg_slot);
            spans.emplace_back(q.negative_prompt);
        }
    }
    std::vector<float> logits(static_cast<std::size_t>(next_slot * V));
    model.prefill(std::span<const index_t>(slots), std::span<const std::span<const token_id>>(spans),
                  make_view(logits.data(), static_cast<index_t>(slots.size()), V));
    if (stats) ++stats->prefill_calls;

    const auto n_req = static_cast<index_t>(requests.size());
    const index_t N = cfg.penalty_last_n;
    std::vector<float> guided(static_cast<std::size_t>(n_req * V));
    std::vector<token_id> hist(static_cast<std::size_t>(std::max<index_t>(n_req * N, 1)), -1);
    std::vector<token_id> chosen(static_cast<std::size_t>(n_req));
    std::vector<std::uint64_t> seeds(static_cast<std::size_t>(n_req)), streams(static_cast<std::size_t>(n_req));
    sampler_workspace ws;
    ws.resize(n_req, V);
    const sampler_params params = cfg.resolved();
    const cfg_space space = options.space == cfg_space::prob ? cfg_space::prob_sample : options.space;
    const bool prob_form = space == cfg_space::prob_sample;
    std::size_t longest_stop = 0;
    for (const auto& s : cfg.stop_strings) longest_stop = std::max(longest_stop, s.size());

    std::vector<detail::live_request*> active;
    std::vector<token_id> next;
    for (std::uint64_t step = 0;; ++step) {
        active.clear();
        for (auto& lr : live)
            if (!lr.done) active.push_back(&lr);
        if (active.empty()) break;
        const auto A = static_cast<index_t>(active.size());
        const auto rows_in = make_view(static_cast<const float*>(logits.data()), static_cast<index_t>(slots.size()), V);
        const auto out = make_view(guided.data(), A, V);

        // Combine each request's rows into one row of `guided`.
        for (index_t a = 0; a < A; ++a) {
            const auto& lr = *active[static_cast<std::size_t>(a)];
            const auto& q = requests[static_cast<std::size_t>(lr.index)];
            const auto cond = rows_in.slice_rows(lr.cond_row, 1);
            if (lr.neg_slot < 0) {
                cfg_conditional(pol, cond, out.slice_rows(a, 1), space);
            } else {
                const auto neg = rows_in.slice_rows(lr.neg_row, 1);
                cfg_combine_one(pol, cond, neg, out.slice_rows(a, 1), cfg_params::make(space, q.guidance_scale));
            }
            if (prob_form) {
                float* row = guided.data() + a * V;
                for (index_t j = 0; j < V; ++j) row[j] = row[j] > 0.0f ? std::log(row[j]) : neg_inf<float>();
            }
            // The last N tokens of the context, right-aligned, -1 padded.
            token_id* h = hist.data() + a * N;
            const auto L = static_cast<index_t>(lr.history.size());
            for (index_t t = 0; t < N; ++t) {
                const index_t src = L - N + t;
                h[t] = src >= 0 ? lr.history[static_cast<std::size_t>(src)] : -1;
            }
            seeds[static_cast<std::size_t>(a)] = q.seed.value_or(cfg.seed);
            streams[static_cast<std::size_t>(a)] = static_cast<std::uint64_t>(lr.index);
        }
        sampler_streams<host_space> st{make_view(static_cast<const std::uint64_t*>(seeds.data()), A),
                                       make_view(static_cast<const std::uint64_t*>(streams.data()), A), step};
        sample_rows(pol, make_view(static_cast<const float*>(guided.data()), A, V),
                    make_view(static_cast<const token_id*>(hist.data()), A, N), make_view(chosen.data(), A), params, st,
                    ws.view());

        // Accept tokens, apply the stop rules, collect the next batch.
        slots.clear();
        next.clear();
        for (index_t a = 0; a < A; ++a) {
            auto& lr = *active[static_cast<std::size_t>(a)];
            auto& res = results[static_cast<std::size_t>(lr.index)];
            const token_id t = chosen[static_cast<std::size_t>(a)];
            if (std::find(cfg.stop_tokens.begin(), cfg.stop_tokens.end(), t) != cfg.stop_tokens.end()) {
                res.reason = stop_reason::stop_token;
                lr.done = true;
                continue;
            }
            res.tokens.push_back(t);
            lr.history.push_back(t);
            std::string piece;
            if (options.detokenize) piece = options.detokenize(t);
            if (options.on_token) options.on_token(token_event{lr.index, static_cast<index_t>(step), t, piece});
            if (!piece.empty()) {
                const std::size_t from = res.text.size() > longest_stop ? res.text.size() - longest_stop : 0;
                res.text += piece;
                std::size_t cut = std::string::npos;
                for (const auto& s : cfg.stop_strings) cut = std::min(cut, res.text.find(s, from));
                if (cut != std::string::npos) {
                    res.text.resize(cut);
                    res.reason = stop_reason::stop_string;
                    lr.done = true;
                    continue;
                }
            }
            if (static_cast<index_t>(res.tokens.size()) >= cfg.max_new_tokens) {
                res.reason = stop_reason::max_new_tokens;
                lr.done = true;
                continue;
            }
            const bool full = model.length(lr.cond_slot) + 1 > model.max_length() ||
                              (lr.neg_slot >= 0 && model.length(lr.neg_slot) + 1 > model.max_length());
            if (full) {
                res.reason = stop_reason::context_full;
                lr.done = true;
                continue;
            }
            lr.cond_row = static_cast<index_t>(slots.size());
            slots.push_back(lr.cond_slot);
            next.push_back(t);
            if (lr.neg_slot >= 0) {
                lr.neg_row = static_cast<index_t>(slots.size());
                slots.push_back(lr.neg_slot);
                next.push_back(t);
            }
        }
        if (slots.empty()) break;
        model.step(std::span<const index_t>(slots), std::span<const token_id>(next),
                   make_view(logits.data(), static_cast<index_t>(slots.size()), V));
        if (stats) {
            ++stats->step_calls;
            stats->rows_stepped += static_cast<index_t>(slots.size());
        }
    }
    return results;
}

}  // namespace lethe::guidance
