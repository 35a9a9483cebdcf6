// lethe/guidance/sampler_impl.hpp - row kernels of the sampler chain.
//
// No allocation, recursion or exceptions: every function below runs inside a
// parallel_for body on the host or the device. Sorting is a heap sort
// (O(n log n), in place); top-k keeps a bounded heap of k while scanning the
// row once (O(V log k) worst case, about one compare per token in practice).
#pragma once

#include <cmath>

#include "sampler.hpp"

namespace lethe::guidance {

inline const char* to_string(sampler_step s) noexcept {
    switch (s) {
        case sampler_step::logit_bias: return "logit_bias";
        case sampler_step::banned: return "banned";
        case sampler_step::penalties: return "penalties";
        case sampler_step::top_k: return "top_k";
        case sampler_step::typical: return "typical";
        case sampler_step::top_p: return "top_p";
        case sampler_step::min_p: return "min_p";
        case sampler_step::temperature: return "temperature";
    }
    return "?";
}

inline sampler_step parse_sampler_step(std::string_view name) {
    for (int s = 0; s <= static_cast<int>(sampler_step::temperature); ++s)
        if (name == to_string(static_cast<sampler_step>(s))) return static_cast<sampler_step>(s);
    fail("sampler chain", "unknown step '", name,
         "' (expected logit_bias, banned, penalties, top_k, typical, top_p, min_p or temperature)");
}

inline void validate(const sampler_params& p, index_t vocab_size, const char* where) {
    const auto finite = [](float x) { return !is_nonfinite_bits(x); };
    require(p.chain_length >= 0 && p.chain_length <= max_chain_length, where, "chain length ", p.chain_length,
            " outside [0, ", max_chain_length, "]");
    require(p.top_p > 0.0f && p.top_p <= 1.0f, where, "top_p = ", p.top_p, " must lie in (0, 1]");
    require(p.top_k >= 0, where, "top_k = ", p.top_k, " must be >= 0 (0 disables it)");
    require(p.min_p >= 0.0f && p.min_p <= 1.0f, where, "min_p = ", p.min_p, " must lie in [0, 1]");
    require(p.typical_p > 0.0f && p.typical_p <= 1.0f, where, "typical_p = ", p.typical_p, " must lie in (0, 1]");
    require(p.temperature >= 0.0f && finite(p.temperature), where, "temperature = ", p.temperature,
            " must be finite and >= 0 (0 means greedy)");
    require(p.repeat_penalty > 0.0f && finite(p.repeat_penalty), where, "repeat_penalty = ", p.repeat_penalty,
            " must be finite and > 0 (1 disables it)");
    require(finite(p.frequency_penalty), where, "frequency_penalty must be finite");
    require(finite(p.presence_penalty), where, "presence_penalty must be finite");
    require(p.min_keep >= 1, where, "min_keep = ", p.min_keep, " must be >= 1");
    require(p.num_bias == 0 || (p.bias_ids && p.bias_values), where, "logit bias arrays are null");
    require(p.num_banned == 0 || p.banned_ids, where, "banned token array is null");
    (void)vocab_size;
}

namespace detail {

// Host-side check of the id arrays (only when they are host memory).
inline void validate_ids(const sampler_params& p, index_t vocab, const char* where) {
    for (index_t b = 0; b < p.num_bias; ++b) {
        require(p.bias_ids[b] >= 0 && p.bias_ids[b] < vocab, where, "logit_bias entry ", b, ": token id ",
                p.bias_ids[b], " outside [0, ", vocab, ")");
        require(!is_nan_bits(p.bias_values[b]) && p.bias_values[b] != pos_inf<float>(), where, "logit_bias entry ",
                b, " (token ", p.bias_ids[b], "): bias must not be NaN or +inf");
    }
    for (index_t b = 0; b < p.num_banned; ++b)
        require(p.banned_ids[b] >= 0 && p.banned_ids[b] < vocab, where, "banned entry ", b, ": token id ",
                p.banned_ids[b], " outside [0, ", vocab, ")");
}

// The candidate list of one row.
struct candidates {
    token_id* id;
    float* v;
    float* key;
    index_t n;
    index_t vocab;
    bool dense;   // id[j] == j for every j (no filter has run yet)
    bool sorted;  // by value, descending, ties to the lower id
};

LETHE_HD inline index_t find_token(const candidates& c, token_id t) noexcept {
    if (t < 0 || t >= c.vocab) return -1;
    if (c.dense) return t;
    for (index_t j = 0; j < c.n; ++j)
        if (c.id[j] == t) return j;
    return -1;
}

LETHE_HD inline void swap_candidates(candidates& c, index_t a, index_t b) noexcept {
    const token_id ti = c.id[a];
    c.id[a] = c.id[b];
    c.id[b] = ti;
    const float tv = c.v[a];
    c.v[a] = c.v[b];
    c.v[b] = tv;
    const float tk = c.key[a];
    c.key[a] = c.key[b];
    c.key[b] = tk;
}

// Orders: by value descending, or by key ascending; ties to the lower id.
struct by_value {
    LETHE_HD bool operator()(const candidates& c, index_t a, index_t b) const noexcept {
        return c.v[a] > c.v[b] || (c.v[a] == c.v[b] && c.id[a] < c.id[b]);
    }
};
struct by_key {
    LETHE_HD bool operator()(const candidates& c, index_t a, index_t b) const noexcept {
        return c.key[a] < c.key[b] || (c.key[a] == c.key[b] && c.id[a] < c.id[b]);
    }
};

// Heap whose root is the element that sorts last among [0, end).
template <class Before>
LETHE_HD inline void sift_down(candidates& c, index_t root, index_t end, Before before) noexcept {
    for (;;) {
        index_t child = 2 * root + 1;
        if (child >= end) return;
        if (child + 1 < end && before(c, child, child + 1)) ++child;
        if (!before(c, root, child)) return;
        swap_candidates(c, root, child);
        root = child;
    }
}
template <class Before>
LETHE_HD inline void make_heap(candidates& c, index_t end, Before before) noexcept {
    for (index_t s = end / 2 - 1; s >= 0; --s) sift_down(c, s, end, before);
}
template <class Before>
LETHE_HD inline void heap_sort(candidates& c, index_t end, Before before) noexcept {
    make_heap(c, end, before);
    for (index_t e = end - 1; e > 0; --e) {
        swap_candidates(c, 0, e);
        sift_down(c, 0, e, before);
    }
}

LETHE_HD inline void sort_by_value(candidates& c) noexcept {
    if (c.sorted) return;
    heap_sort(c, c.n, by_value{});
    c.sorted = true;
    c.dense = false;
}

// Keep the k best (ties to the lower id), sorted.
LETHE_HD inline void keep_top_k(candidates& c, index_t k) noexcept {
    if (k <= 0 || k >= c.n) return;
    const by_value before{};
    make_heap(c, k, before);  // root = the worst of the k kept so far
    // Blocks whose max is below the root's value cannot enter: skip them with
    // one vectorised max (most blocks, once the heap holds good values).
    constexpr index_t block = 64;
    for (index_t b = k; b < c.n; b += block) {
        const index_t e = b + block < c.n ? b + block : c.n;
        const float* LETHE_RESTRICT v = c.v;
        float bm = neg_inf<float>();
        LETHE_SIMD_REDUCTION(max : bm)
        for (index_t j = b; j < e; ++j) bm = v[j] > bm ? v[j] : bm;
        if (bm < c.v[0]) continue;
        for (index_t j = b; j < e; ++j) {
            if (before(c, j, 0)) {
                swap_candidates(c, j, 0);
                sift_down(c, 0, k, before);
            }
        }
    }
    c.n = k;
    c.sorted = false;
    c.dense = false;
    sort_by_value(c);
}

struct softmax_stats {
    float max;
    float sum;  // sum_j exp(v_j - max)
};
LETHE_HD inline softmax_stats stats_of(const candidates& c) noexcept {
    float m = neg_inf<float>();
    for (index_t j = 0; j < c.n; ++j) m = c.v[j] > m ? c.v[j] : m;
    float s = 0.0f;
    if (m != neg_inf<float>())
        for (index_t j = 0; j < c.n; ++j) s += exp_fast(c.v[j] - m);
    return {m, s};
}

// Shortest prefix whose probability mass reaches `mass` (at least min_keep).
LETHE_HD inline index_t mass_prefix(const candidates& c, const softmax_stats& st, float mass,
                                    index_t min_keep) noexcept {
    const float target = mass * st.sum;
    float cum = 0.0f;
    for (index_t j = 0; j < c.n; ++j) {
        cum += exp_fast(c.v[j] - st.max);
        if (cum >= target && j + 1 >= min_keep) return j + 1;
    }
    return c.n;
}

LETHE_HD inline void apply_top_p(candidates& c, float top_p, index_t min_keep) noexcept {
    if (top_p >= 1.0f || c.n <= min_keep) return;
    const softmax_stats st = stats_of(c);
    if (st.max == neg_inf<float>()) return;
    sort_by_value(c);
    c.n = mass_prefix(c, st, top_p, min_keep);
}

LETHE_HD inline void apply_min_p(candidates& c, float min_p, index_t min_keep) noexcept {
    if (min_p <= 0.0f || c.n <= min_keep) return;
    float m = neg_inf<float>();
    for (index_t j = 0; j < c.n; ++j) m = c.v[j] > m ? c.v[j] : m;
    if (m == neg_inf<float>()) return;
    // p_j >= min_p p_max  <=>  v_j >= v_max + log(min_p)
    const float thr = m + std::log(min_p);
    index_t kept = 0;
    for (index_t j = 0; j < c.n; ++j) kept += c.v[j] >= thr ? 1 : 0;
    if (kept >= min_keep) {
        index_t w = 0;
        for (index_t j = 0; j < c.n; ++j)
            if (c.v[j] >= thr) {
                c.id[w] = c.id[j];
                c.v[w] = c.v[j];
                ++w;
            }
        if (w < c.n) c.dense = false;
        c.n = w;  // order preserved: a sorted list stays sorted
    } else {
        sort_by_value(c);
        c.n = min_keep;
    }
}

LETHE_HD inline void apply_typical(candidates& c, float typical_p, index_t min_keep) noexcept {
    if (typical_p >= 1.0f || c.n <= min_keep) return;
    const softmax_stats st = stats_of(c);
    if (st.max == neg_inf<float>()) return;
    const float log_sum = std::log(st.sum);
    float entropy = 0.0f;  // H = -sum p log p
    for (index_t j = 0; j < c.n; ++j) {
        const float lp = c.v[j] - st.max - log_sum;
        if (c.v[j] != neg_inf<float>()) entropy -= exp_fast(lp) * lp;
    }
    for (index_t j = 0; j < c.n; ++j) {
        const float lp = c.v[j] - st.max - log_sum;
        const float d = -lp - entropy;
        c.key[j] = c.v[j] == neg_inf<float>() ? pos_inf<float>() : (d < 0.0f ? -d : d);
    }
    heap_sort(c, c.n, by_key{});
    c.n = mass_prefix(c, st, typical_p, min_keep);
    c.sorted = false;
    c.dense = false;
}

template <class H>
LETHE_HD inline void apply_penalties(candidates& c, const H& hist, index_t i, const sampler_params& p) noexcept {
    if (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) return;
    const index_t N = hist.extent(1);
    for (index_t t = 0; t < N; ++t) {
        const token_id tok = hist(i, t);
        if (tok < 0) continue;
        bool seen = false;
        for (index_t u = 0; u < t && !seen; ++u) seen = hist(i, u) == tok;
        if (seen) continue;
        index_t count = 0;
        for (index_t u = t; u < N; ++u) count += hist(i, u) == tok ? 1 : 0;
        const index_t pos = find_token(c, tok);
        if (pos < 0) continue;
        float v = c.v[pos];
        v = v > 0.0f ? v / p.repeat_penalty : v * p.repeat_penalty;
        v -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
        c.v[pos] = v;
    }
}

enum : int { row_ok = 0, row_bad_logits = 1, row_all_banned = 2 };

template <class L, class H, class O>
LETHE_HD inline int sample_row(const L& logits, const H& hist, const O& out, index_t i, const sampler_params& p,
                               token_id* ids, float* vals, float* keys, float u) noexcept {
    const index_t V = logits.extent(1);
    candidates c{ids, vals, keys, V, V, true, false};
    // Copy into the candidate list, flagging NaN and +inf (!(x < inf) is
    // true for both). One vectorised pass on dense host rows.
    int bad = 0;
    const float* LETHE_RESTRICT row = &logits(i, 0);
    const index_t ls = logits.stride(1);
    token_id* LETHE_RESTRICT ids_out = c.id;
    float* LETHE_RESTRICT v_out = c.v;
    if (ls == 1) {
        LETHE_SIMD_REDUCTION(| : bad)
        for (index_t j = 0; j < V; ++j) {
            const float x = row[j];
            bad |= !(x < pos_inf<float>()) ? 1 : 0;
            ids_out[j] = static_cast<token_id>(j);
            v_out[j] = x;
        }
    } else {
        for (index_t j = 0; j < V; ++j) {
            const float x = row[j * ls];
            bad |= !(x < pos_inf<float>()) ? 1 : 0;
            ids_out[j] = static_cast<token_id>(j);
            v_out[j] = x;
        }
    }
    if (bad) {
        out(i) = -1;
        return row_bad_logits;
    }
    bool greedy = p.greedy;
    const index_t keep = p.min_keep;
    for (int s = 0; s < p.chain_length; ++s) {
        switch (p.chain[s]) {
            case sampler_step::logit_bias:
                for (index_t b = 0; b < p.num_bias; ++b) {
                    const index_t pos = find_token(c, p.bias_ids[b]);
                    if (pos >= 0) c.v[pos] += p.bias_values[b];
                }
                break;
            case sampler_step::banned:
                for (index_t b = 0; b < p.num_banned; ++b) {
                    const index_t pos = find_token(c, p.banned_ids[b]);
                    if (pos >= 0) c.v[pos] = neg_inf<float>();
                }
                break;
            case sampler_step::penalties: apply_penalties(c, hist, i, p); break;
            case sampler_step::top_k: keep_top_k(c, p.top_k > keep || p.top_k == 0 ? p.top_k : keep); break;
            case sampler_step::typical: apply_typical(c, p.typical_p, keep); break;
            case sampler_step::top_p: apply_top_p(c, p.top_p, keep); break;
            case sampler_step::min_p: apply_min_p(c, p.min_p, keep); break;
            case sampler_step::temperature:
                if (p.temperature <= 0.0f) {
                    greedy = true;
                } else if (p.temperature != 1.0f) {
                    const float inv = 1.0f / p.temperature;
                    for (index_t j = 0; j < c.n; ++j) c.v[j] *= inv;
                }
                break;
        }
    }
    // Final choice.
    index_t best = -1;
    for (index_t j = 0; j < c.n; ++j)
        if (c.v[j] != neg_inf<float>() && (best < 0 || by_value{}(c, j, best))) best = j;
    if (best < 0) {
        out(i) = -1;
        return row_all_banned;
    }
    if (greedy) {
        out(i) = c.id[best];
        return row_ok;
    }
    const float m = c.v[best];
    float sum = 0.0f;
    for (index_t j = 0; j < c.n; ++j) sum += exp_fast(c.v[j] - m);
    const float target = u * sum;
    float cum = 0.0f;
    index_t pick = -1;
    for (index_t j = 0; j < c.n; ++j) {
        const float pj = exp_fast(c.v[j] - m);
        if (pj <= 0.0f) continue;
        cum += pj;
        pick = j;
        if (cum > target) break;
    }
    out(i) = c.id[pick];  // pick >= 0: the best candidate has pj = 1
    return row_ok;
}

struct bad_sample_row {
    index_t row;
    int code;
};
struct min_bad_sample_row {
    LETHE_HD bad_sample_row operator()(bad_sample_row a, bad_sample_row b) const noexcept {
        return a.row <= b.row ? a : b;
    }
};

}  // namespace detail

template <execution_policy P, class Logits, class History, class Tokens>
void sample_rows(const P& pol, const Logits& logits, const History& history, const Tokens& tokens,
                 const sampler_params& params, const sampler_streams<typename P::space>& streams,
                 const sampler_workspace_view<typename P::space>& ws) {
    require_space<P, Logits>();
    require_space<P, History>();
    require_space<P, Tokens>();
    static_assert(Logits::rank == 2 && History::rank == 2 && Tokens::rank == 1,
                  "sample_rows: logits [rows, V], history [rows, N], tokens [rows]");
    constexpr const char* where = "sample_rows";
    const index_t rows = logits.extent(0), V = logits.extent(1);
    require(V > 0, where, "empty vocabulary");
    require_extent(tokens, 0, rows, where, "tokens");
    require_extent(history, 0, rows, where, "history");
    require_extent(streams.seed, 0, rows, where, "seeds");
    require_extent(streams.stream, 0, rows, where, "streams");
    require(ws.ids.extent(0) >= rows && ws.ids.extent(1) >= V && ws.values.extent(0) >= rows &&
                ws.values.extent(1) >= V && ws.keys.extent(0) >= rows && ws.keys.extent(1) >= V,
            where, "workspace is smaller than [", rows, ", ", V, "]");
    require(ws.ids.has_unit_inner_stride() && ws.values.has_unit_inner_stride() && ws.keys.has_unit_inner_stride(),
            where, "workspace rows must be dense");
    validate(params, V, where);
    if constexpr (runs_on_host_v<P>) detail::validate_ids(params, V, where);

    const auto lv = logits;
    const auto hv = history;
    const auto tv = tokens;
    const auto w = ws;
    const auto st = streams;
    const sampler_params p = params;
    const detail::bad_sample_row none{rows, 0};
    const detail::bad_sample_row bad = pol.transform_reduce(
        rows, none,
        [=] LETHE_HD(index_t i) {
            const float u = philox_uniform(st.seed(i), st.stream(i), st.step);
            const int code = detail::sample_row(lv, hv, tv, i, p, &w.ids(i, 0), &w.values(i, 0), &w.keys(i, 0), u);
            return code == detail::row_ok ? detail::bad_sample_row{rows, 0} : detail::bad_sample_row{i, code};
        },
        detail::min_bad_sample_row{});
    if (bad.row < rows) {
        if (bad.code == detail::row_bad_logits) fail(where, "row ", bad.row, ": logits contain NaN or +inf");
        fail(where, "row ", bad.row, ": every candidate is -inf (all tokens banned or filtered)");
    }
}

}  // namespace lethe::guidance
