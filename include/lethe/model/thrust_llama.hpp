// lethe/model/thrust_llama.hpp - the reference Llama transformer on thrust:
// the same model as llama.hpp with its memory in thrust vectors of one
// system (CPP/OMP: host memory; CUDA: GPU memory).
//
//   thrust_llama<Policy, Gemm, T>
//     Policy  a lethe::thrust_policy (thrust_cpp(), thrust_omp(), thrust_cuda(stream))
//     Gemm    the GEMM dispatch for that memory: model::thrust_host_gemm for
//             host memory, lethe::cublas_gemm (<lethe/backend/cublas.hpp>,
//             .cu files) for CUDA; the space tags must agree (checked at
//             compile time).
//
// Memory, llm.c style: one parameter block with the CPU model's layout
// (parameters.hpp), so load_parameters() is one transfer of
// llama<T>::params(); one KV-cache block [2][slot][layer][max_seq][kv_dim];
// one activation block planned for the largest batch seen; small index
// blocks (token ids, per-row cache bases and positions) copied in per call.
// The elementwise and reduction kernels are thrust_layers.hpp, written once
// for every system; the GEMMs go through Gemm. The host orchestrates: shapes
// and ids are validated on the host before any state changes, as in llama.hpp.
//
// Inference satisfies lethe::causal_lm (prefill / step with per-slot KV
// caches, sequences of different lengths in one batch, logits at each row's
// last position), so guidance::generate and CFG decoding run on it.
// Training (forward over full sequences + backward) is in
// thrust_llama_train.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"
#include "config.hpp"
#include "parameters.hpp"
#include "thrust_layers.hpp"

namespace lethe::model {

// The thrust vector whose memory the policy's kernels can touch.
template <class Policy, class U>
using thrust_system_vector = std::conditional_t<std::is_same_v<typename Policy::space, device_space>,
                                                thrust::device_vector<U>, thrust::host_vector<U>>;

template <class Policy, class Gemm, class T = float>
class thrust_llama {
    static_assert(std::is_same_v<typename Gemm::space, typename Policy::space>,
                  "thrust_llama: the GEMM dispatch works on another memory space than the policy "
                  "(thrust_host_gemm goes with host policies, cublas_gemm with thrust_cuda)");
    static_assert(std::is_floating_point_v<T>, "thrust_llama: T must be float or double");

public:
    using scalar = T;
    using space = typename Policy::space;
    template <class U>
    using vector = thrust_system_vector<Policy, U>;

    thrust_llama(const llama_config& cfg, Policy pol, Gemm gemm = Gemm())
        : cfg_(cfg), pol_(pol), gemm_(std::move(gemm)), shape_(cfg),
          params_(std::size_t(shape_.layout.total_size()), T(0)) {
        // cos/sin of pos * theta^(-2i/hd), [max_seq, hd/2] each, in double.
        const index_t half = cfg_.head_dim() / 2;
        std::vector<T> table(std::size_t(2 * cfg_.max_seq * half));
        for (index_t p = 0; p < cfg_.max_seq; ++p)
            for (index_t i = 0; i < half; ++i) {
                const double angle =
                    double(p) * std::pow(cfg_.rope_theta, -2.0 * double(i) / double(cfg_.head_dim()));
                table[std::size_t(p * half + i)] = T(std::cos(angle));
                table[std::size_t((cfg_.max_seq + p) * half + i)] = T(std::sin(angle));
            }
        rope_.assign(table.begin(), table.end());
    }

    const llama_config& config() const noexcept { return cfg_; }
    const llama_layout& tensors() const noexcept { return shape_; }
    const Policy& policy() const noexcept { return pol_; }
    const Gemm& gemm() const noexcept { return gemm_; }

    // ------------------------------------------------------------ parameters
    // Copies a parameter block laid out as llama<T>::params() (same config)
    // into the model's memory in one transfer.
    void load_parameters(const named_tensors<T>& host) {
        require(host.layout().same_as(shape_.layout), "thrust_llama::load_parameters",
                "the parameter block's layout differs from this model's (another config?)");
        thrust::copy(host.storage().begin(), host.storage().end(), params_.begin());
    }
    // The inverse: the model's parameters into a host block of the same layout.
    void store_parameters(named_tensors<T>& host) const {
        require(host.layout().same_as(shape_.layout), "thrust_llama::store_parameters",
                "the parameter block's layout differs from this model's (another config?)");
        thrust::copy(params_.begin(), params_.end(), host.storage().begin());
    }
    // The parameter block in the policy's memory (layout: tensors().layout).
    vector<T>& parameter_block() noexcept { return params_; }
    const vector<T>& parameter_block() const noexcept { return params_; }

    // ------------------------------------------------------------- inference
    // Allocates the KV caches: `slots` sequences of up to max_seq tokens.
    void set_num_slots(index_t slots) {
        require(slots >= 0, "thrust_llama::set_num_slots", "slots must be >= 0, got ", slots);
        kv_.assign(std::size_t(2 * slots * slot_stride()), T(0));
        lengths_.assign(std::size_t(slots), 0);
    }
    index_t vocab_size() const noexcept { return cfg_.vocab; }
    index_t num_slots() const noexcept { return index_t(lengths_.size()); }
    index_t max_length() const noexcept { return cfg_.max_seq; }
    index_t length(index_t slot) const {
        check_slot(slot, "thrust_llama::length");
        return lengths_[std::size_t(slot)];
    }
    void reset(index_t slot) {
        check_slot(slot, "thrust_llama::reset");
        lengths_[std::size_t(slot)] = 0;
    }
    void fork(index_t src, index_t dst) {
        check_slot(src, "thrust_llama::fork (src)");
        check_slot(dst, "thrust_llama::fork (dst)");
        if (src == dst) return;
        const index_t len = lengths_[std::size_t(src)], kvd = cfg_.kv_dim();
        T* kc = raw(kv_);
        T* vc = kc + num_slots() * slot_stride();
        for (index_t l = 0; l < cfg_.n_layers; ++l) {
            const index_t from = cache_row(src, l) * kvd, to = cache_row(dst, l) * kvd;
            thrust_kernels::copy(pol_, kc + from, kc + to, len * kvd);
            thrust_kernels::copy(pol_, vc + from, vc + to, len * kvd);
        }
        lengths_[std::size_t(dst)] = len;
    }

    // Appends tokens[r] to slot slots[r] (rows of different lengths in one
    // batch); logits row r receives the logits after the last new token.
    void prefill(std::span<const index_t> slots, std::span<const std::span<const token_id>> tokens,
                 view2<float> logits) {
        constexpr const char* where = "thrust_llama::prefill";
        require(slots.size() == tokens.size(), where, "slots (", slots.size(), ") and token rows (", tokens.size(),
                ") differ in count");
        for (std::size_t r = 0; r < tokens.size(); ++r)
            require(!tokens[r].empty(), where, "row ", r, ": empty token span");
        infer(slots, tokens, logits, where);
    }
    void step(std::span<const index_t> slots, std::span<const token_id> next, view2<float> logits) {
        constexpr const char* where = "thrust_llama::step";
        require(slots.size() == next.size(), where, "slots (", slots.size(), ") and tokens (", next.size(),
                ") differ in count");
        step_rows_.clear();
        for (std::size_t r = 0; r < next.size(); ++r) step_rows_.push_back(next.subspan(r, 1));
        infer(slots, step_rows_, logits, where);
    }

private:
    template <class V>
    static auto* raw(V& v) noexcept {
        return thrust::raw_pointer_cast(v.data());
    }
    const T* param(index_t tensor) const noexcept {
        return thrust::raw_pointer_cast(params_.data()) + shape_.layout[tensor].offset;
    }
    // Cache rows per slot, and the first cache row of (slot, layer).
    index_t slot_stride() const noexcept { return cfg_.n_layers * cfg_.max_seq * cfg_.kv_dim(); }
    index_t cache_row(index_t slot, index_t layer) const noexcept {
        return (slot * cfg_.n_layers + layer) * cfg_.max_seq;
    }
    void check_slot(index_t slot, const char* where) const {
        require(slot >= 0 && slot < num_slots(), where, "slot ", slot, " out of range [0, ", num_slots(),
                ") (call set_num_slots first)");
    }

    // Validates the whole batch, then runs it; no state changes on error.
    void infer(std::span<const index_t> slots, std::span<const std::span<const token_id>> rows, view2<float> logits,
               const char* where) {
        const index_t R = index_t(rows.size());
        require(R > 0, where, "empty batch");
        require_extent(logits, 0, R, where, "logits");
        require_extent(logits, 1, cfg_.vocab, where, "logits");
        index_t N = 0, span = 1;
        for (index_t r = 0; r < R; ++r) {
            const index_t s = slots[std::size_t(r)];
            check_slot(s, where);
            for (index_t r2 = 0; r2 < r; ++r2)
                require(slots[std::size_t(r2)] != s, where, "rows ", r2, " and ", r, " both use slot ", s);
            const auto& toks = rows[std::size_t(r)];
            const index_t end = lengths_[std::size_t(s)] + index_t(toks.size());
            require(end <= cfg_.max_seq, where, "row ", r, ": slot ", s, " would hold ", end,
                    " tokens, more than max_length ", cfg_.max_seq);
            for (std::size_t i = 0; i < toks.size(); ++i)
                require(toks[i] >= 0 && toks[i] < cfg_.vocab, where, "row ", r, ", token ", i, ": id ", toks[i],
                        " outside [0, ", cfg_.vocab, ")");
            N += index_t(toks.size());
            span = std::max(span, end);
        }
        const index_t d = cfg_.d_model, F = cfg_.d_ff, L = cfg_.n_layers, H = cfg_.n_heads, KV = cfg_.n_kv_heads;
        const index_t hd = cfg_.head_dim(), qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), V = cfg_.vocab,
                      maxs = cfg_.max_seq;

        // Per packed row: token, first cache row of its slot, position; then
        // the last row of each request. Built on the host, one copy each.
        tok_host_.resize(std::size_t(N));
        idx_host_.resize(std::size_t(2 * N + R));
        {
            index_t n = 0;
            for (index_t r = 0; r < R; ++r) {
                const index_t s = slots[std::size_t(r)], start = lengths_[std::size_t(s)];
                const auto& toks = rows[std::size_t(r)];
                for (std::size_t i = 0; i < toks.size(); ++i, ++n) {
                    tok_host_[std::size_t(n)] = toks[i];
                    idx_host_[std::size_t(n)] = cache_row(s, 0);
                    idx_host_[std::size_t(N + n)] = start + index_t(i);
                }
                idx_host_[std::size_t(2 * N + r)] = n - 1;
            }
        }
        upload(tok_host_, tok_);
        upload(idx_host_, idx_);
        const token_id* tok = raw(tok_);
        const index_t* kbase = raw(idx_);
        const index_t* pos = kbase + N;
        const index_t* last = kbase + 2 * N;

        // The activation block, grown to the largest batch seen.
        const index_t need = 2 * N * d + 2 * N * qd + 2 * N * kvd + 2 * N * F + N + N * H * span + R * d + R * V;
        if (index_t(act_.size()) < need) vector<T>(std::size_t(need)).swap(act_);
        T* p = raw(act_);
        auto take = [&p](index_t count) {
            T* q = p;
            p += count;
            return q;
        };
        T *x = take(N * d), *xn = take(N * d), *q = take(N * qd), *o = take(N * qd), *k = take(N * kvd),
          *v = take(N * kvd), *g = take(N * F), *u = take(N * F), *rstd = take(N), *att = take(N * H * span),
          *xl = take(R * d), *lg = take(R * V);
        T* kc = raw(kv_);
        T* vc = kc + num_slots() * slot_stride();
        const T* cos_t = raw(rope_);
        const T* sin_t = cos_t + maxs * (hd / 2);
        const T eps = T(cfg_.norm_eps), scale = T(1) / std::sqrt(T(hd));

        namespace tk = thrust_kernels;
        tk::embed(pol_, param(shape_.embed), tok, x, N, d);
        for (index_t l = 0; l < L; ++l) {
            const auto& W = shape_.layers[std::size_t(l)];
            const index_t koff = l * maxs;
            // Attention block: x += softmax(q k^T / sqrt(hd)) v W_o^T.
            tk::rmsnorm(pol_, x, param(W.input_norm), xn, rstd, N, d, eps);
            gemm_.linear(xn, param(W.q), q, N, d, qd, false);
            gemm_.linear(xn, param(W.k), k, N, d, kvd, false);
            gemm_.linear(xn, param(W.v), v, N, d, kvd, false);
            tk::rope(pol_, q, pos, cos_t, sin_t, N, H, hd, false);
            tk::rope(pol_, k, pos, cos_t, sin_t, N, KV, hd, false);
            tk::store_kv(pol_, k, v, kc, vc, kbase, koff, pos, N, kvd);
            tk::attention_scores(pol_, q, kc, att, kbase, koff, pos, N, H, KV, hd, span, scale);
            tk::attention_softmax(pol_, att, pos, N, H, span);
            tk::attention_values(pol_, att, vc, o, kbase, koff, pos, N, H, KV, hd, span);
            gemm_.linear(o, param(W.o), x, N, qd, d, true);
            // MLP block: x += (silu(xn Wg^T) * xn Wu^T) Wd^T.
            tk::rmsnorm(pol_, x, param(W.post_norm), xn, rstd, N, d, eps);
            gemm_.linear(xn, param(W.gate), g, N, d, F, false);
            gemm_.linear(xn, param(W.up), u, N, d, F, false);
            tk::swiglu(pol_, g, u, g, N * F);
            gemm_.linear(g, param(W.down), x, N, F, d, true);
        }
        // Logits only at each row's last position.
        tk::gather_rows(pol_, x, last, xl, R, d);
        tk::rmsnorm(pol_, xl, param(shape_.final_norm), xl, rstd, R, d, eps);
        gemm_.linear(xl, param(shape_.lm_head), lg, R, d, V, false);
        logits_host_.resize(std::size_t(R * V));
        const auto lg_at = act_.begin() + (lg - raw(act_));
        thrust::copy(lg_at, lg_at + R * V, logits_host_.begin());
        for (index_t r = 0; r < R; ++r)
            for (index_t j = 0; j < V; ++j) logits(r, j) = static_cast<float>(logits_host_[std::size_t(r * V + j)]);
        for (index_t r = 0; r < R; ++r)
            lengths_[std::size_t(slots[std::size_t(r)])] += index_t(rows[std::size_t(r)].size());
    }

    // Host staging -> the policy's memory (grown, never shrunk).
    template <class U>
    static void upload(const std::vector<U>& host, vector<U>& dst) {
        if (dst.size() < host.size()) vector<U>(host.size()).swap(dst);
        thrust::copy(host.begin(), host.end(), dst.begin());
    }

    llama_config cfg_;
    Policy pol_;
    Gemm gemm_;
    llama_layout shape_;
    vector<T> params_;  // one block, the CPU model's layout
    vector<T> rope_;    // [2][max_seq][hd/2]: cos then sin
    vector<T> kv_;      // [2][slot][layer][max_seq][kv_dim]: keys then values
    vector<T> act_;     // inference activations, planned per call
    vector<token_id> tok_;
    vector<index_t> idx_;
    std::vector<index_t> lengths_;
    std::vector<token_id> tok_host_;
    std::vector<index_t> idx_host_;
    std::vector<T> logits_host_;
    std::vector<std::span<const token_id>> step_rows_;
};

}  // namespace lethe::model
