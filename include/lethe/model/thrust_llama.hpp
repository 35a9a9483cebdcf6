// lethe/model/thrust_llama.hpp - the reference Llama transformer on thrust:
// the same model as llama.hpp with its memory in thrust vectors the policy's
// kernels can touch (host policies, CPP/OMP: thrust::host_vector; CUDA:
// thrust::device_vector, GPU memory).
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
// Training: forward() over full sequences and backward() into one gradient
// block of the same layout (full parameters; LoRA stays on the CPU model).
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
#include "kv_slots.hpp"
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
        slots_.resize(slots, "thrust_llama::set_num_slots");
        kv_.assign(std::size_t(2 * slots * slot_stride()), T(0));
    }
    index_t vocab_size() const noexcept { return cfg_.vocab; }
    index_t num_slots() const noexcept { return slots_.size(); }
    index_t max_length() const noexcept { return cfg_.max_seq; }
    index_t length(index_t slot) const { return slots_.length(slot, "thrust_llama::length"); }
    void reset(index_t slot) { slots_.reset(slot, "thrust_llama::reset"); }
    void fork(index_t src, index_t dst) {
        const index_t len = slots_.fork(src, dst, "thrust_llama::fork"), kvd = cfg_.kv_dim();
        if (src == dst) return;
        T* kc = raw(kv_);
        T* vc = kc + num_slots() * slot_stride();
        for (index_t l = 0; l < cfg_.n_layers; ++l) {
            const index_t from = cache_row(src, l) * kvd, to = cache_row(dst, l) * kvd;
            thrust_kernels::copy(pol_, kc + from, kc + to, len * kvd);
            thrust_kernels::copy(pol_, vc + from, vc + to, len * kvd);
        }
    }

    // Appends tokens[r] to slot slots[r] (rows of different lengths in one
    // batch); logits row r receives the logits after the last new token.
    void prefill(std::span<const index_t> slots, std::span<const std::span<const token_id>> tokens,
                 view2<float> logits) {
        infer(slots, tokens, logits, "thrust_llama::prefill");
    }
    void step(std::span<const index_t> slots, std::span<const token_id> next, view2<float> logits) {
        kv_slot_table::step_rows(next, step_rows_);
        infer(slots, step_rows_, logits, "thrust_llama::step");
    }

    // -------------------------------------------------------------- training
    // Full-parameter training (LoRA is the CPU model's; not here). forward()
    // runs `tokens` ([batch, seq] row-major host ids, every row from position
    // 0), keeps what backward() needs and returns the logits [batch*seq,
    // vocab] in the model's memory, valid until the next call.
    strided_view<T, 2, space> forward(std::span<const token_id> tokens, index_t batch, index_t seq) {
        constexpr const char* where = "thrust_llama::forward";
        require(batch > 0 && seq > 0, where, "batch and seq must be positive (got ", batch, ", ", seq, ")");
        require(index_t(tokens.size()) == batch * seq, where, "tokens: expected ", batch * seq, " ids, got ",
                tokens.size());
        require(seq <= cfg_.max_seq, where, "seq ", seq, " exceeds max_position_embeddings ", cfg_.max_seq);
        for (std::size_t i = 0; i < tokens.size(); ++i)
            require(tokens[i] >= 0 && tokens[i] < cfg_.vocab, where, "token ", i, " has id ", tokens[i],
                    " outside [0, ", cfg_.vocab, ")");
        const index_t N = batch * seq;
        tok_host_.assign(tokens.begin(), tokens.end());
        idx_host_.resize(std::size_t(2 * N));
        for (index_t n = 0; n < N; ++n) {
            idx_host_[std::size_t(n)] = n / seq * seq;  // first row of the sequence
            idx_host_[std::size_t(N + n)] = n % seq;    // position
        }
        upload(tok_host_, train_tok_);
        upload(idx_host_, train_idx_);
        plan_training(batch, seq);
        train_forward();
        return strided_view<T, 2, space>(tr_.logits, N, cfg_.vocab);
    }

    // Accumulates d(loss)/d(parameters) into the gradient block given
    // d(loss)/d(logits) of the last forward(), in the model's memory.
    void backward(strided_view<const T, 2, space> dlogits) {
        constexpr const char* where = "thrust_llama::backward";
        require(tr_.batch > 0, where, "call forward() first");
        const index_t N = tr_.batch * tr_.seq;
        require_extent(dlogits, 0, N, where, "dlogits");
        require_extent(dlogits, 1, cfg_.vocab, where, "dlogits");
        require(dlogits.is_contiguous(), where, "dlogits must be contiguous");
        if (grads_.size() != params_.size()) zero_grad();
        train_backward(dlogits.data());
    }
    void zero_grad() { grads_.assign(params_.size(), T(0)); }
    // The gradient block in the policy's memory (layout: tensors().layout).
    vector<T>& gradient_block() noexcept { return grads_; }
    const vector<T>& gradient_block() const noexcept { return grads_; }
    void store_gradients(named_tensors<T>& host) const {
        require(host.layout().same_as(shape_.layout), "thrust_llama::store_gradients",
                "the block's layout differs from this model's (another config?)");
        require(grads_.size() == params_.size(), "thrust_llama::store_gradients", "no gradients yet (call backward)");
        thrust::copy(grads_.begin(), grads_.end(), host.storage().begin());
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

    // Validates the whole batch, then runs it; no state changes on error.
    void infer(std::span<const index_t> slots, std::span<const std::span<const token_id>> rows, view2<float> logits,
               const char* where) {
        const index_t R = index_t(rows.size());
        const auto extent = slots_.validate(slots, rows, cfg_.vocab, cfg_.max_seq, where);
        const index_t N = extent.tokens, span = extent.longest;
        require_extent(logits, 0, R, where, "logits");
        require_extent(logits, 1, cfg_.vocab, where, "logits");
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
                const index_t s = slots[std::size_t(r)], start = slots_[s];
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
        slots_.advance(slots, rows);
    }

    // ------------------------------------------------- training activations
    struct layer_acts {
        T *xn1, *r1, *q, *k, *v, *att, *o, *xmid, *xn2, *r2, *g, *u, *h;
    };
    struct training_block {
        index_t batch = 0, seq = 0;
        std::vector<T*> res;  // n_layers + 1 residual streams [N, d]
        std::vector<layer_acts> layers;
        T *xf = nullptr, *rf = nullptr, *logits = nullptr;
        // backward workspace
        T *dres = nullptr, *dxn = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr, *dob = nullptr,
          *dg = nullptr, *du = nullptr, *dh = nullptr, *ds = nullptr, *row_tmp = nullptr;
    };

    // One block for activations and backward workspace, carved in order.
    void plan_training(index_t B, index_t S) {
        if (tr_.batch == B && tr_.seq == S) return;
        const index_t N = B * S, d = cfg_.d_model, F = cfg_.d_ff, L = cfg_.n_layers, V = cfg_.vocab;
        const index_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), H = cfg_.n_heads;
        const index_t per_layer = 3 * N * d + 2 * N + 2 * N * qd + 2 * N * kvd + N * H * S + 3 * N * F;
        const index_t work = 2 * N * d + 2 * N * qd + 2 * N * kvd + 3 * N * F + N * H * S + N;
        const index_t total = (L + 1) * N * d + L * per_layer + N * d + N + N * V + work;
        vector<T>(std::size_t(total), T(0)).swap(train_);
        T* p = raw(train_);
        auto take = [&p](index_t count) {
            T* q = p;
            p += count;
            return q;
        };
        tr_.res.clear();
        for (index_t l = 0; l <= L; ++l) tr_.res.push_back(take(N * d));
        tr_.layers.clear();
        for (index_t l = 0; l < L; ++l) {
            layer_acts a{};
            a.xn1 = take(N * d);
            a.r1 = take(N);
            a.q = take(N * qd);
            a.k = take(N * kvd);
            a.v = take(N * kvd);
            a.att = take(N * H * S);
            a.o = take(N * qd);
            a.xmid = take(N * d);
            a.xn2 = take(N * d);
            a.r2 = take(N);
            a.g = take(N * F);
            a.u = take(N * F);
            a.h = take(N * F);
            tr_.layers.push_back(a);
        }
        tr_.xf = take(N * d);
        tr_.rf = take(N);
        tr_.logits = take(N * V);
        tr_.dres = take(N * d);
        tr_.dxn = take(N * d);
        tr_.dq = take(N * qd);
        tr_.dob = take(N * qd);
        tr_.dk = take(N * kvd);
        tr_.dv = take(N * kvd);
        tr_.dg = take(N * F);
        tr_.du = take(N * F);
        tr_.dh = take(N * F);
        tr_.ds = take(N * H * S);
        tr_.row_tmp = take(N);
        tr_.batch = B;
        tr_.seq = S;
    }

    void train_forward() {
        namespace tk = thrust_kernels;
        const index_t S = tr_.seq, N = tr_.batch * S, d = cfg_.d_model, F = cfg_.d_ff, H = cfg_.n_heads,
                      KV = cfg_.n_kv_heads, hd = cfg_.head_dim(), qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
        const index_t* kbase = raw(train_idx_);
        const index_t* pos = kbase + N;
        const T* cos_t = raw(rope_);
        const T* sin_t = cos_t + cfg_.max_seq * (hd / 2);
        const T eps = T(cfg_.norm_eps), scale = T(1) / std::sqrt(T(hd));
        tk::embed(pol_, param(shape_.embed), raw(train_tok_), tr_.res[0], N, d);
        for (index_t l = 0; l < cfg_.n_layers; ++l) {
            const auto& W = shape_.layers[std::size_t(l)];
            const auto& a = tr_.layers[std::size_t(l)];
            const T* x = tr_.res[std::size_t(l)];
            tk::rmsnorm(pol_, x, param(W.input_norm), a.xn1, a.r1, N, d, eps);
            gemm_.linear(a.xn1, param(W.q), a.q, N, d, qd, false);
            gemm_.linear(a.xn1, param(W.k), a.k, N, d, kvd, false);
            gemm_.linear(a.xn1, param(W.v), a.v, N, d, kvd, false);
            tk::rope(pol_, a.q, pos, cos_t, sin_t, N, H, hd, false);
            tk::rope(pol_, a.k, pos, cos_t, sin_t, N, KV, hd, false);
            tk::attention_scores(pol_, a.q, a.k, a.att, kbase, index_t(0), pos, N, H, KV, hd, S, scale);
            tk::attention_softmax(pol_, a.att, pos, N, H, S);
            tk::attention_values(pol_, a.att, a.v, a.o, kbase, index_t(0), pos, N, H, KV, hd, S);
            tk::copy(pol_, x, a.xmid, N * d);
            gemm_.linear(a.o, param(W.o), a.xmid, N, qd, d, true);
            tk::rmsnorm(pol_, a.xmid, param(W.post_norm), a.xn2, a.r2, N, d, eps);
            gemm_.linear(a.xn2, param(W.gate), a.g, N, d, F, false);
            gemm_.linear(a.xn2, param(W.up), a.u, N, d, F, false);
            tk::swiglu(pol_, a.g, a.u, a.h, N * F);
            T* xnext = tr_.res[std::size_t(l + 1)];
            tk::copy(pol_, a.xmid, xnext, N * d);
            gemm_.linear(a.h, param(W.down), xnext, N, F, d, true);
        }
        tk::rmsnorm(pol_, tr_.res[std::size_t(cfg_.n_layers)], param(shape_.final_norm), tr_.xf, tr_.rf, N, d, eps);
        gemm_.linear(tr_.xf, param(shape_.lm_head), tr_.logits, N, d, cfg_.vocab, false);
    }

    T* grad(index_t tensor) noexcept { return raw(grads_) + shape_.layout[tensor].offset; }

    // dx (=|+=) dy W and dW += dy^T x for the linear layer `tensor`.
    void linear_backward(index_t tensor, const T* x, const T* dy, T* dx, index_t n, index_t in, index_t out,
                         bool accumulate) {
        gemm_.linear_backward_input(dy, param(tensor), dx, n, in, out, accumulate);
        gemm_.linear_backward_weight(dy, x, grad(tensor), n, in, out);
    }

    void train_backward(const T* dlogits) {
        namespace tk = thrust_kernels;
        const index_t S = tr_.seq, N = tr_.batch * S, d = cfg_.d_model, F = cfg_.d_ff, H = cfg_.n_heads,
                      KV = cfg_.n_kv_heads, hd = cfg_.head_dim(), qd = cfg_.q_dim(), kvd = cfg_.kv_dim(),
                      L = cfg_.n_layers;
        const index_t* kbase = raw(train_idx_);
        const index_t* pos = kbase + N;
        const T* cos_t = raw(rope_);
        const T* sin_t = cos_t + cfg_.max_seq * (hd / 2);
        const T scale = T(1) / std::sqrt(T(hd));
        T* dx = tr_.dres;  // d(loss)/d(residual stream), updated layer by layer
        linear_backward(shape_.lm_head, tr_.xf, dlogits, tr_.dxn, N, d, cfg_.vocab, false);
        tk::rmsnorm_backward(pol_, tr_.res[std::size_t(L)], param(shape_.final_norm), tr_.rf, tr_.dxn, dx,
                             grad(shape_.final_norm), tr_.row_tmp, N, d, false);
        for (index_t l = L - 1; l >= 0; --l) {
            const auto& W = shape_.layers[std::size_t(l)];
            const auto& a = tr_.layers[std::size_t(l)];
            // MLP block.
            linear_backward(W.down, a.h, dx, tr_.dh, N, F, d, false);
            tk::swiglu_backward(pol_, a.g, a.u, tr_.dh, tr_.dg, tr_.du, N * F);
            linear_backward(W.gate, a.xn2, tr_.dg, tr_.dxn, N, d, F, false);
            linear_backward(W.up, a.xn2, tr_.du, tr_.dxn, N, d, F, true);
            tk::rmsnorm_backward(pol_, a.xmid, param(W.post_norm), a.r2, tr_.dxn, dx, grad(W.post_norm),
                                 tr_.row_tmp, N, d, true);
            // Attention block.
            linear_backward(W.o, a.o, dx, tr_.dob, N, qd, d, false);
            tk::attention_backward_scores(pol_, a.att, tr_.dob, a.v, tr_.ds, kbase, pos, N, H, KV, hd, S, scale);
            tk::attention_backward_q(pol_, tr_.ds, a.k, tr_.dq, kbase, pos, N, H, KV, hd, S);
            tk::attention_backward_kv(pol_, a.att, tr_.ds, a.q, tr_.dob, tr_.dk, tr_.dv, kbase, pos, N, H, KV, hd, S);
            tk::rope(pol_, tr_.dq, pos, cos_t, sin_t, N, H, hd, true);
            tk::rope(pol_, tr_.dk, pos, cos_t, sin_t, N, KV, hd, true);
            linear_backward(W.q, a.xn1, tr_.dq, tr_.dxn, N, d, qd, false);
            linear_backward(W.k, a.xn1, tr_.dk, tr_.dxn, N, d, kvd, true);
            linear_backward(W.v, a.xn1, tr_.dv, tr_.dxn, N, d, kvd, true);
            tk::rmsnorm_backward(pol_, tr_.res[std::size_t(l)], param(W.input_norm), a.r1, tr_.dxn, dx,
                                 grad(W.input_norm), tr_.row_tmp, N, d, true);
        }
        tk::embed_backward(pol_, raw(train_tok_), dx, grad(shape_.embed), N, d);
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
    vector<T> grads_;   // one block, the parameters' layout (allocated by zero_grad/backward)
    vector<T> train_;   // training activations + backward workspace
    vector<token_id> train_tok_;
    vector<index_t> train_idx_;  // [first row of the sequence | position] per row
    training_block tr_;
    kv_slot_table slots_;
    std::vector<token_id> tok_host_;
    std::vector<index_t> idx_host_;
    std::vector<T> logits_host_;
    std::vector<std::span<const token_id>> step_rows_;
};

}  // namespace lethe::model
