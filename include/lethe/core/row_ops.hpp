// lethe/core/row_ops.hpp - the row primitives later algorithms build on.
//
// Each primitive is written once against an execution policy (one row per
// parallel_for index) and works on any memory space the policy runs in.
//   row_max, row_sum, row_logsumexp (online, one pass), row_log_softmax,
//   row_softmax, transform (elementwise).
// Dense float rows on the host take a blocked, vectorised path: per block of
// 256 elements the block max, then one exp per element against the running
// max. Memory is read once; each block is re-read from L1.
#pragma once

#include <type_traits>

#include "config.hpp"
#include "error.hpp"
#include "execution.hpp"
#include "numerics.hpp"
#include "simd.hpp"
#include "view.hpp"

namespace lethe {

namespace detail {

inline constexpr index_t lse_block = 256;

template <class T>
LETHE_HD inline T row_max_kernel(const T* p, index_t n, index_t s) noexcept {
    T m = neg_inf<T>();
    bool nan = false;
    for (index_t j = 0; j < n; ++j) {
        const T x = p[j * s];
        nan = nan || (x != x);
        m = x > m ? x : m;
    }
    return nan ? quiet_nan<T>() : m;
}

template <class T>
LETHE_HD inline T row_sum_kernel(const T* p, index_t n, index_t s) noexcept {
    T acc = T(0);
    if (s == 1) {
        LETHE_SIMD_REDUCTION(+ : acc)
        for (index_t j = 0; j < n; ++j) acc += p[j];
    } else {
        for (index_t j = 0; j < n; ++j) acc += p[j * s];
    }
    return acc;
}

#if !LETHE_IN_DEVICE_CODE
// Host path for dense rows: blocked two-level log-sum-exp. Per block, the
// block max, a rescale of the running sum if the max grew, then one exp per
// element against the running max.
template <class T>
inline T dense_row_logsumexp(const T* LETHE_RESTRICT p, index_t n) noexcept {
    T m = neg_inf<T>();
    T sum = T(0);
    bool nan = false;
    for (index_t b = 0; b < n; b += lse_block) {
        const index_t e = b + lse_block < n ? b + lse_block : n;
        T bm = neg_inf<T>();
        for (index_t j = b; j < e; ++j) {
            nan = nan || (p[j] != p[j]);
            bm = p[j] > bm ? p[j] : bm;
        }
        if (bm > m) {
            sum = m == neg_inf<T>() ? T(0) : sum * std::exp(m - bm);
            m = bm;
        }
        if (m == pos_inf<T>()) return nan ? quiet_nan<T>() : pos_inf<T>();
        if (m == neg_inf<T>()) continue;  // all -inf so far
        T acc = T(0);
        for (index_t j = b; j < e; ++j) acc += exp_fast(p[j] - m);
        sum += acc;
    }
    if (nan) return quiet_nan<T>();
    return m == neg_inf<T>() ? m : m + std::log(sum);
}

#if LETHE_HAS_VECTOR_EXT
// The same algorithm on float vectors (see simd.hpp for why).
template <>
inline float dense_row_logsumexp<float>(const float* LETHE_RESTRICT p, index_t n) noexcept {
    using simd::vfloat;
    constexpr index_t L = simd::lanes;
    float m = neg_inf<float>();
    float sum = 0.0f;
    bool nan = false;
    for (index_t b = 0; b < n; b += lse_block) {
        const index_t e = b + lse_block < n ? b + lse_block : n;
        const index_t ev = b + (e - b) / L * L;
        // NaN is not tracked in this pass: exp(NaN - m) makes the sum NaN.
        // (A block of only -inf and NaN is caught by the check below.)
        vfloat vmax = simd::broadcast(neg_inf<float>());
        for (index_t j = b; j < ev; j += L) {
            const vfloat x = simd::load(p + j);
            vmax = x > vmax ? x : vmax;
        }
        float bm = simd::hmax(vmax);
        for (index_t j = ev; j < e; ++j) {
            nan = nan || (p[j] != p[j]);
            bm = p[j] > bm ? p[j] : bm;
        }
        if (bm > m) {
            sum = m == neg_inf<float>() ? 0.0f : sum * std::exp(m - bm);
            m = bm;
        }
        if (m == pos_inf<float>()) return pos_inf<float>();
        if (m == neg_inf<float>()) {
            for (index_t j = b; j < e; ++j) nan = nan || (p[j] != p[j]);
            continue;
        }
        // Four independent accumulators keep several exps in flight.
        const vfloat vm = simd::broadcast(m);
        vfloat a0 = simd::broadcast(0.0f), a1 = a0, a2 = a0, a3 = a0;
        index_t j = b;
        for (; j + 4 * L <= ev; j += 4 * L) {
            a0 += simd::exp_nonpositive(simd::load(p + j) - vm);
            a1 += simd::exp_nonpositive(simd::load(p + j + L) - vm);
            a2 += simd::exp_nonpositive(simd::load(p + j + 2 * L) - vm);
            a3 += simd::exp_nonpositive(simd::load(p + j + 3 * L) - vm);
        }
        for (; j < ev; j += L) a0 += simd::exp_nonpositive(simd::load(p + j) - vm);
        const vfloat acc = (a0 + a1) + (a2 + a3);
        float tail = 0.0f;
        for (index_t j = ev; j < e; ++j) tail += exp_fast(p[j] - m);
        sum += simd::hsum(acc) + tail;
    }
    if (nan || sum != sum) return quiet_nan<float>();
    return m == neg_inf<float>() ? m : m + std::log(sum);
}
#endif
#endif

template <class T>
LETHE_HD inline T row_logsumexp_kernel(const T* p, index_t n, index_t s) noexcept {
#if !LETHE_IN_DEVICE_CODE
    if (s == 1) return dense_row_logsumexp(p, n);
#endif
    return logsumexp(p, n, s);
}

template <class X, class Out>
void check_row_reduce(const X& x, const Out& out, const char* where) {
    static_assert(std::remove_cvref_t<X>::rank == 2, "row reductions take a rank-2 input view");
    static_assert(std::remove_cvref_t<Out>::rank == 1, "row reductions write a rank-1 output view");
    static_assert(std::is_same_v<typename X::space, typename Out::space>, "input and output in different memory spaces");
    require_extent(out, 0, x.extent(0), where, "output");
}

struct max_kernel {
    template <class T>
    LETHE_HD T operator()(const T* p, index_t n, index_t s) const noexcept { return row_max_kernel(p, n, s); }
};
struct sum_kernel {
    template <class T>
    LETHE_HD T operator()(const T* p, index_t n, index_t s) const noexcept { return row_sum_kernel(p, n, s); }
};
struct logsumexp_kernel {
    template <class T>
    LETHE_HD T operator()(const T* p, index_t n, index_t s) const noexcept { return row_logsumexp_kernel(p, n, s); }
};

// out[i] = Kernel(row i): one row per parallel_for index.
template <class Kernel, class P, class X, class Out>
void row_reduce(const P& pol, const X& x, const Out& out, const char* where) {
    require_space<P, X>();
    check_row_reduce(x, out, where);
    const auto xv = x;
    const auto ov = out;
    const Kernel k{};
    pol.parallel_for(x.extent(0), [=] LETHE_HD(index_t i) { ov(i) = k(&xv(i, 0), xv.extent(1), xv.stride(1)); });
}

// y(i, :) = log_softmax (Log) or softmax of x(i, :); y may be x itself.
template <bool Log, class P, class X, class Y>
void row_normalize(const P& pol, const X& x, const Y& y, const char* where) {
    require_space<P, X>();
    require_space<P, Y>();
    static_assert(X::rank == 2 && Y::rank == 2, "row softmax functions take rank-2 views");
    require_same_shape(x, y, where, "input", "output");
    const auto xv = x;
    const auto yv = y;
    pol.parallel_for(x.extent(0), [=] LETHE_HD(index_t i) {
        using T = typename Y::value_type;
        const T lse = row_logsumexp_kernel(&xv(i, 0), xv.extent(1), xv.stride(1));
        for (index_t j = 0; j < xv.extent(1); ++j) {
            const T z = static_cast<T>(xv(i, j) - lse);
            yv(i, j) = Log ? z : exp_fast(z);
        }
    });
}

}  // namespace detail

// out[i] = max_j x(i, j). NaN in a row gives NaN; an empty row gives -inf.
template <execution_policy P, class X, class Out>
void row_max(const P& pol, const X& x, const Out& out) {
    detail::row_reduce<detail::max_kernel>(pol, x, out, "row_max");
}

// out[i] = sum_j x(i, j).
template <execution_policy P, class X, class Out>
void row_sum(const P& pol, const X& x, const Out& out) {
    detail::row_reduce<detail::sum_kernel>(pol, x, out, "row_sum");
}

// out[i] = log sum_j exp x(i, j), one pass over the row (see online_logsumexp
// for the rules at -inf, +inf and NaN).
template <execution_policy P, class X, class Out>
void row_logsumexp(const P& pol, const X& x, const Out& out) {
    detail::row_reduce<detail::logsumexp_kernel>(pol, x, out, "row_logsumexp");
}

// y(i, j) = x(i, j) - logsumexp_j x(i, :). y may be x itself (in place).
template <execution_policy P, class X, class Y>
void row_log_softmax(const P& pol, const X& x, const Y& y) {
    detail::row_normalize<true>(pol, x, y, "row_log_softmax");
}

// y(i, j) = softmax of row i. y may be x itself.
template <execution_policy P, class X, class Y>
void row_softmax(const P& pol, const X& x, const Y& y) {
    detail::row_normalize<false>(pol, x, y, "row_softmax");
}

// out = f(in) elementwise for views of equal shape and rank 1 to 3.
template <execution_policy P, class In, class Out, class F>
void transform(const P& pol, const In& in, const Out& out, F f) {
    require_space<P, In>();
    require_space<P, Out>();
    static_assert(In::rank == Out::rank, "transform needs views of equal rank");
    require_same_shape(in, out, "transform", "input", "output");
    const auto iv = in;
    const auto ov = out;
    if constexpr (In::rank == 1) {
        pol.parallel_for(in.extent(0), [=] LETHE_HD(index_t i) { ov(i) = f(iv(i)); });
    } else if constexpr (In::rank == 2) {
        pol.parallel_for(in.extent(0), [=] LETHE_HD(index_t i) {
            for (index_t j = 0; j < iv.extent(1); ++j) ov(i, j) = f(iv(i, j));
        });
    } else {
        pol.parallel_for(in.extent(0) * in.extent(1), [=] LETHE_HD(index_t r) {
            const index_t a = r / iv.extent(1), b = r % iv.extent(1);
            for (index_t k = 0; k < iv.extent(2); ++k) ov(a, b, k) = f(iv(a, b, k));
        });
    }
}

}  // namespace lethe
