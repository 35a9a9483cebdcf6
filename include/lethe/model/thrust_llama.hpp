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
// block of the same layout (full parameters), or into LoRA adapters with the
// base frozen, as llama.hpp does; optional per-layer recomputation.
//
// LoRA (Hu et al. 2021; lora.hpp has the maths and PEFT conventions):
// enable_lora lays out the adapters with lora_config.hpp (the CPU model's
// PEFT layout and init, Eigen-free, so nvcc programs need no Eigen) and
// keeps them in one adapter block in the policy's memory, with one gradient
// block beside it. The adapter path y += s * drop(x) A^T B^T runs through
// the same Gemm dispatch; s and the dropout masks (counter-based, the CPU
// model's) are thrust kernels. load_lora / store_lora move adapters to and
// from a host named_tensors<T> with lora_adapters<T>'s layout (PEFT names),
// so io/peft.hpp writes and reads them and adapters trained on either model
// load on the other.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/host_vector.h>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"
#include "config.hpp"
#include "kv_slots.hpp"
#include "lora_config.hpp"
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

    // ------------------------------------------------------------------ LoRA
    // Adds low-rank adapters to the linear layers `lc.targets` names, with
    // init_lora(seed)'s values, the CPU model's (A uniform, B = 0); after this,
    // backward() fills only the adapter gradients (base and norms frozen).
    // A bad config throws lethe::error and leaves the model as it was.
    void enable_lora(const lora_config& lc, std::uint64_t seed = 0) {
        const lora_plan plan = plan_lora_adapters(shape_.layout, lc);  // validates lc
        named_tensors<T> host(plan.layout);
        init_lora(plan, host, seed);
        lora_state st;
        st.layout = plan.layout;
        st.config = lc;
        st.rank = lc.rank;
        st.scaling = T(lc.alpha / double(lc.rank));  // as lora_adapters::scaling()
        st.dropout = lc.dropout;
        st.of.assign(shape_.layout.tensors().size(), lora_slot{});
        for (index_t t = 0; t < index_t(st.of.size()); ++t) {
            if (!plan.adapts(t)) continue;
            const auto& a = (*st.layout)[plan.a_of[std::size_t(t)]];
            const auto& b = (*st.layout)[plan.b_of[std::size_t(t)]];
            st.of[std::size_t(t)] = lora_slot{a.offset, b.offset, a.cols, b.rows, st.adapted++};
            st.max_in = std::max(st.max_in, a.cols);
            st.max_b = std::max(st.max_b, b.size());
        }
        vector<T>(host.storage().begin(), host.storage().end()).swap(lora_params_);
        vector<T>(lora_params_.size(), T(0)).swap(lora_grads_);
        lora_ = std::move(st);
        lora_on_ = true;
        lora_saved_rows_ = -1;
        train_base_ = false;
    }
    void disable_lora() {
        lora_on_ = false;
        lora_ = lora_state{};
        vector<T>().swap(lora_params_);
        vector<T>().swap(lora_grads_);
        vector<T>().swap(lora_saved_);
        train_base_ = true;
    }
    bool has_lora() const noexcept { return lora_on_; }
    bool lora_merged() const noexcept { return lora_on_ && lora_.merged; }
    // The settings enable_lora was given.
    const lora_config& lora_settings() const {
        require(lora_on_, "thrust_llama::lora_settings", "LoRA is not enabled");
        return lora_.config;
    }
    // The adapters' layout (PEFT names): named_tensors<T>(m.lora_layout())
    // is a host block load_lora/store_lora accept.
    std::shared_ptr<const parameter_layout> lora_layout() const {
        require(lora_on_, "thrust_llama::lora_layout", "LoRA is not enabled");
        return lora_.layout;
    }
    // The adapter parameters and gradients in the policy's memory (layout:
    // lora_layout()); thrust_adamw(*lora_layout(), ...) updates them.
    vector<T>& lora_parameter_block() noexcept { return lora_params_; }
    const vector<T>& lora_parameter_block() const noexcept { return lora_params_; }
    vector<T>& lora_gradient_block() noexcept { return lora_grads_; }
    const vector<T>& lora_gradient_block() const noexcept { return lora_grads_; }
    // Adapters from / to a host block of lora_layout()'s layout (same names
    // and shapes: the CPU model's lora()->params with the same config, or a
    // PEFT file read into such a block). One transfer each.
    void load_lora(const named_tensors<T>& host) {
        check_lora_block(host, "thrust_llama::load_lora");
        thrust::copy(host.storage().begin(), host.storage().end(), lora_params_.begin());
    }
    void store_lora(named_tensors<T>& host) const {
        check_lora_block(host, "thrust_llama::store_lora");
        thrust::copy(lora_params_.begin(), lora_params_.end(), host.storage().begin());
    }
    void store_lora_gradients(named_tensors<T>& host) const {
        check_lora_block(host, "thrust_llama::store_lora_gradients");
        thrust::copy(lora_grads_.begin(), lora_grads_.end(), host.storage().begin());
    }
    // W += (alpha / r) B A for every adapter; the adapters stop being applied.
    void merge_lora() { merge_adapters(T(1), "thrust_llama::merge_lora"); }
    // W -= (alpha / r) B A: the inverse of merge_lora up to rounding.
    void unmerge_lora() { merge_adapters(T(-1), "thrust_llama::unmerge_lora"); }
    // Full fine-tuning even with adapters attached (both get gradients).
    void set_train_base(bool on) noexcept { train_base_ = on; }
    // Dropout only in training forwards; the step counter selects the mask.
    void set_dropout_step(std::uint64_t step) noexcept { dropout_step_ = step; }

    // -------------------------------------------------------------- training
    // Per-layer recomputation (as llama.hpp): forward keeps the L + 1
    // residual streams and one layer's activations; backward recomputes each
    // layer from its input residual just before differentiating it. Same
    // arithmetic in the same order, so gradients are bit-identical; about
    // +1/3 of a step's FLOPs. Takes effect at the next forward().
    void set_recompute(bool on) {
        recompute_ = on;
        tr_.batch = tr_.seq = 0;  // re-plan the activation block
    }
    bool recompute() const noexcept { return recompute_; }
    // Bytes of the training block planned by the last forward() (activations
    // and the backward workspace; LoRA's rank-r activations are apart).
    std::size_t activation_bytes() const noexcept { return train_.size() * sizeof(T); }

    // forward() runs `tokens` ([batch, seq] row-major host ids, every row
    // from position 0), keeps what backward() needs and returns the logits
    // [batch*seq, vocab] in the model's memory, valid until the next call.
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
        plan_lora(N, true);
        lora_saved_rows_ = adapters_active() ? N : -1;
        train_forward();
        return strided_view<T, 2, space>(tr_.logits, N, cfg_.vocab);
    }

    // Accumulates d(loss)/d(parameters) into the gradient block (and the
    // adapter gradient block) given d(loss)/d(logits) of the last forward(),
    // in the model's memory. Under LoRA the base gradient block is neither
    // allocated nor touched unless set_train_base(true).
    void backward(strided_view<const T, 2, space> dlogits) {
        constexpr const char* where = "thrust_llama::backward";
        require(tr_.batch > 0, where, "call forward() first");
        const index_t N = tr_.batch * tr_.seq;
        require_extent(dlogits, 0, N, where, "dlogits");
        require_extent(dlogits, 1, cfg_.vocab, where, "dlogits");
        require(dlogits.is_contiguous(), where, "dlogits must be contiguous");
        require(!adapters_active() || lora_saved_rows_ == N, where,
                "the adapters changed since the last forward() (enable_lora/unmerge_lora): call forward() first");
        if (train_base_ && grads_.size() != params_.size()) grads_.assign(params_.size(), T(0));
        train_backward(dlogits.data());
    }
    void zero_grad() {
        if (train_base_ || !grads_.empty()) grads_.assign(params_.size(), T(0));
        if (lora_on_) thrust::fill(lora_grads_.begin(), lora_grads_.end(), T(0));
    }
    // The gradient block in the policy's memory (layout: tensors().layout).
    vector<T>& gradient_block() noexcept { return grads_; }
    const vector<T>& gradient_block() const noexcept { return grads_; }
    void store_gradients(named_tensors<T>& host) const {
        require(host.layout().same_as(shape_.layout), "thrust_llama::store_gradients",
                "the block's layout differs from this model's (another config?)");
        require(grads_.size() == params_.size(), "thrust_llama::store_gradients",
                "no base gradients (call backward; under LoRA the base is frozen: store_lora_gradients, or "
                "set_train_base(true))");
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
        plan_lora(N, false);

        namespace tk = thrust_kernels;
        tk::embed(pol_, param(shape_.embed), tok, x, N, d);
        for (index_t l = 0; l < L; ++l) {
            const auto& W = shape_.layers[std::size_t(l)];
            const index_t koff = l * maxs;
            // Attention block: x += softmax(q k^T / sqrt(hd)) v W_o^T.
            tk::rmsnorm(pol_, x, param(W.input_norm), xn, rstd, N, d, eps);
            linear_fwd(W.q, xn, q, N, d, qd, false, false);
            linear_fwd(W.k, xn, k, N, d, kvd, false, false);
            linear_fwd(W.v, xn, v, N, d, kvd, false, false);
            tk::rope(pol_, q, pos, cos_t, sin_t, N, H, hd, false);
            tk::rope(pol_, k, pos, cos_t, sin_t, N, KV, hd, false);
            tk::store_kv(pol_, k, v, kc, vc, kbase, koff, pos, N, kvd);
            tk::attention_scores(pol_, q, kc, att, kbase, koff, pos, N, H, KV, hd, span, scale);
            tk::attention_softmax(pol_, att, pos, N, H, span);
            tk::attention_values(pol_, att, vc, o, kbase, koff, pos, N, H, KV, hd, span);
            linear_fwd(W.o, o, x, N, qd, d, true, false);
            // MLP block: x += (silu(xn Wg^T) * xn Wu^T) Wd^T.
            tk::rmsnorm(pol_, x, param(W.post_norm), xn, rstd, N, d, eps);
            linear_fwd(W.gate, xn, g, N, d, F, false, false);
            linear_fwd(W.up, xn, u, N, d, F, false, false);
            tk::swiglu(pol_, g, u, g, N * F);
            linear_fwd(W.down, g, x, N, F, d, true, false);
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
    // With recomputation every layer shares one layer's activations.
    void plan_training(index_t B, index_t S) {
        if (tr_.batch == B && tr_.seq == S) return;
        const index_t N = B * S, d = cfg_.d_model, F = cfg_.d_ff, L = cfg_.n_layers, V = cfg_.vocab;
        const index_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), H = cfg_.n_heads;
        const index_t per_layer = 3 * N * d + 2 * N + 2 * N * qd + 2 * N * kvd + N * H * S + 3 * N * F;
        const index_t work = 2 * N * d + 2 * N * qd + 2 * N * kvd + 3 * N * F + N * H * S + N;
        const index_t stored_layers = recompute_ ? 1 : L;
        const index_t total = (L + 1) * N * d + stored_layers * per_layer + N * d + N + N * V + work;
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
        for (index_t l = 0; l < stored_layers; ++l) {
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
        while (index_t(tr_.layers.size()) < L) tr_.layers.push_back(tr_.layers.front());
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
        const index_t N = tr_.batch * tr_.seq, d = cfg_.d_model;
        tk::embed(pol_, param(shape_.embed), raw(train_tok_), tr_.res[0], N, d);
        for (index_t l = 0; l < cfg_.n_layers; ++l) layer_forward(l);
        tk::rmsnorm(pol_, tr_.res[std::size_t(cfg_.n_layers)], param(shape_.final_norm), tr_.xf, tr_.rf, N, d,
                    T(cfg_.norm_eps));
        gemm_.linear(tr_.xf, param(shape_.lm_head), tr_.logits, N, d, cfg_.vocab, false);
    }

    // Layer l from residual l to residual l + 1, saving its activations
    // (also the recomputation in backward: the same calls in the same order).
    void layer_forward(index_t l) {
        namespace tk = thrust_kernels;
        const index_t S = tr_.seq, N = tr_.batch * S, d = cfg_.d_model, F = cfg_.d_ff, H = cfg_.n_heads,
                      KV = cfg_.n_kv_heads, hd = cfg_.head_dim(), qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
        const index_t* kbase = raw(train_idx_);
        const index_t* pos = kbase + N;
        const T* cos_t = raw(rope_);
        const T* sin_t = cos_t + cfg_.max_seq * (hd / 2);
        const T eps = T(cfg_.norm_eps), scale = T(1) / std::sqrt(T(hd));
        const auto& W = shape_.layers[std::size_t(l)];
        const auto& a = tr_.layers[std::size_t(l)];
        const T* x = tr_.res[std::size_t(l)];
        tk::rmsnorm(pol_, x, param(W.input_norm), a.xn1, a.r1, N, d, eps);
        linear_fwd(W.q, a.xn1, a.q, N, d, qd, false, true);
        linear_fwd(W.k, a.xn1, a.k, N, d, kvd, false, true);
        linear_fwd(W.v, a.xn1, a.v, N, d, kvd, false, true);
        tk::rope(pol_, a.q, pos, cos_t, sin_t, N, H, hd, false);
        tk::rope(pol_, a.k, pos, cos_t, sin_t, N, KV, hd, false);
        tk::attention_scores(pol_, a.q, a.k, a.att, kbase, index_t(0), pos, N, H, KV, hd, S, scale);
        tk::attention_softmax(pol_, a.att, pos, N, H, S);
        tk::attention_values(pol_, a.att, a.v, a.o, kbase, index_t(0), pos, N, H, KV, hd, S);
        tk::copy(pol_, x, a.xmid, N * d);
        linear_fwd(W.o, a.o, a.xmid, N, qd, d, true, true);
        tk::rmsnorm(pol_, a.xmid, param(W.post_norm), a.xn2, a.r2, N, d, eps);
        linear_fwd(W.gate, a.xn2, a.g, N, d, F, false, true);
        linear_fwd(W.up, a.xn2, a.u, N, d, F, false, true);
        tk::swiglu(pol_, a.g, a.u, a.h, N * F);
        T* xnext = tr_.res[std::size_t(l + 1)];
        tk::copy(pol_, a.xmid, xnext, N * d);
        linear_fwd(W.down, a.h, xnext, N, F, d, true, true);
    }

    T* grad(index_t tensor) noexcept { return raw(grads_) + shape_.layout[tensor].offset; }

    // Norm weight gradients go nowhere while the base is frozen.
    T* norm_grad(index_t tensor) noexcept { return train_base_ ? grad(tensor) : nullptr; }

    // dx (=|+=) dy W (+ the adapter path) and, when the base trains,
    // dW += dy^T x for the linear layer `tensor`.
    void linear_backward(index_t tensor, const T* x, const T* dy, T* dx, index_t n, index_t in, index_t out,
                         bool accumulate) {
        gemm_.linear_backward_input(dy, param(tensor), dx, n, in, out, accumulate);
        if (train_base_) gemm_.linear_backward_weight(dy, x, grad(tensor), n, in, out);
        lora_backward(tensor, x, dy, dx, n);
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
                             norm_grad(shape_.final_norm), tr_.row_tmp, N, d, false);
        for (index_t l = L - 1; l >= 0; --l) {
            // The shared scratch still holds the last layer's activations.
            if (recompute_ && l != L - 1) layer_forward(l);
            const auto& W = shape_.layers[std::size_t(l)];
            const auto& a = tr_.layers[std::size_t(l)];
            // MLP block.
            linear_backward(W.down, a.h, dx, tr_.dh, N, F, d, false);
            tk::swiglu_backward(pol_, a.g, a.u, tr_.dh, tr_.dg, tr_.du, N * F);
            linear_backward(W.gate, a.xn2, tr_.dg, tr_.dxn, N, d, F, false);
            linear_backward(W.up, a.xn2, tr_.du, tr_.dxn, N, d, F, true);
            tk::rmsnorm_backward(pol_, a.xmid, param(W.post_norm), a.r2, tr_.dxn, dx, norm_grad(W.post_norm),
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
                                 norm_grad(W.input_norm), tr_.row_tmp, N, d, true);
        }
        if (train_base_) tk::embed_backward(pol_, raw(train_tok_), dx, grad(shape_.embed), N, d);
    }

    // ----------------------------------------------------------------- LoRA
    // Where one base tensor's adapter lives: offsets of A [r, in] and
    // B [out, r] in the adapter block, and its slot among the saved rank-r
    // activations (a < 0: not adapted).
    struct lora_slot {
        index_t a = -1, b = -1, in = 0, out = 0, saved = -1;
    };
    struct lora_state {
        std::shared_ptr<const parameter_layout> layout;
        lora_config config;
        std::vector<lora_slot> of;  // per base tensor
        index_t rank = 0, adapted = 0, max_in = 0, max_b = 0;
        T scaling = T(0);
        double dropout = 0.0;
        bool merged = false;
    };

    bool adapters_active() const noexcept { return lora_on_ && !lora_.merged; }

    void check_lora_block(const named_tensors<T>& host, const char* where) const {
        require(lora_on_, where, "LoRA is not enabled");
        require(host.layout().same_as(*lora_.layout), where,
                "the adapter block's layout differs from this model's adapters (another rank, targets or config?)");
    }

    // Sizes the adapter workspace for n rows: du [n, r] | dropped input
    // [n, max_in], and in training the saved u = s drop(x) A^T per adapter.
    void plan_lora(index_t n, bool training) {
        if (!adapters_active()) return;
        const index_t need = n * lora_.rank + (lora_.dropout > 0.0 ? n * lora_.max_in : 0);
        if (index_t(lora_ws_.size()) < need) vector<T>(std::size_t(need)).swap(lora_ws_);
        const index_t saved = lora_.adapted * n * lora_.rank;
        if (training && index_t(lora_saved_.size()) < saved) vector<T>(std::size_t(saved)).swap(lora_saved_);
    }

    // y (=|+=) x W^T, then the adapter: y += s * drop(x) A^T B^T. In training
    // u = s * drop(x) A^T is kept for backward (lora.hpp's order of operations).
    void linear_fwd(index_t t, const T* x, T* y, index_t n, index_t in, index_t out, bool accumulate,
                    bool training) {
        gemm_.linear(x, param(t), y, n, in, out, accumulate);
        if (!adapters_active()) return;
        const lora_slot& s = lora_.of[std::size_t(t)];
        if (s.a < 0) return;
        const index_t r = lora_.rank;
        T* ws = raw(lora_ws_);
        const T* xin = x;
        if (training && lora_.dropout > 0.0) {
            thrust_kernels::lora_dropout(pol_, x, ws + n * r, n * in, t, dropout_step_, lora_.dropout,
                                         T(1.0 / (1.0 - lora_.dropout)), false);
            xin = ws + n * r;
        }
        T* u = training ? raw(lora_saved_) + s.saved * n * r : ws;
        const T* P = raw(lora_params_);
        gemm_.linear(xin, P + s.a, u, n, in, r, false);
        thrust_kernels::scale(pol_, u, n * r, lora_.scaling);
        gemm_.linear(u, P + s.b, y, n, r, out, true);
    }

    // dB += dy^T u; du = s dy B; dA += du^T drop(x); dx += mask(du A) / (1 - p).
    void lora_backward(index_t t, const T* x, const T* dy, T* dx, index_t n) {
        if (!adapters_active()) return;
        const lora_slot& s = lora_.of[std::size_t(t)];
        if (s.a < 0) return;
        const index_t r = lora_.rank, in = s.in, out = s.out;
        const T* P = raw(lora_params_);
        T* G = raw(lora_grads_);
        T* du = raw(lora_ws_);
        T* xd = du + n * r;
        gemm_.linear_backward_weight(dy, raw(lora_saved_) + s.saved * n * r, G + s.b, n, r, out);
        gemm_.linear_backward_input(dy, P + s.b, du, n, r, out, false);
        thrust_kernels::scale(pol_, du, n * r, lora_.scaling);
        const bool drop = lora_.dropout > 0.0;
        const T inv = T(1.0 / (1.0 - lora_.dropout));
        if (drop) thrust_kernels::lora_dropout(pol_, x, xd, n * in, t, dropout_step_, lora_.dropout, inv, false);
        gemm_.linear_backward_weight(du, drop ? xd : x, G + s.a, n, in, r);
        if (!drop) {
            gemm_.linear_backward_input(du, P + s.a, dx, n, in, r, true);
            return;
        }
        gemm_.linear_backward_input(du, P + s.a, xd, n, in, r, false);
        thrust_kernels::lora_dropout(pol_, xd, dx, n * in, t, dropout_step_, lora_.dropout, inv, true);
    }

    // W += sign * s * B A for every adapter: dx (+)= dy W with dy = sign s B
    // [out, r] and W = A [r, in] is the GEMM dispatch's backward-input product.
    void merge_adapters(T sign, const char* where) {
        require(lora_on_, where, "LoRA is not enabled");
        require(sign > T(0) ? !lora_.merged : lora_.merged, where, sign > T(0) ? "already merged" : "not merged");
        if (index_t(lora_ws_.size()) < lora_.max_b) vector<T>(std::size_t(lora_.max_b)).swap(lora_ws_);
        T* sb = raw(lora_ws_);
        const T* P = raw(lora_params_);
        for (index_t t = 0; t < index_t(lora_.of.size()); ++t) {
            const lora_slot& s = lora_.of[std::size_t(t)];
            if (s.a < 0) continue;
            thrust_kernels::scaled_copy(pol_, P + s.b, sb, s.out * lora_.rank, sign * lora_.scaling);
            gemm_.linear_backward_input(sb, P + s.a, raw(params_) + shape_.layout[t].offset, s.out, s.in,
                                        lora_.rank, true);
        }
        lora_.merged = sign > T(0);
        lora_saved_rows_ = -1;
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
    bool recompute_ = false;
    bool train_base_ = true;
    // LoRA: the adapters' map and settings, their blocks in the policy's
    // memory, the saved rank-r activations and the adapter workspace.
    bool lora_on_ = false;
    lora_state lora_;
    vector<T> lora_params_, lora_grads_, lora_saved_, lora_ws_;
    index_t lora_saved_rows_ = -1;  // rows of the saved activations (-1: none valid)
    std::uint64_t dropout_step_ = 0;
    kv_slot_table slots_;
    std::vector<token_id> tok_host_;
    std::vector<index_t> idx_host_;
    std::vector<T> logits_host_;
    std::vector<std::span<const token_id>> step_rows_;
};

}  // namespace lethe::model
