// lethe/guidance/cfg_impl.hpp - the row kernels behind cfg.hpp.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "cfg.hpp"

namespace lethe::guidance {

inline const char* to_string(cfg_space s) noexcept {
    switch (s) {
        case cfg_space::log: return "log";
        case cfg_space::prob: return "prob";
        case cfg_space::prob_sample: return "prob_sample";
        case cfg_space::logit: return "logit";
    }
    return "?";
}

inline cfg_space parse_cfg_space(std::string_view name) {
    if (name == "log") return cfg_space::log;
    if (name == "prob") return cfg_space::prob;
    if (name == "prob_sample") return cfg_space::prob_sample;
    if (name == "logit") return cfg_space::logit;
    fail("parse_cfg_space", "unknown space '", name, "' (expected log, prob, prob_sample or logit)");
}

inline cfg_params cfg_params::make(cfg_space space, float scale, std::span<const float> weights) {
    cfg_params p;
    p.space = space;
    p.scale = scale;
    if (!weights.empty()) {
        require(weights.size() <= static_cast<std::size_t>(max_negatives), "cfg_params", "at most ", max_negatives,
                " negatives, got ", weights.size());
        p.num_negatives = static_cast<int>(weights.size());
        for (std::size_t k = 0; k < weights.size(); ++k) p.weight[k] = weights[k];
    }
    return p;
}

namespace detail {

// Status codes returned per row: 0 fine, 1 bad conditional, 2 + k bad negative k.
struct first_bad_row {
    index_t row;
    int branch;
};
struct min_bad_row {
    LETHE_HD first_bad_row operator()(first_bad_row a, first_bad_row b) const noexcept {
        return a.row <= b.row ? a : b;
    }
};

struct min_index {
    LETHE_HD index_t operator()(index_t a, index_t b) const noexcept { return a < b ? a : b; }
};

LETHE_HD inline bool bad_lse(float x) noexcept { return is_nonfinite_bits(x); }
LETHE_HD inline bool bad_lse(double x) noexcept { return is_nonfinite_bits(x); }

// b, or a where take_a: a bitwise select. Vectorises under `omp simd` where
// `take_a ? a : b` on floats does not: with GCC's default -ftrapping-math the
// arithmetic producing a or b is sunk into a branch that may not be
// if-converted.
template <class T>
LETHE_HD inline T blend(bool take_a, T a, T b) noexcept {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    const U m = U(0) - static_cast<U>(take_a);
    return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(a) & m) | (std::bit_cast<U>(b) & ~m)));
}

// Dense probability-space rows with one negative. Returns the clamped total.
// (GCC 12 leaves this loop scalar: about 50x a plain read; see the bench.)
template <class T, class CT>
LETHE_HD inline T prob_mix_dense(const CT* cp, const CT* np, T* op, index_t V, T lc, T ln, T g, bool clamp) noexcept {
    T total = T(0);
    if (clamp) {
        LETHE_SIMD_REDUCTION(+ : total)
        for (index_t j = 0; j < V; ++j) {
            const T p = exp_fast(static_cast<T>(static_cast<T>(cp[j]) - lc));
            const T q = exp_fast(static_cast<T>(static_cast<T>(np[j]) - ln));
            const T v = q + g * (p - q);
            const T vc = blend(v > T(0), v, T(0));
            total += vc;
            op[j] = vc;
        }
    } else {
        LETHE_SIMD
        for (index_t j = 0; j < V; ++j) {
            const T p = exp_fast(static_cast<T>(static_cast<T>(cp[j]) - lc));
            const T q = exp_fast(static_cast<T>(static_cast<T>(np[j]) - ln));
            op[j] = q + g * (p - q);
        }
    }
    return total;
}

// Dense log/logit rows with one negative: cfg_mix for 0 < g != 1.
template <class T, class CT>
LETHE_HD inline void log_mix_dense(const CT* cp, const CT* np, T* op, index_t V, T lc, T ln, T g) noexcept {
    LETHE_SIMD
    for (index_t j = 0; j < V; ++j) {
        const T s = static_cast<T>(cp[j]) - lc;
        const T u = static_cast<T>(np[j]) - ln;
        const T r = u + g * (s - u);
        op[j] = blend(s == neg_inf<T>() || u == neg_inf<T>(), s, r);
    }
}

// The g = 1 (or g = 0 with one negative) row of each form: cond - lse
// (log), exp(cond - lse) (prob), cond (logit). Shared by cfg_combine and
// cfg_conditional so both produce the same bits.
template <class T, class CT>
LETHE_HD inline void write_branch(const CT* cp, index_t cs, T* op, index_t os, index_t V, T lse,
                                  cfg_space space) noexcept {
    const bool dense = cs == 1 && os == 1;
    if (space == cfg_space::logit) {
        if (dense) {
            LETHE_SIMD
            for (index_t j = 0; j < V; ++j) op[j] = static_cast<T>(cp[j]);
        } else {
            for (index_t j = 0; j < V; ++j) op[j * os] = static_cast<T>(cp[j * cs]);
        }
    } else if (space == cfg_space::log) {
        if (dense) {
            LETHE_SIMD
            for (index_t j = 0; j < V; ++j) op[j] = static_cast<T>(cp[j]) - lse;
        } else {
            for (index_t j = 0; j < V; ++j) op[j * os] = static_cast<T>(cp[j * cs]) - lse;
        }
    } else {
        if (dense) {
            LETHE_SIMD
            for (index_t j = 0; j < V; ++j) op[j] = exp_fast(static_cast<T>(static_cast<T>(cp[j]) - lse));
        } else {
            for (index_t j = 0; j < V; ++j) op[j * os] = exp_fast(static_cast<T>(static_cast<T>(cp[j * cs]) - lse));
        }
    }
}

// Validity of a logit row for the logit form: no NaN or +inf, one finite entry.
template <class CT>
LETHE_HD inline bool valid_logit_row(const CT* p, index_t s, index_t V) noexcept {
    int bad = 0, any = 0;
    if (s == 1) {
        LETHE_SIMD_REDUCTION(| : bad, any)
        for (index_t j = 0; j < V; ++j) {
            const auto x = p[j];
            bad |= !(x < pos_inf<decltype(+x)>()) ? 1 : 0;
            any |= x > neg_inf<decltype(+x)>() ? 1 : 0;
        }
        return !bad && any;
    }
    for (index_t j = 0; j < V; ++j) {
        const auto x = p[j * s];
        bad |= !(x < pos_inf<decltype(+x)>()) ? 1 : 0;
        any |= x > neg_inf<decltype(+x)>() ? 1 : 0;
    }
    return !bad && any;
}

// One row of any form. Returns branch+1 of the first bad input, 0 if fine.
template <class C, class N, class O>
LETHE_HD inline int cfg_row(const C& c, const N& n, const O& o, index_t i, const cfg_params& prm) noexcept {
    using T = typename O::value_type;
    const index_t V = c.extent(1);
    const int K = prm.num_negatives;
    T w[max_negatives];
    T wsum = T(0);
    for (int k = 0; k < K; ++k) wsum += static_cast<T>(prm.weight[k]);
    for (int k = 0; k < K; ++k) w[k] = static_cast<T>(prm.weight[k]) / wsum;
    const T g = static_cast<T>(prm.scale);
    const cfg_space space = prm.space;
    const auto cs = c.stride(1), ns = n.stride(2), os = o.stride(1);
    const bool dense = cs == 1 && ns == 1 && os == 1;

    // Per-branch log-sum-exp (log and prob forms) or validity (logit form).
    T lse_c = T(0);
    T lse_n[max_negatives] = {};
    if (space == cfg_space::logit) {
        if (!valid_logit_row(&c(i, 0), cs, V)) return 1;
        for (int k = 0; k < K; ++k)
            if (!valid_logit_row(&n(k, i, 0), ns, V)) return 2 + k;
    } else {
        lse_c = ::lethe::detail::row_logsumexp_kernel(&c(i, 0), V, cs);
        if (bad_lse(lse_c)) return 1;
        for (int k = 0; k < K; ++k) {
            lse_n[k] = ::lethe::detail::row_logsumexp_kernel(&n(k, i, 0), V, ns);
            if (bad_lse(lse_n[k])) return 2 + k;
        }
    }

    // Exact edges.
    if (g == T(1)) {
        write_branch(&c(i, 0), cs, &o(i, 0), os, V, lse_c, space);
        return 0;
    }
    if (g == T(0) && K == 1) {
        write_branch(&n(0, i, 0), ns, &o(i, 0), os, V, lse_n[0], space);
        return 0;
    }

    if (space == cfg_space::log || space == cfg_space::logit) {
        const bool log_form = space == cfg_space::log;
        if (K == 1 && dense) {
            log_mix_dense(&c(i, 0), &n(0, i, 0), &o(i, 0), V, lse_c, lse_n[0], g);
            return 0;
        }
        for (index_t j = 0; j < V; ++j) {
            T u = T(0);
            for (int k = 0; k < K; ++k) {
                const T uk = static_cast<T>(n(k, i, j)) - lse_n[k];
                u = (uk == neg_inf<T>() || u == neg_inf<T>()) ? neg_inf<T>() : u + w[k] * uk;
            }
            o(i, j) = cfg_mix(static_cast<T>(c(i, j)) - (log_form ? lse_c : T(0)), u, g);
        }
        return 0;
    }

    // Probability space. Convex (0 <= g <= 1) mixes stay non-negative and sum
    // to 1 up to rounding, so only g > 1 needs the clamp for sampling.
    const bool clamp = space == cfg_space::prob_sample && g > T(1);
    T total = T(0);
    if (K == 1 && dense) {
        total = prob_mix_dense(&c(i, 0), &n(0, i, 0), &o(i, 0), V, lse_c, lse_n[0], g, clamp);
    } else {
        for (index_t j = 0; j < V; ++j) {
            const T p = exp_fast(static_cast<T>(static_cast<T>(c(i, j)) - lse_c));
            T q = T(0);
            for (int k = 0; k < K; ++k)
                q += w[k] * exp_fast(static_cast<T>(static_cast<T>(n(k, i, j)) - lse_n[k]));
            T v = g == T(0) ? q : q + g * (p - q);
            if (clamp) {
                v = v > T(0) ? v : T(0);
                total += v;
            }
            o(i, j) = v;
        }
    }
    if (clamp) {
        // sum_j (q + g (p - q)) = 1 and the largest p - q > 0 unless p = q,
        // so total > 0 whenever the rows are valid.
        const T inv = T(1) / total;
        for (index_t j = 0; j < V; ++j) o(i, j) = o(i, j) * inv;
    }
    return 0;
}

template <class T, class S>
strided_view<T, 3, S> as_single_negative(const strided_view<T, 2, S>& v) noexcept {
    const index_t ext[3] = {1, v.extent(0), v.extent(1)};
    const index_t str[3] = {0, v.stride(0), v.stride(1)};
    return strided_view<T, 3, S>(v.data(), ext, str);
}

}  // namespace detail

template <execution_policy P, class Cond, class Neg, class Out>
void cfg_combine(const P& pol, const Cond& cond, const Neg& neg, const Out& out, const cfg_params& prm) {
    require_space<P, Cond>();
    require_space<P, Neg>();
    require_space<P, Out>();
    static_assert(Cond::rank == 2 && Out::rank == 2, "cfg_combine: cond and out are [rows, vocab]");
    static_assert(Neg::rank == 3, "cfg_combine: neg is [negatives, rows, vocab]");
    constexpr const char* where = "cfg_combine";
    require_same_shape(cond, out, where, "cond", "out");
    require(neg.extent(0) == prm.num_negatives, where, "neg holds ", neg.extent(0), " negatives but params say ",
            prm.num_negatives);
    require(prm.num_negatives >= 1 && prm.num_negatives <= max_negatives, where, "num_negatives ",
            prm.num_negatives, " outside [1, ", max_negatives, "]");
    require(neg.extent(1) == cond.extent(0) && neg.extent(2) == cond.extent(1), where, "neg is [", neg.extent(0),
            ", ", neg.extent(1), ", ", neg.extent(2), "], cond is [", cond.extent(0), ", ", cond.extent(1), "]");
    require(cond.extent(1) > 0, where, "empty vocabulary");
    require(!(prm.scale < 0.0f) && !is_nonfinite_bits(prm.scale), where, "guidance scale g = ", prm.scale,
            " must be finite and >= 0");
    for (int k = 0; k < prm.num_negatives; ++k)
        require(prm.weight[k] > 0.0f && !is_nonfinite_bits(prm.weight[k]), where, "weight of negative ", k, " is ",
                prm.weight[k], ", must be finite and > 0");

    const index_t rows = cond.extent(0);
    const auto c = cond;
    const auto n = neg;
    const auto o = out;
    const cfg_params p = prm;
    const detail::first_bad_row none{rows, 0};
    const detail::first_bad_row bad = pol.transform_reduce(
        rows, none,
        [=] LETHE_HD(index_t i) {
            const int b = detail::cfg_row(c, n, o, i, p);
            return b == 0 ? detail::first_bad_row{rows, 0} : detail::first_bad_row{i, b};
        },
        detail::min_bad_row{});
    if (bad.row < rows) {
        if (bad.branch == 1)
            fail(where, "row ", bad.row, ": conditional logits contain NaN or +inf, or are all -inf");
        fail(where, "row ", bad.row, ": negative ", bad.branch - 2, " logits contain NaN or +inf, or are all -inf");
    }
}

template <execution_policy P, class Cond, class Out>
void cfg_conditional(const P& pol, const Cond& cond, const Out& out, cfg_space space) {
    require_space<P, Cond>();
    require_space<P, Out>();
    static_assert(Cond::rank == 2 && Out::rank == 2, "cfg_conditional: cond and out are [rows, vocab]");
    constexpr const char* where = "cfg_conditional";
    require_same_shape(cond, out, where, "cond", "out");
    require(cond.extent(1) > 0, where, "empty vocabulary");
    const index_t rows = cond.extent(0);
    const auto c = cond;
    const auto o = out;
    const index_t bad = pol.transform_reduce(
        rows, rows,
        [=] LETHE_HD(index_t i) -> index_t {
            using T = typename Out::value_type;
            const index_t V = c.extent(1);
            T lse = T(0);
            if (space == cfg_space::logit) {
                if (!detail::valid_logit_row(&c(i, 0), c.stride(1), V)) return i;
            } else {
                lse = ::lethe::detail::row_logsumexp_kernel(&c(i, 0), V, c.stride(1));
                if (detail::bad_lse(lse)) return i;
            }
            detail::write_branch(&c(i, 0), c.stride(1), &o(i, 0), o.stride(1), V, lse, space);
            return rows;
        },
        detail::min_index{});
    if (bad < rows) fail(where, "row ", bad, ": conditional logits contain NaN or +inf, or are all -inf");
}

template <execution_policy P, class Cond, class Neg, class Out>
void cfg_combine_one(const P& pol, const Cond& cond, const Neg& neg, const Out& out, cfg_params prm) {
    static_assert(Neg::rank == 2, "cfg_combine_one: neg is [rows, vocab]");
    prm.num_negatives = 1;
    cfg_combine(pol, cond, detail::as_single_negative(neg), out, prm);
}

}  // namespace lethe::guidance
