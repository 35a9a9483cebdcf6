// lethe/core/row_ops.hpp - the row primitives later algorithms build on.
//
// Each primitive is written once against an execution policy (one row per
// parallel_for index) and works on any memory space the policy runs in.
//   row_max, row_sum, row_logsumexp (online, one pass), row_log_softmax,
//   row_softmax, transform (elementwise).
// Dense rows on the host take a blocked path: per block the block max, then
// one exp per element against the running max. Memory is read once; each
// block is re-read from L1. Float rows run on vectors (dense_row_logsumexp).
#pragma once

#include <cstdint>
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
// Float rows on vectors (see simd.hpp for why not omp simd). Each lane keeps
// its own running max m_l and sum s_l = sum exp(x - m_l) over the elements
// it sees (j mod lanes), so no block needs a horizontal max. Blocks of 1024
// floats (4 KB, in L1): per block the lane-wise block max, a rescale of s_l
// when m_l grows, then one exp per element. The loop is software-pipelined:
// the exp pass over block b and the max pass over block b + 1 share one
// loop, with a prefetch one block further ahead, so memory streams while the
// exp arithmetic runs (without it the two phases alternate and the row
// runs at about half the read bandwidth). At the end
//   lse = M + log sum_l s_l exp(m_l - M),  M = max_l m_l.
// Edges: -inf lanes shift by 0 so exp(-inf) = 0 exactly; NaN reaches s_l
// through exp (simd::max keeps it); +inf is settled by a rescan for NaN.
namespace lse_simd {
using simd::vfloat;
inline constexpr index_t block = 1024;
inline constexpr index_t lanes = simd::lanes;

// The lanes' state, folded one block at a time.
struct lane_state {
    vfloat m = simd::broadcast(neg_inf<float>());
    vfloat s = simd::broadcast(0.0f);

    // Raise m to max(m, block_max) and rescale s; returns the shift for the
    // block's exp pass (0 in lanes that have seen only -inf).
    LETHE_ALWAYS_INLINE vfloat raise(vfloat block_max) noexcept {
        const vfloat ninf = simd::broadcast(neg_inf<float>());
        const vfloat mn = simd::max(block_max, m);
        const vfloat diff = m - mn;  // NaN only where both are -inf (or +inf)
        s = diff == diff ? s * simd::exp_nonpositive(diff) : s;
        m = mn;
        return mn == ninf ? simd::broadcast(0.0f) : mn;
    }
};

// x[0, k) followed by -inf lanes (k < lanes).
inline vfloat load_partial(const float* x, index_t k) noexcept {
    alignas(sizeof(vfloat)) float buf[lanes];
    for (index_t i = 0; i < lanes; ++i) buf[i] = i < k ? x[i] : neg_inf<float>();
    return simd::load(buf);
}

LETHE_ALWAYS_INLINE vfloat max_of(const float* LETHE_RESTRICT x, index_t nvec) noexcept {
    vfloat m0 = simd::broadcast(neg_inf<float>()), m1 = m0;
    index_t v = 0;
    for (; v + 2 <= nvec; v += 2) {
        m0 = simd::max(simd::load(x + v * lanes), m0);
        m1 = simd::max(simd::load(x + (v + 1) * lanes), m1);
    }
    if (v < nvec) m0 = simd::max(simd::load(x + v * lanes), m0);
    return simd::max(m0, m1);
}

LETHE_ALWAYS_INLINE vfloat sum_exp(const float* LETHE_RESTRICT x, index_t nvec, vfloat shift) noexcept {
    vfloat a0 = simd::broadcast(0.0f), a1 = a0;
    index_t v = 0;
    for (; v + 2 <= nvec; v += 2) {
        a0 += simd::exp_nonpositive(simd::load(x + v * lanes) - shift);
        a1 += simd::exp_nonpositive(simd::load(x + (v + 1) * lanes) - shift);
    }
    if (v < nvec) a0 += simd::exp_nonpositive(simd::load(x + v * lanes) - shift);
    return a0 + a1;
}

inline float finish(const lane_state& st, const float* p, index_t n) noexcept {
    const float big = simd::hmax(st.m);
    if (big == pos_inf<float>()) {
        for (index_t j = 0; j < n; ++j)
            if (is_nan_bits(p[j])) return quiet_nan<float>();
        return pos_inf<float>();
    }
    for (index_t l = 0; l < lanes; ++l)
        if (is_nan_bits(st.s[l])) return quiet_nan<float>();
    if (big == neg_inf<float>()) return big;
    float sum = 0.0f;
    for (index_t l = 0; l < lanes; ++l)
        if (st.m[l] != neg_inf<float>()) sum += st.s[l] * std::exp(st.m[l] - big);
    return big + std::log(sum);
}
}  // namespace lse_simd

template <>
inline float dense_row_logsumexp<float>(const float* LETHE_RESTRICT p, index_t n) noexcept {
    using namespace lse_simd;
    constexpr index_t bv = block / lanes;  // vectors per block
    lane_state st;
    const index_t full = n / block * block;
    vfloat bmax = full > 0 ? max_of(p, bv) : simd::broadcast(neg_inf<float>());
    for (index_t b = 0; b < full; b += block) {
        const vfloat shift = st.raise(bmax);
        const float* x = p + b;
        if (b + block < full) {
            // exp pass over this block, max pass over the next, one loop.
            const float* nx = x + block;
            // Two blocks ahead; past the row's end that is the next row of a
            // matrix (a prefetch never faults; the address is formed as an
            // integer, not as a pointer outside the row).
            const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(nx + block - 1) + sizeof(float);
            vfloat a0 = simd::broadcast(0.0f), a1 = a0;
            vfloat m0 = simd::broadcast(neg_inf<float>()), m1 = m0;
            for (index_t j = 0; j < block; j += 2 * lanes) {
                if (j % 16 == 0)  // one 64-byte line per 16 floats
                    __builtin_prefetch(reinterpret_cast<const void*>(ahead + static_cast<std::uintptr_t>(j) * sizeof(float)));
                m0 = simd::max(simd::load(nx + j), m0);
                m1 = simd::max(simd::load(nx + j + lanes), m1);
                a0 += simd::exp_nonpositive(simd::load(x + j) - shift);
                a1 += simd::exp_nonpositive(simd::load(x + j + lanes) - shift);
            }
            st.s += a0 + a1;
            bmax = simd::max(m0, m1);
        } else {
            st.s += sum_exp(x, bv, shift);
        }
    }
    // The rest (< 1024 floats): whole vectors, then one padded with -inf.
    const index_t rest = n - full, rv = rest / lanes, tail = rest % lanes;
    if (rest > 0) {
        const float* x = p + full;
        vfloat m = max_of(x, rv);
        const vfloat last = tail > 0 ? load_partial(x + rv * lanes, tail) : simd::broadcast(neg_inf<float>());
        m = simd::max(last, m);
        const vfloat shift = st.raise(m);
        st.s += sum_exp(x, rv, shift) + simd::exp_nonpositive(last - shift);
    }
    return finish(st, p, n);
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
