// lethe/loss/sequence_logprobs.hpp - per-token and per-sequence log-probs of
// target tokens, and the gradient of any function of them w.r.t. the logits.
//
// Inputs (a `token_batch`):
//   logits  [N, V]  one row per token position (a padded [rows, T, V] tensor is
//                   flattened to N = rows * T; a packed batch is [N, V] as is)
//   targets [N]     int32 token id predicted at each position. The caller has
//                   already shifted them: targets[n] is the token that follows
//                   position n (labels[t + 1] in Hugging Face terms).
//   mask    [N]     uint8 token kind: 0 = ignore (padding), 1 = completion
//                   (counted in sequence log-probs and every loss),
//                   2 = prompt (counted only by NLL terms over prompt +
//                   completion, as TRL 0.11's ORPO does). A plain 0/1 loss mask
//                   therefore means "count these tokens".
//   layout          which token rows form each sequence: padded (row r owns
//                   tokens [r*T, (r+1)*T)) or packed (offsets[rows + 1]).
//
// Forward, one fused pass per token row (online log-sum-exp plus the gather,
// no log-softmax is materialised):
//   lse_n  = log sum_j exp x(n, j)
//   logp_n = x(n, t_n) - lse_n
// then per sequence r: completion_sum = sum of logp over kind 1 tokens,
// completion_tokens, and all_sum / all_tokens over kinds 1 and 2.
//
// Backward: with g_n = dL/dlogp_n (the caller's per-token weight, given per
// sequence and token kind), since dlogp_n/dx(n, j) = [j = t_n] - softmax_j,
//   dL/dx(n, j) = -g_n * (softmax(x_n)_j - [j = t_n])
// written to a caller buffer, which may be the logits themselves (in place).
// Tokens with g_n = 0 (padding, prompt) get a zero row and are not read.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/numerics.hpp"
#include "../core/row_ops.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"

namespace lethe::loss {

// Values of the token mask.
namespace token_kind {
inline constexpr std::uint8_t ignore = 0;
inline constexpr std::uint8_t completion = 1;
inline constexpr std::uint8_t prompt = 2;
}  // namespace token_kind

// Options shared by every loss.
struct loss_options {
    // Scan for NaN/Inf in logits (through the log-sum-exp, at no extra memory
    // traffic). Turning it off skips only that test; target ids are always
    // range-checked because a bad id would read outside the row.
    bool check_values = true;
};

// Which token rows form each sequence. Padded: `tokens_per_row` > 0 and row r
// owns [r*T, (r+1)*T). Packed: `offsets` [rows + 1], offsets[0] = 0,
// nondecreasing, offsets[rows] = N. `offsets` points to memory in Space.
template <class Space = host_space>
struct sequence_layout {
    index_t rows = 0;
    index_t tokens_per_row = 0;
    const index_t* offsets = nullptr;

    LETHE_HD index_t begin(index_t r) const noexcept { return offsets ? offsets[r] : r * tokens_per_row; }
    LETHE_HD index_t end(index_t r) const noexcept { return offsets ? offsets[r + 1] : (r + 1) * tokens_per_row; }
    // Sequence that owns token n (binary search for packed layouts).
    LETHE_HD index_t row_of(index_t n) const noexcept {
        if (!offsets) return tokens_per_row > 0 ? n / tokens_per_row : 0;
        index_t lo = 0, hi = rows;  // invariant: offsets[lo] <= n < offsets[hi]
        while (hi - lo > 1) {
            const index_t mid = lo + (hi - lo) / 2;
            if (offsets[mid] <= n) lo = mid; else hi = mid;
        }
        return lo;
    }
};

// Targets, token kinds and layout: everything but the logits. The fused
// linear losses take this (they never hold the logits).
template <class Space = host_space>
struct token_targets {
    using space = Space;
    view1<const std::int32_t, Space> targets;  // [N]
    view1<const std::uint8_t, Space> mask;     // [N]
    sequence_layout<Space> layout;

    index_t tokens() const noexcept { return targets.extent(0); }
    index_t rows() const noexcept { return layout.rows; }
};

// The inputs of every materialised loss: token rows, targets, kinds, layout.
template <class T, class Space = host_space>
struct token_batch : token_targets<Space> {
    using value_type = T;
    view2<const T, Space> logits;  // [N, V]

    index_t vocab() const noexcept { return logits.extent(1); }
};

namespace detail {
template <class I, class M>
constexpr void check_id_types() noexcept {
    static_assert(std::is_same_v<std::remove_const_t<I>, std::int32_t>, "targets must be a view of std::int32_t");
    static_assert(std::is_same_v<std::remove_const_t<M>, std::uint8_t>, "mask must be a view of std::uint8_t");
}
}  // namespace detail

// Padded layout: targets and mask [rows, T], row r owns tokens [r*T, (r+1)*T).
template <class S, class I, class M>
token_targets<S> make_token_targets(const strided_view<I, 2, S>& targets, const strided_view<M, 2, S>& mask) {
    constexpr const char* where = "lethe::loss::make_token_targets";
    detail::check_id_types<I, M>();
    const index_t rows = targets.extent(0), len = targets.extent(1);
    require_extent(mask, 0, rows, where, "mask");
    require_extent(mask, 1, len, where, "mask");
    require(rows <= 1 || targets.stride(0) == len * targets.stride(1), where, "targets: rows must be contiguous");
    require(rows <= 1 || mask.stride(0) == len * mask.stride(1), where, "mask: rows must be contiguous");
    token_targets<S> b;
    const index_t ext[1] = {rows * len};
    const index_t ts[1] = {targets.stride(1)};
    const index_t ms[1] = {mask.stride(1)};
    b.targets = view1<const std::int32_t, S>(targets.data(), ext, ts);
    b.mask = view1<const std::uint8_t, S>(mask.data(), ext, ms);
    b.layout.rows = rows;
    b.layout.tokens_per_row = len;
    return b;
}

// Packed layout: targets and mask [N], offsets [rows + 1]. Host offsets are
// validated (offsets[0] = 0, nondecreasing, offsets[rows] = N); device
// offsets are trusted.
template <class S, class I, class M, class O>
token_targets<S> make_token_targets(const strided_view<I, 1, S>& targets, const strided_view<M, 1, S>& mask,
                                    const strided_view<O, 1, S>& offsets) {
    constexpr const char* where = "lethe::loss::make_token_targets";
    detail::check_id_types<I, M>();
    static_assert(std::is_same_v<std::remove_const_t<O>, index_t>, "offsets must be a view of lethe::index_t");
    const index_t n = targets.extent(0);
    require_extent(mask, 0, n, where, "mask");
    require(offsets.extent(0) >= 1, where, "offsets: needs rows + 1 >= 1 entries");
    require(offsets.extent(0) <= 1 || offsets.stride(0) == 1, where, "offsets: must be contiguous");
    const index_t rows = offsets.extent(0) - 1;
    if constexpr (std::is_same_v<S, host_space>) {
        require(offsets(0) == 0, where, "offsets[0] is ", offsets(0), ", expected 0");
        for (index_t r = 0; r < rows; ++r)
            require(offsets(r + 1) >= offsets(r), where, "offsets: row ", r, " ends (", offsets(r + 1),
                    ") before it begins (", offsets(r), ")");
        require(offsets(rows) == n, where, "offsets[", rows, "] is ", offsets(rows), ", expected the token count ", n);
    }
    token_targets<S> b;
    b.targets = targets;
    b.mask = mask;
    b.layout.rows = rows;
    b.layout.offsets = offsets.data();
    return b;
}

// Padded batch: logits [rows, T, V], targets and mask [rows, T]. The two
// leading dimensions of each must fuse (row-major over rows and positions).
template <class T, class S, class I, class M>
token_batch<std::remove_const_t<T>, S> make_token_batch(const strided_view<T, 3, S>& logits,
                                                        const strided_view<I, 2, S>& targets,
                                                        const strided_view<M, 2, S>& mask) {
    constexpr const char* where = "lethe::loss::make_token_batch";
    require_extent(targets, 0, logits.extent(0), where, "targets");
    require_extent(targets, 1, logits.extent(1), where, "targets");
    require(logits.rows_fuse(), where, "logits: rows and positions must be laid out contiguously (stride(0) = T * stride(1))");
    token_batch<std::remove_const_t<T>, S> b;
    static_cast<token_targets<S>&>(b) = make_token_targets(targets, mask);
    b.logits = logits.flatten_rows();
    return b;
}

// Packed batch: logits [N, V], targets and mask [N], offsets [rows + 1].
template <class T, class S, class I, class M, class O>
token_batch<std::remove_const_t<T>, S> make_token_batch(const strided_view<T, 2, S>& logits,
                                                        const strided_view<I, 1, S>& targets,
                                                        const strided_view<M, 1, S>& mask,
                                                        const strided_view<O, 1, S>& offsets) {
    require_extent(targets, 0, logits.extent(0), "lethe::loss::make_token_batch", "targets");
    token_batch<std::remove_const_t<T>, S> b;
    static_cast<token_targets<S>&>(b) = make_token_targets(targets, mask, offsets);
    b.logits = logits;
    return b;
}

// Per-sequence sums filled by sequence_logprobs. All [rows].
template <class T, class Space = host_space>
struct sequence_stats {
    view1<T, Space> completion_sum;     // sum of logp over completion tokens
    view1<T, Space> completion_tokens;  // number of completion tokens
    view1<T, Space> all_sum;            // sum over prompt + completion tokens
    view1<T, Space> all_tokens;
};

// Caller-owned scratch for the token passes and the loss coefficients.
template <class T, class Space = host_space>
struct loss_workspace {
    view1<T, Space> lse;    // [N]
    view1<T, Space> logp;   // [N]
    sequence_stats<T, Space> stats;  // [rows] each
    view1<T, Space> coef_completion;  // [rows]: g_n for completion tokens of row r
    view1<T, Space> coef_prompt;      // [rows]: g_n for prompt tokens of row r
};

// A loss_workspace backed by host vectors, sized once and reused across calls.
template <class T>
class host_loss_workspace {
public:
    host_loss_workspace() = default;
    host_loss_workspace(index_t tokens, index_t rows) { resize(tokens, rows); }
    void resize(index_t tokens, index_t rows) {
        tok_.resize(static_cast<std::size_t>(2 * tokens));
        seq_.resize(static_cast<std::size_t>(6 * rows));
        tokens_ = tokens;
        rows_ = rows;
    }
    loss_workspace<T> view() {
        loss_workspace<T> w;
        w.lse = make_view(tok_.data(), tokens_);
        w.logp = make_view(tok_.data() + tokens_, tokens_);
        T* s = seq_.data();
        w.stats.completion_sum = make_view(s, rows_);
        w.stats.completion_tokens = make_view(s + rows_, rows_);
        w.stats.all_sum = make_view(s + 2 * rows_, rows_);
        w.stats.all_tokens = make_view(s + 3 * rows_, rows_);
        w.coef_completion = make_view(s + 4 * rows_, rows_);
        w.coef_prompt = make_view(s + 5 * rows_, rows_);
        return w;
    }
    // Read access to the last results.
    const T* token_logp() const noexcept { return tok_.data() + tokens_; }

private:
    std::vector<T> tok_, seq_;
    index_t tokens_ = 0, rows_ = 0;
};

namespace detail {

// First problem found among the tokens (the smallest token index wins).
struct token_issue {
    index_t token = std::numeric_limits<index_t>::max();
    int kind = 0;  // 0 none, 1 target out of range, 2 non-finite log-prob
    std::int32_t target = 0;
};
struct first_token_issue {
    LETHE_HD token_issue operator()(const token_issue& a, const token_issue& b) const noexcept {
        return b.token < a.token ? b : a;
    }
};

// Above this log-prob (p > 0.94) token_forward recomputes logp from the
// other entries of the row, which keeps its relative accuracy near p = 1.
template <class T>
inline constexpr T confident_logp = T(-0.0625);

// sum_j exp(x[j * s] - shift) over n entries.
template <class T>
LETHE_HD inline T sum_exp_shifted(const T* x, index_t n, index_t s, T shift) {
#if LETHE_HAS_VECTOR_EXT
    if constexpr (std::is_same_v<T, float>) {
        if (s == 1) {
            constexpr index_t L = simd::lanes;
            const index_t ev = n / L * L;
            const simd::vfloat vs = simd::broadcast(shift);
            // Float partial sums per block of 256, totals in double: a long
            // row of near-equal tiny terms would otherwise lose ~1e-4.
            double total = 0.0;
            for (index_t b = 0; b < ev; b += 256) {
                const index_t e = b + 256 < ev ? b + 256 : ev;
                simd::vfloat acc = simd::broadcast(0.0f);
                for (index_t j = b; j < e; j += L) acc += simd::exp(simd::load(x + j) - vs);
                total += simd::hsum(acc);
            }
            for (index_t j = ev; j < n; ++j) total += exp_fast(x[j] - shift);
            return static_cast<float>(total);
        }
    }
#endif
    double acc = 0.0;
    for (index_t j = 0; j < n; ++j) acc += exp_fast(static_cast<T>(x[j * s] - shift));
    return static_cast<T>(acc);
}

// lse and log-prob of one token row (dense rows take the vectorised path).
template <class T>
LETHE_HD inline void token_forward(const T* x, index_t vocab, index_t stride, std::int32_t target, T& lse, T& logp) {
    if (target < 0 || target >= vocab) {
        lse = quiet_nan<T>();
        logp = quiet_nan<T>();
        return;
    }
    lse = lethe::detail::row_logsumexp_kernel(x, vocab, stride);
    logp = x[target * stride] - lse;
    if (logp > confident_logp<T>) {
        // The target holds most of the mass: x_t - lse cancels, and in float
        // logp can round to 0 (p = 1 - 2e-8 becomes 1), which ORPO's
        // log1mexp turns into -inf. Recompute from the other entries:
        // logp = -log1p(sum_{j != t} exp(x_j - x_t)), exact to rounding.
        const T xt = x[target * stride];
        const T rest = sum_exp_shifted(x, target, stride, xt) + sum_exp_shifted(x + (target + 1) * stride,
                                                                               vocab - target - 1, stride, xt);
        logp = -std::log1p(rest);
        lse = xt - logp;
    }
}

#if LETHE_HAS_VECTOR_EXT
// Gradient rows of at least this many bytes, written to a buffer other than
// the logits, go out with streaming stores: a normal store first reads the
// line it writes (read for ownership), so writing a row the size of the
// logits would cost one more pass over memory. In place, the line was just
// read and is in the cache, so normal stores win.
inline constexpr index_t stream_row_bytes = 16384;

// d[j] = c * exp(x[j] - lse) over a dense float row; streams when d is a
// separate large row.
inline void scaled_softmax_row(const float* x, float* d, index_t vocab, float lse, float c) {
    constexpr index_t L = simd::lanes;
    const simd::vfloat vl = simd::broadcast(lse), vc = simd::broadcast(c);
    index_t j = 0;
    if (d != x && vocab * static_cast<index_t>(sizeof(float)) >= stream_row_bytes) {
        for (; j < vocab && reinterpret_cast<std::uintptr_t>(d + j) % sizeof(simd::vfloat) != 0; ++j)
            d[j] = c * exp_fast(x[j] - lse);
        for (; j + L <= vocab; j += L) simd::stream(d + j, vc * simd::exp_nonpositive(simd::load(x + j) - vl));
        simd::stream_fence();
    } else {
        for (; j + L <= vocab; j += L) simd::store(d + j, vc * simd::exp_nonpositive(simd::load(x + j) - vl));
    }
    for (; j < vocab; ++j) d[j] = c * exp_fast(x[j] - lse);
}

// Zeros over a dense float row (streamed under the same rule).
inline void zero_row(const float* x, float* d, index_t vocab) {
    constexpr index_t L = simd::lanes;
    index_t j = 0;
    if (d != x && vocab * static_cast<index_t>(sizeof(float)) >= stream_row_bytes) {
        for (; j < vocab && reinterpret_cast<std::uintptr_t>(d + j) % sizeof(simd::vfloat) != 0; ++j) d[j] = 0.0f;
        for (; j + L <= vocab; j += L) simd::stream(d + j, simd::broadcast(0.0f));
        simd::stream_fence();
    }
    for (; j < vocab; ++j) d[j] = 0.0f;
}
#endif

// One span of a token row's gradient: d(j) = -g * (exp(x(j) - lse) -
// [j = target]) for j in [0, count), where the span holds the row's columns
// [c0, c0 + count) and target is relative to c0 (outside [0, count): no
// column of this span is the target). d may be x (in place). g = 0 writes
// zeros without reading x (padding may hold garbage).
template <class T>
LETHE_HD inline void softmax_grad_span(const T* x, index_t sx, T* d, index_t sd, index_t count, index_t target, T lse,
                                       T logp, T g) {
    const bool has_target = target >= 0 && target < count;
#if LETHE_HAS_VECTOR_EXT
    if constexpr (std::is_same_v<T, float>) {
        // Vector-extension path (see core/simd.hpp: omp simd loops with exp
        // stay scalar under GCC's default -ftrapping-math).
        if (sx == 1 && sd == 1) {
            if (g == 0.0f) {
                zero_row(x, d, count);
            } else {
                scaled_softmax_row(x, d, count, lse, -g);
                if (has_target) d[target] = -g * std::expm1(logp);
            }
            return;
        }
    }
#endif
    if (g == T(0)) {
        for (index_t j = 0; j < count; ++j) d[j * sd] = T(0);
        return;
    }
    const T c = -g;
    if (sx == 1 && sd == 1) {
        for (index_t j = 0; j < count; ++j) d[j] = c * exp_fast(static_cast<T>(x[j] - lse));
    } else {
        for (index_t j = 0; j < count; ++j) d[j * sd] = c * exp_fast(static_cast<T>(x[j * sx] - lse));
    }
    // p_t - 1 = expm1(logp): exact even when p_t is close to 1.
    if (has_target) d[target * sd] = c * static_cast<T>(std::expm1(logp));
}

// A whole token row: d(j) = -g * (softmax(x)_j - [j = target]). A target
// outside the vocabulary (reported elsewhere) gives a zero row.
template <class T>
LETHE_HD inline void token_backward(const T* x, index_t sx, T* d, index_t sd, index_t vocab, std::int32_t target, T lse,
                                    T logp, T g) {
    const bool valid = target >= 0 && target < vocab;
    softmax_grad_span(x, sx, d, sd, vocab, static_cast<index_t>(target), lse, logp, valid ? g : T(0));
}

template <class S>
[[noreturn]] inline void throw_token_issue(const char* where, const token_issue& is, const sequence_layout<S>& layout,
                                           index_t vocab) {
    index_t row = -1, pos = is.token;
    if constexpr (std::is_same_v<S, host_space>) {
        row = layout.row_of(is.token);
        pos = is.token - layout.begin(row);
    } else if (!layout.offsets && layout.tokens_per_row > 0) {
        row = is.token / layout.tokens_per_row;
        pos = is.token % layout.tokens_per_row;
    }
    if (is.kind == 1)
        fail(where, "row ", row, ", position ", pos, " (token ", is.token, "): target id ", is.target,
             " is outside the vocabulary [0, ", vocab, ")");
    fail(where, "row ", row, ", position ", pos, " (token ", is.token,
         "): non-finite log-probability (NaN or Inf in the logits, or a -inf target logit)");
}

template <class P, class S>
void check_targets(const P&, const token_targets<S>& b, const char* where) {
    require_space<P, view1<const std::uint8_t, S>>();
    require_extent(b.mask, 0, b.tokens(), where, "mask");
    require(b.layout.rows >= 0, where, "layout: negative row count");
    if (!b.layout.offsets)
        require(b.layout.rows * b.layout.tokens_per_row == b.tokens(), where, "layout: ", b.layout.rows, " rows x ",
                b.layout.tokens_per_row, " positions do not cover the ", b.tokens(), " token rows");
}

template <class P, class T, class S>
void check_batch(const P& pol, const token_batch<T, S>& b, const char* where) {
    check_targets(pol, b, where);
    require(b.logits.extent(1) > 0, where, "logits: the vocabulary is empty");
    require_extent(b.logits, 0, b.tokens(), where, "logits");
}

template <class P, class T, class S>
void check_workspace(const loss_workspace<T, S>& w, index_t tokens, index_t rows, const char* where) {
    require_space<P, view1<T, S>>();
    require_extent(w.lse, 0, tokens, where, "workspace.lse");
    require_extent(w.logp, 0, tokens, where, "workspace.logp");
    require_extent(w.stats.completion_sum, 0, rows, where, "workspace.stats.completion_sum");
    require_extent(w.stats.completion_tokens, 0, rows, where, "workspace.stats.completion_tokens");
    require_extent(w.stats.all_sum, 0, rows, where, "workspace.stats.all_sum");
    require_extent(w.stats.all_tokens, 0, rows, where, "workspace.stats.all_tokens");
    require_extent(w.coef_completion, 0, rows, where, "workspace.coef_completion");
    require_extent(w.coef_prompt, 0, rows, where, "workspace.coef_prompt");
}

// Token pass over rows [first, first + logits.extent(0)) of the batch:
// lse and logp of every non-ignored token (ignored tokens get lse = logp = 0
// and are never read), then the first problem, if any.
template <class P, class T, class S>
token_issue token_pass(const P& pol, view2<const T, S> logits, index_t first, view1<const std::int32_t, S> targets,
                       view1<const std::uint8_t, S> mask, view1<T, S> lse, view1<T, S> logp, bool check_values) {
    const index_t vocab = logits.extent(1);
    return pol.transform_reduce(
        logits.extent(0), token_issue{},
        [=] LETHE_HD(index_t i) {
            const index_t n = first + i;
            token_issue is;
            const std::int32_t t = targets(n);
            if (mask(n) == token_kind::ignore) {
                lse(n) = T(0);
                logp(n) = T(0);
                return is;
            }
            T l, lp;
            token_forward(&logits(i, 0), vocab, logits.stride(1), t, l, lp);
            lse(n) = l;
            logp(n) = lp;
            if (t < 0 || t >= vocab) {
                is.token = n;
                is.kind = 1;
                is.target = t;
            } else if (check_values && (is_nonfinite_bits(l) || is_nonfinite_bits(lp))) {
                is.token = n;
                is.kind = 2;
            }
            return is;
        },
        first_token_issue{});
}

// Gradient pass over rows [first, first + logits.extent(0)) of the batch.
template <class P, class T, class S, class D>
void token_grad_pass(const P& pol, view2<const T, S> logits, D dlogits, index_t first, sequence_layout<S> layout,
                     view1<const std::int32_t, S> targets, view1<const std::uint8_t, S> mask, view1<const T, S> lse,
                     view1<const T, S> logp, view1<const T, S> coef_completion, view1<const T, S> coef_prompt) {
    const index_t vocab = logits.extent(1);
    pol.parallel_for(logits.extent(0), [=] LETHE_HD(index_t i) {
        const index_t n = first + i;
        const std::uint8_t k = mask(n);
        T g = T(0);
        if (k != token_kind::ignore) {
            const index_t r = layout.row_of(n);
            g = k == token_kind::completion ? coef_completion(r) : coef_prompt(r);
        }
        token_backward(&logits(i, 0), logits.stride(1), &dlogits(i, 0), dlogits.stride(1), vocab, targets(n), lse(n),
                       logp(n), g);
    });
}

// Per-sequence sums of the token log-probs (one sequence per index, tokens in
// order: deterministic on every policy).
template <class P, class T, class S>
void sequence_sums(const P& pol, sequence_layout<S> layout, view1<const std::uint8_t, S> mask, view1<const T, S> logp,
                   sequence_stats<T, S> st) {
    pol.parallel_for(layout.rows, [=] LETHE_HD(index_t r) {
        T cs = T(0), cn = T(0), as = T(0), an = T(0);
        for (index_t n = layout.begin(r); n < layout.end(r); ++n) {
            const std::uint8_t k = mask(n);
            if (k == token_kind::ignore) continue;
            as += logp(n);
            an += T(1);
            if (k == token_kind::completion) {
                cs += logp(n);
                cn += T(1);
            }
        }
        st.completion_sum(r) = cs;
        st.completion_tokens(r) = cn;
        st.all_sum(r) = as;
        st.all_tokens(r) = an;
    });
}

template <class T, class S>
view1<const T, S> as_const(const view1<T, S>& v) noexcept { return v; }

}  // namespace detail

// Forward: fills w.lse, w.logp (per token) and w.stats (per sequence).
// Throws lethe::error naming the row and position of the first bad token.
template <execution_policy P, class T, class S>
void sequence_logprobs(const P& pol, const token_batch<T, S>& b, const loss_workspace<T, S>& w,
                       const loss_options& opt = {}) {
    constexpr const char* where = "lethe::loss::sequence_logprobs";
    detail::check_batch(pol, b, where);
    detail::check_workspace<P>(w, b.tokens(), b.rows(), where);
    const auto is = detail::token_pass(pol, b.logits, 0, b.targets, b.mask, w.lse, w.logp, opt.check_values);
    if (is.kind != 0) detail::throw_token_issue(where, is, b.layout, b.vocab());
    detail::sequence_sums(pol, b.layout, b.mask, detail::as_const(w.logp), w.stats);
}

// Backward: dlogits(n, :) = -g_n * (softmax(x_n) - onehot(t_n)) with g_n =
// w.coef_completion[r] for completion tokens, w.coef_prompt[r] for prompt
// tokens of sequence r, 0 for ignored ones. Needs w.lse and w.logp from
// sequence_logprobs on the same batch. dlogits [N, V] may alias b.logits.
template <execution_policy P, class T, class S, class D>
void sequence_logprobs_backward(const P& pol, const token_batch<T, S>& b, const loss_workspace<T, S>& w,
                                const D& dlogits) {
    constexpr const char* where = "lethe::loss::sequence_logprobs_backward";
    static_assert(D::rank == 2, "dlogits must be a rank-2 view [N, V]");
    require_space<P, D>();
    detail::check_batch(pol, b, where);
    detail::check_workspace<P>(w, b.tokens(), b.rows(), where);
    require_same_shape(dlogits, b.logits, where, "dlogits", "logits");
    detail::token_grad_pass(pol, b.logits, dlogits, 0, b.layout, b.targets, b.mask, detail::as_const(w.lse),
                            detail::as_const(w.logp), detail::as_const(w.coef_completion),
                            detail::as_const(w.coef_prompt));
}

}  // namespace lethe::loss
