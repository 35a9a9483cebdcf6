// lethe/model/llama.hpp - the reference Llama transformer: parameters,
// training forward/backward, LoRA, and KV-cache inference (causal_lm).
//
// Read top to bottom like llm.c: the layout of the three blocks (parameters,
// gradients, activations), then forward one layer at a time, then backward in
// reverse, then the inference path. The per-layer maths lives in layers.hpp.
//
// Shapes: B sequences of T tokens are packed into N = B*T rows; a linear
// layer is y[N, out] = x[N, in] W[out, in]^T (PyTorch's nn.Linear storage).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <malloc.h>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"
#include "attention.hpp"
#include "bf16_linear.hpp"
#include "config.hpp"
#include "kv_slots.hpp"
#include "layers.hpp"
#include "lora.hpp"
#include "parameters.hpp"
#include "quantized_linear.hpp"
#include "random.hpp"

namespace lethe::model {

namespace detail {
// Eigen's GEMM allocates its packing buffers per product. With glibc's
// default thresholds large frees are trimmed back to the OS and the next
// product page-faults them in again (a 4x slowdown measured here, see
// shared/machine.md). Raising the thresholds once per process keeps them.
inline void keep_heap_pages() {
    static const bool done = [] {
        mallopt(M_MMAP_THRESHOLD, 64 << 20);
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        return true;
    }();
    (void)done;
}
}  // namespace detail

// How prefill/step read the weight matrices (training always reads params()).
enum class weight_storage {
    fp32,       // params() as they are
    bf16,       // a bf16 copy of every matrix: half the bytes per decoded token
    quantized,  // a reader's block-quantised matrices (quantized_weights) for
                // decode-sized batches; larger batches (prefill) read params()
};

template <class T = float>
class llama {
public:
    using scalar = T;

    explicit llama(const llama_config& cfg, openmp_policy pol = par)
        : cfg_(cfg), pol_(pol), shape_(std::make_shared<llama_layout>(cfg)),
          layout_(std::shared_ptr<const parameter_layout>(shape_, &shape_->layout)), params_(layout_),
          grads_(layout_), rope_(cfg.max_seq, cfg.head_dim(), cfg.rope_theta) {
        detail::keep_heap_pages();
        set_policy(pol);
    }

    const llama_config& config() const noexcept { return cfg_; }
    const llama_layout& tensors() const noexcept { return *shape_; }
    named_tensors<T>& params() noexcept { return params_; }
    const named_tensors<T>& params() const noexcept { return params_; }
    named_tensors<T>& grads() noexcept { return grads_; }
    const named_tensors<T>& grads() const noexcept { return grads_; }
    const openmp_policy& policy() const noexcept { return pol_; }
    // The GEMMs follow the policy's thread count (set_gemm_threads, backend/eigen.hpp:
    // Eigen's setting is process-wide, OpenBLAS's is the calling thread's
    // OpenMP default; 0 keeps OpenMP's default).
    void set_policy(openmp_policy p) {
        pol_ = p;
        if (p.num_threads > 0) set_gemm_threads(p.num_threads);
    }

    // Hugging Face's initialisation: N(0, std) for matrices, 1 for norms.
    // Counter-based, so the weights depend on the seed only.
    void init_random(std::uint64_t seed, double stddev = 0.02) {
        const auto& L = params_.layout();
        for (index_t t = 0; t < index_t(L.tensors().size()); ++t) {
            T* p = params_.ptr(t);
            const auto& info = L[t];
            if (info.is_vector) {
                std::fill(p, p + info.size(), T(1));
                continue;
            }
            kernels::for_rows(pol_, info.size(), 64, [=](index_t i) {
                p[i] = T(stddev * normal_at(seed, std::uint64_t(t), std::uint64_t(i)));
            });
        }
        if (lora_) lora_->init(seed);
    }

    // Per-layer recomputation (activation checkpointing at layer
    // boundaries): forward keeps the L + 1 residual streams and one layer's
    // scratch instead of every layer's activations; backward recomputes each
    // layer from its input residual just before differentiating it. The
    // recomputation repeats the same arithmetic (dropout masks are functions
    // of the step), so gradients are bit-identical; the price is one more
    // forward of the layers (about +1/3 of a training step's FLOPs).
    // Takes effect at the next forward().
    void set_recompute(bool on) {
        recompute_ = on;
        act_.batch = act_.seq = 0;  // re-plan the activation block
    }
    bool recompute() const noexcept { return recompute_; }
    // Bytes of the training activation block planned by the last forward().
    std::size_t activation_bytes() const noexcept { return act_.block.size() * sizeof(T); }

    void zero_grad() {
        grads_.fill(T(0));
        if (lora_) lora_->grads.fill(T(0));
    }

    // ------------------------------------------------------------------ LoRA
    // Adds low-rank adapters to the linear layers `lc.targets` names; after
    // this, backward() fills only the adapter gradients (the base is frozen).
    void enable_lora(const lora_config& lc, std::uint64_t seed = 0) {
        lora_ = std::make_unique<lora_adapters<T>>(params_.layout(), lc);
        lora_->init(seed);
        train_base_ = false;
    }
    void disable_lora() {
        lora_.reset();
        train_base_ = true;
    }
    lora_adapters<T>* lora() noexcept { return lora_.get(); }
    const lora_adapters<T>* lora() const noexcept { return lora_.get(); }
    // W += (alpha / r) B A for every adapter; the adapters stop being applied.
    void merge_lora() {
        require(lora_ != nullptr, "llama::merge_lora", "LoRA is not enabled");
        lora_->merge_into(params_, T(1));
    }
    // W -= (alpha / r) B A: the exact inverse of merge_lora up to rounding.
    void unmerge_lora() {
        require(lora_ != nullptr, "llama::unmerge_lora", "LoRA is not enabled");
        lora_->merge_into(params_, T(-1));
    }
    // Full fine-tuning even with adapters attached (both get gradients).
    void set_train_base(bool on) noexcept { train_base_ = on; }
    // Dropout only in training forwards; the step counter selects the mask.
    void set_dropout_step(std::uint64_t step) noexcept { dropout_step_ = step; }

    // -------------------------------------------------------------- training
    // Forward over `tokens` ([batch, seq] row-major, every row starting at
    // position 0); saves what backward needs and returns the logits
    // [batch*seq, vocab] (owned by the model, valid until the next call).
    view2<T> forward(std::span<const token_id> tokens, index_t batch, index_t seq) {
        constexpr const char* where = "llama::forward";
        require(batch > 0 && seq > 0, where, "batch and seq must be positive (got ", batch, ", ", seq, ")");
        require(index_t(tokens.size()) == batch * seq, where, "tokens: expected ", batch * seq, " ids, got ",
                tokens.size());
        require(seq <= cfg_.max_seq, where, "seq ", seq, " exceeds max_position_embeddings ", cfg_.max_seq);
        check_tokens(tokens, where);
        plan_activations(batch, seq);
        const index_t N = batch * seq, d = cfg_.d_model;
        tokens_.assign(tokens.begin(), tokens.end());
        if (lora_) lora_->plan(N);

        // Embedding lookup.
        const T* E = params_.ptr(shape_->embed);
        T* x0 = act_.residual(0);
        const token_id* tok = tokens_.data();
        kernels::for_rows(pol_, N, d, [=](index_t n) { std::copy_n(E + index_t(tok[n]) * d, d, x0 + n * d); });

        for (index_t l = 0; l < cfg_.n_layers; ++l) layer_forward(l);

        // Final norm and the head.
        kernels::rmsnorm_forward(pol_, act_.residual(cfg_.n_layers), params_.ptr(shape_->final_norm), act_.xf,
                                 act_.rf, N, d, T(cfg_.norm_eps));
        kernels::linear_forward(pol_, act_.xf, params_.ptr(shape_->lm_head), act_.logits, N, d, cfg_.vocab);
        return view2<T>(act_.logits, N, cfg_.vocab);
    }

    // Accumulates d(loss)/d(parameters) into grads() (and the LoRA gradients)
    // given d(loss)/d(logits) [batch*seq, vocab] of the last forward().
    void backward(view2<const T> dlogits) {
        constexpr const char* where = "llama::backward";
        require(act_.batch > 0, where, "call forward() first");
        const index_t N = act_.batch * act_.seq, d = cfg_.d_model, V = cfg_.vocab;
        require_extent(dlogits, 0, N, where, "dlogits");
        require_extent(dlogits, 1, V, where, "dlogits");
        require(dlogits.is_contiguous(), where, "dlogits must be contiguous");
        T* dx = ws_.dres.data();
        // Head: dxf = dlogits W_head; dW_head += dlogits^T xf.
        kernels::linear_backward_input(dlogits.data(), params_.ptr(shape_->lm_head), ws_.dxn.data(), N, d, V,
                                       false);
        if (train_base_)
            kernels::linear_backward_weight(dlogits.data(), act_.xf, grads_.ptr(shape_->lm_head), N, d, V);
        kernels::rmsnorm_backward(pol_, act_.residual(cfg_.n_layers), params_.ptr(shape_->final_norm), act_.rf,
                                  ws_.dxn.data(), dx, norm_grad(shape_->final_norm), N, d, false);
        for (index_t l = cfg_.n_layers - 1; l >= 0; --l) {
            // The scratch still holds the last layer's activations.
            if (recompute_ && l != cfg_.n_layers - 1) layer_forward(l);
            layer_backward(l);
        }
        // Embedding: rows of dE gathered by token id, in row order.
        if (train_base_) {
            T* dE = grads_.ptr(shape_->embed);
            for (index_t n = 0; n < N; ++n) {
                T* row = dE + index_t(tokens_[std::size_t(n)]) * d;
                const T* g = dx + n * d;
                LETHE_SIMD
                for (index_t j = 0; j < d; ++j) row[j] += g[j];
            }
        }
    }

    // ------------------------------------------------------------- inference
    // Allocates the KV caches: `slots` sequences of up to max_seq tokens.
    void set_num_slots(index_t slots) {
        slots_.resize(slots, "llama::set_num_slots");
        const std::size_t per = std::size_t(cfg_.n_layers * cfg_.max_seq * cfg_.kv_dim());
        kcache_.assign(per * std::size_t(slots), T(0));
        vcache_.assign(per * std::size_t(slots), T(0));
    }
    index_t vocab_size() const noexcept { return cfg_.vocab; }
    index_t num_slots() const noexcept { return slots_.size(); }
    index_t max_length() const noexcept { return cfg_.max_seq; }
    index_t length(index_t slot) const { return slots_.length(slot, "llama::length"); }
    void reset(index_t slot) { slots_.reset(slot, "llama::reset"); }
    void fork(index_t src, index_t dst) {
        const index_t len = slots_.fork(src, dst, "llama::fork"), kvd = cfg_.kv_dim();
        if (src == dst) return;
        for (index_t l = 0; l < cfg_.n_layers; ++l) {
            std::copy_n(kv_at(kcache_, src, l, 0), len * kvd, kv_at(kcache_, dst, l, 0));
            std::copy_n(kv_at(vcache_, src, l, 0), len * kvd, kv_at(vcache_, dst, l, 0));
        }
    }

    // Inference weights. bf16 rounds every matrix of params() (embeddings,
    // projections, head; norm weights stay fp32) to nearest-even bf16 into a
    // second block that prefill/step read instead, widening to float in
    // registers. It is a snapshot: call it again after changing params()
    // (training, merge_lora, loading). Only for llama<float>.
    // quantized: see the overload below; this one only re-selects blocks
    // already handed over. fp32 and bf16 release the quantised blocks.
    void set_inference_weights(weight_storage s) {
        constexpr const char* where = "llama::set_inference_weights";
        if (s == weight_storage::quantized) {
            require(!quant_.matrices.empty(), where,
                    "quantized weights come from a reader: pass them with set_inference_weights(quantized_weights) "
                    "(e.g. io::load_gguf_llama with weights = quantized)");
            wbf16_ = {};
            bf16_ws_ = {};
            storage_ = s;
            return;
        }
        quant_ = {};
        if (s == weight_storage::fp32) {
            wbf16_ = {};
            bf16_ws_ = {};
            storage_ = s;
            return;
        }
        require(std::is_same_v<T, float>, "llama::set_inference_weights", "bf16 weights need llama<float>");
        if constexpr (std::is_same_v<T, float>) {
            const auto& L = params_.layout();
            wbf16_.assign(std::size_t(L.total_size()), kernels::bf16_t(0));
            for (const auto& t : L.tensors())
                if (!t.is_vector) kernels::round_to_bf16(pol_, params_.data() + t.offset, wbf16_.data() + t.offset, t.size());
        }
        storage_ = s;
    }
    // Quantised inference weights: decode-sized batches (n <= small_batch_rows
    // rows: decode, CFG pairs, the head of a prefill) multiply by q's blocks,
    // the embedding lookup dequantises one row per token, and tensors q has
    // no format for (norm weights) read params(). Prefill's larger products
    // keep reading params(), which must hold the same weights dequantised
    // (as io::load_gguf_llama loads them). The blocks are a snapshot, never
    // recomputed: after changing params() (training, merge_lora), switch to
    // fp32 or bf16. Only for llama<float>.
    void set_inference_weights(quantized_weights q) {
        constexpr const char* where = "llama::set_inference_weights";
        require(std::is_same_v<T, float>, where, "quantized weights need llama<float>");
        const auto& L = params_.layout().tensors();
        require(q.matrices.size() == L.size(), where, "quantized weights list ", q.matrices.size(),
                " tensors, the model has ", L.size());
        for (std::size_t i = 0; i < L.size(); ++i) {
            const quantized_matrix& m = q.matrices[i];
            if (!m) continue;
            const auto& t = L[i];
            const quantized_format& f = *m.format;
            require(!t.is_vector, where, t.name, ": a vector has no quantised form");
            require(m.rows == t.rows && m.cols == t.cols, where, t.name, ": quantised matrix is ", m.rows, " x ",
                    m.cols, ", the model's is ", t.rows, " x ", t.cols);
            require(f.block_elements > 0 && m.cols % f.block_elements == 0 &&
                        m.row_bytes == m.cols / f.block_elements * f.block_bytes,
                    where, t.name, ": ", m.cols, " columns of ", f.name, " (blocks of ", f.block_elements, " in ",
                    f.block_bytes, " bytes) do not make rows of ", m.row_bytes, " bytes");
            require(m.blocks != nullptr && f.dot_rows != nullptr && f.dequantize_row != nullptr &&
                        (f.aux_per_block == 0 || f.prepare_input != nullptr),
                    where, t.name, ": missing blocks or kernels for ", f.name);
        }
        wbf16_ = {};
        bf16_ws_ = {};
        quant_ = std::move(q);
        storage_ = weight_storage::quantized;
    }
    weight_storage inference_weights() const noexcept { return storage_; }
    // Bytes of the inference copy held next to params() (bf16 copy or quantised blocks).
    std::size_t inference_copy_bytes() const noexcept {
        return storage_ == weight_storage::quantized ? quant_.bytes : wbf16_.size() * sizeof(kernels::bf16_t);
    }

    // Appends tokens[r] to slot slots[r] (rows of different lengths in one
    // batch); logits row r receives the logits after the last new token.
    void prefill(std::span<const index_t> slots, std::span<const std::span<const token_id>> tokens,
                 view2<float> logits) {
        infer(slots, tokens, logits, "llama::prefill");
    }
    void step(std::span<const index_t> slots, std::span<const token_id> next, view2<float> logits) {
        kv_slot_table::step_rows(next, step_rows_);
        infer(slots, step_rows_, logits, "llama::step");
    }

private:
    // ------------------------------------------------- the activation block
    struct layer_acts {
        T *xn1, *r1, *q, *k, *v, *att, *o, *xmid, *xn2, *r2, *g, *u, *h;
    };
    struct activations {
        index_t batch = 0, seq = 0;
        std::vector<T> block;
        std::vector<T*> res;  // n_layers + 1 residual streams [N, d]
        std::vector<layer_acts> layers;
        T *xf = nullptr, *rf = nullptr, *logits = nullptr;
        T* residual(index_t l) const { return res[std::size_t(l)]; }
    };
    struct workspace {
        std::vector<T> dres, dxn, dq, dk, dv, dob, dg, du, dh;
        std::vector<T> ds;  // [B * n_kv_heads, S, S]: attention backward scratch
    };

    void plan_activations(index_t B, index_t S) {
        if (act_.batch == B && act_.seq == S) return;
        const index_t N = B * S, d = cfg_.d_model, F = cfg_.d_ff, L = cfg_.n_layers;
        const index_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), H = cfg_.n_heads;
        const index_t per_layer = 4 * N * d + 2 * N + 2 * N * qd + 2 * N * kvd + B * H * S * S + 3 * N * F;
        // With recomputation every layer shares one layer's block.
        const index_t stored_layers = recompute_ ? 1 : L;
        const index_t total = (L + 1) * N * d + stored_layers * per_layer + N * d + N + N * cfg_.vocab;
        // Every activation and workspace row is written before it is read,
        // so a block that is big enough is reused as it is: the batch's
        // padded length changes every step, and zeroing the whole block
        // (the saved attention probabilities are B H S^2 per layer) cost
        // about 7% of a small model's training time.
        grow_zeroed(act_.block, total);
        T* p = act_.block.data();
        auto take = [&p](index_t n) {
            T* q = p;
            p += n;
            return q;
        };
        act_.res.clear();
        for (index_t l = 0; l <= L; ++l) act_.res.push_back(take(N * d));
        act_.layers.clear();
        for (index_t l = 0; l < stored_layers; ++l) {
            layer_acts a{};
            a.xn1 = take(N * d);
            a.r1 = take(N);
            a.q = take(N * qd);
            a.k = take(N * kvd);
            a.v = take(N * kvd);
            a.att = take(B * H * S * S);
            a.o = take(N * qd);
            a.xmid = take(N * d);
            a.xn2 = take(N * d);
            a.r2 = take(N);
            a.g = take(N * F);
            a.u = take(N * F);
            a.h = take(N * F);
            act_.layers.push_back(a);
        }
        while (index_t(act_.layers.size()) < L) act_.layers.push_back(act_.layers.front());
        act_.xf = take(N * d);
        act_.rf = take(N);
        act_.logits = take(N * cfg_.vocab);
        act_.batch = B;
        act_.seq = S;
        grow_zeroed(ws_.dres, N * d);
        grow_zeroed(ws_.dxn, N * d);
        grow_zeroed(ws_.dq, N * qd);
        grow_zeroed(ws_.dk, N * kvd);
        grow_zeroed(ws_.dv, N * kvd);
        grow_zeroed(ws_.dob, N * qd);
        grow_zeroed(ws_.dg, N * F);
        grow_zeroed(ws_.du, N * F);
        grow_zeroed(ws_.dh, N * F);
        grow_zeroed(ws_.ds, B * cfg_.n_kv_heads * S * S);
    }
    static void grow_zeroed(std::vector<T>& v, index_t n) {
        if (index_t(v.size()) < n) v.assign(std::size_t(n), T(0));
    }

    T* norm_grad(index_t t) { return train_base_ ? grads_.ptr(t) : ws_norm_sink(t); }
    // Norm weights are frozen under LoRA: their gradient goes to a scratch row.
    T* ws_norm_sink(index_t) {
        norm_sink_.assign(std::size_t(cfg_.d_model), T(0));
        return norm_sink_.data();
    }

    // A linear layer with its adapter (if any): y = x W^T + s * drop(x) A^T B^T.
    void linear_fwd(index_t t, const T* x, T* y, index_t n, index_t in, index_t out, bool training) {
        kernels::linear_forward(pol_, x, params_.ptr(t), y, n, in, out);
        if (lora_ && !lora_->merged) lora_->forward(pol_, t, x, y, n, training, dropout_step_);
    }
    // dx (=|+=) dy W (+ adapter path); dW += dy^T x when the base trains.
    void linear_bwd(index_t t, const T* x, const T* dy, T* dx, index_t n, index_t in, index_t out, bool accumulate) {
        kernels::linear_backward_input(dy, params_.ptr(t), dx, n, in, out, accumulate);
        if (train_base_) kernels::linear_backward_weight(dy, x, grads_.ptr(t), n, in, out);
        if (lora_ && !lora_->merged) lora_->backward(pol_, t, x, dy, dx, n, dropout_step_);
    }

    // ------------------------------------------------------ layer forward
    void layer_forward(index_t l) {
        const auto& W = shape_->layers[std::size_t(l)];
        const auto& a = act_.layers[std::size_t(l)];
        const index_t B = act_.batch, S = act_.seq, N = B * S, d = cfg_.d_model, F = cfg_.d_ff;
        const index_t H = cfg_.n_heads, KV = cfg_.n_kv_heads, hd = cfg_.head_dim(), qd = cfg_.q_dim(),
                      kvd = cfg_.kv_dim();
        const T* x = act_.residual(l);
        // Attention block.
        kernels::rmsnorm_forward(pol_, x, params_.ptr(W.input_norm), a.xn1, a.r1, N, d, T(cfg_.norm_eps));
        linear_fwd(W.q, a.xn1, a.q, N, d, qd, true);
        linear_fwd(W.k, a.xn1, a.k, N, d, kvd, true);
        linear_fwd(W.v, a.xn1, a.v, N, d, kvd, true);
        const auto* rope = &rope_;
        T *q = a.q, *k = a.k;
        kernels::for_rows(pol_, N, 2 * (qd + kvd), [=](index_t n) {
            const index_t pos = n % S;
            kernels::rope_row(q + n * qd, H, hd, rope->cos_at(pos), rope->sin_at(pos), false);
            kernels::rope_row(k + n * kvd, KV, hd, rope->cos_at(pos), rope->sin_at(pos), false);
        });
        // Causal softmax(q k^T / sqrt(hd)) v per (sequence, head); P saved
        // (attention.hpp).
        const kernels::attention_head<T> ah{S, hd, qd, kvd, T(1) / std::sqrt(T(hd))};
        const index_t group = H / KV;
        const T* v = a.v;
        T *att = a.att, *o = a.o;
        kernels::for_rows(pol_, B * H, S * S * hd, [=](index_t bh) {
            const index_t b = bh / H, h = bh % H, g = h / group;
            kernels::attention_head_forward(ah, q + b * S * qd + h * hd, k + b * S * kvd + g * hd,
                                            v + b * S * kvd + g * hd, att + bh * S * S, o + b * S * qd + h * hd);
        });
        // xmid = x + o W_o^T.
        std::copy_n(x, N * d, a.xmid);
        linear_fwd_accumulate(W.o, a.o, a.xmid, N, qd, d);
        // MLP block: x_next = xmid + (silu(xn2 Wg^T) * xn2 Wu^T) Wd^T.
        kernels::rmsnorm_forward(pol_, a.xmid, params_.ptr(W.post_norm), a.xn2, a.r2, N, d, T(cfg_.norm_eps));
        linear_fwd(W.gate, a.xn2, a.g, N, d, F, true);
        linear_fwd(W.up, a.xn2, a.u, N, d, F, true);
        kernels::swiglu_forward(pol_, a.g, a.u, a.h, N, F);
        T* xnext = act_.residual(l + 1);
        std::copy_n(a.xmid, N * d, xnext);
        linear_fwd_accumulate(W.down, a.h, xnext, N, F, d);
    }

    // y += x W^T (+ adapter): the residual additions.
    void linear_fwd_accumulate(index_t t, const T* x, T* y, index_t n, index_t in, index_t out) {
        kernels::linear_forward(pol_, x, params_.ptr(t), y, n, in, out, true);
        if (lora_ && !lora_->merged) lora_->forward(pol_, t, x, y, n, true, dropout_step_);
    }

    // ----------------------------------------------------- layer backward
    // On entry ws_.dres holds d(loss)/d(residual l+1); on exit d/d(residual l).
    void layer_backward(index_t l) {
        const auto& W = shape_->layers[std::size_t(l)];
        const auto& a = act_.layers[std::size_t(l)];
        const index_t B = act_.batch, S = act_.seq, N = B * S, d = cfg_.d_model, F = cfg_.d_ff;
        const index_t H = cfg_.n_heads, KV = cfg_.n_kv_heads, hd = cfg_.head_dim(), qd = cfg_.q_dim(),
                      kvd = cfg_.kv_dim();
        T* dx = ws_.dres.data();  // the residual gradient flows through unchanged
        // MLP.
        linear_bwd(W.down, a.h, dx, ws_.dh.data(), N, F, d, false);
        kernels::swiglu_backward(pol_, a.g, a.u, ws_.dh.data(), ws_.dg.data(), ws_.du.data(), N, F);
        linear_bwd(W.gate, a.xn2, ws_.dg.data(), ws_.dxn.data(), N, d, F, false);
        linear_bwd(W.up, a.xn2, ws_.du.data(), ws_.dxn.data(), N, d, F, true);
        kernels::rmsnorm_backward(pol_, a.xmid, params_.ptr(W.post_norm), a.r2, ws_.dxn.data(), dx,
                                  norm_grad(W.post_norm), N, d, true);
        // Attention output projection.
        linear_bwd(W.o, a.o, dx, ws_.dob.data(), N, qd, d, false);
        // Attention core, per (sequence, kv head) so dk/dv have one writer
        // (attention.hpp); each task has its own [S, S] scratch.
        const kernels::attention_head<T> ah{S, hd, qd, kvd, T(1) / std::sqrt(T(hd))};
        const index_t group = H / KV;
        const T *q = a.q, *k = a.k, *v = a.v, *att = a.att, *dob = ws_.dob.data();
        T *dq = ws_.dq.data(), *dk = ws_.dk.data(), *dv = ws_.dv.data(), *ds = ws_.ds.data();
        kernels::for_rows(pol_, B * KV, group * S * S * hd * 3, [=](index_t bg) {
            const index_t b = bg / KV, g = bg % KV;
            const index_t kv0 = b * S * kvd + g * hd;
            for (index_t j = 0; j < S; ++j) {
                std::fill_n(dk + kv0 + j * kvd, hd, T(0));
                std::fill_n(dv + kv0 + j * kvd, hd, T(0));
            }
            for (index_t h = g * group; h < (g + 1) * group; ++h) {
                const index_t q0 = b * S * qd + h * hd;
                kernels::attention_head_backward(ah, q + q0, k + kv0, v + kv0, att + (b * H + h) * S * S, dob + q0,
                                                 dq + q0, dk + kv0, dv + kv0, ds + bg * S * S);
            }
        });
        // RoPE backward: rotate the gradients back.
        const auto* rope = &rope_;
        kernels::for_rows(pol_, N, 2 * (qd + kvd), [=](index_t n) {
            const index_t pos = n % S;
            kernels::rope_row(dq + n * qd, H, hd, rope->cos_at(pos), rope->sin_at(pos), true);
            kernels::rope_row(dk + n * kvd, KV, hd, rope->cos_at(pos), rope->sin_at(pos), true);
        });
        linear_bwd(W.q, a.xn1, dq, ws_.dxn.data(), N, d, qd, false);
        linear_bwd(W.k, a.xn1, dk, ws_.dxn.data(), N, d, kvd, true);
        linear_bwd(W.v, a.xn1, dv, ws_.dxn.data(), N, d, kvd, true);
        kernels::rmsnorm_backward(pol_, act_.residual(l), params_.ptr(W.input_norm), a.r1, ws_.dxn.data(), dx,
                                  norm_grad(W.input_norm), N, d, true);
    }

    // ----------------------------------------------------- inference path
    void check_tokens(std::span<const token_id> tokens, const char* where) const {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            require(tokens[i] >= 0 && tokens[i] < cfg_.vocab, where, "token ", i, " has id ", tokens[i],
                    " outside [0, ", cfg_.vocab, ")");
    }
    T* kv_at(std::vector<T>& cache, index_t slot, index_t layer, index_t pos) {
        return cache.data() + ((slot * cfg_.n_layers + layer) * cfg_.max_seq + pos) * cfg_.kv_dim();
    }

    void infer(std::span<const index_t> slots, std::span<const std::span<const token_id>> rows, view2<float> logits,
               const char* where) {
        // Validate everything before touching any state.
        const index_t R = index_t(rows.size());
        const index_t N = slots_.validate(slots, rows, cfg_.vocab, cfg_.max_seq, where).tokens;
        require_extent(logits, 0, R, where, "logits");
        require_extent(logits, 1, cfg_.vocab, where, "logits");
        const index_t d = cfg_.d_model, F = cfg_.d_ff, L = cfg_.n_layers, H = cfg_.n_heads, KV = cfg_.n_kv_heads;
        const index_t hd = cfg_.head_dim(), qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), V = cfg_.vocab;
        // Per-token bookkeeping: slot and position of every packed row.
        inf_slot_.resize(std::size_t(N));
        inf_pos_.resize(std::size_t(N));
        last_row_.resize(std::size_t(R));
        {
            index_t n = 0;
            for (index_t r = 0; r < R; ++r) {
                const index_t s = slots[std::size_t(r)], start = slots_[s];
                for (std::size_t i = 0; i < rows[std::size_t(r)].size(); ++i, ++n) {
                    inf_slot_[std::size_t(n)] = s;
                    inf_pos_[std::size_t(n)] = start + index_t(i);
                }
                last_row_[std::size_t(r)] = n - 1;
            }
        }
        // Workspace grows to the largest batch seen, never shrinks.
        const index_t need = 2 * N * d + 2 * N * qd + 2 * N * kvd + 2 * N * F + R * d + R * V;
        if (index_t(inf_ws_.size()) < need) inf_ws_.resize(std::size_t(need));
        T* p = inf_ws_.data();
        auto take = [&p](index_t n) {
            T* q = p;
            p += n;
            return q;
        };
        T *x = take(N * d), *xn = take(N * d), *q = take(N * qd), *o = take(N * qd), *k = take(N * kvd),
          *v = take(N * kvd), *g = take(N * F), *u = take(N * F), *xl = take(R * d), *lg = take(R * V);
        {
            const T* E = params_.ptr(shape_->embed);
            const kernels::bf16_t* Eb = bf16_ptr(shape_->embed);
            const quantized_matrix* Eq = quant_ptr(shape_->embed);
            index_t n = 0;
            for (index_t r = 0; r < R; ++r)
                for (token_id t : rows[std::size_t(r)]) {
                    T* xr = x + d * n++;
                    if constexpr (std::is_same_v<T, float>) {
                        if (Eq) {
                            Eq->format->dequantize_row(Eq->row(index_t(t)), xr, d);
                            continue;
                        }
                    }
                    if (Eb)
                        for (index_t j = 0; j < d; ++j) xr[j] = T(io::bf16_to_float(Eb[index_t(t) * d + j]));
                    else
                        std::copy_n(E + index_t(t) * d, d, xr);
                }
        }
        const index_t* pslot = inf_slot_.data();
        const index_t* ppos = inf_pos_.data();
        const auto* rope = &rope_;
        const T scale = T(1) / std::sqrt(T(hd));
        const index_t group = H / KV, maxs = cfg_.max_seq;
        for (index_t l = 0; l < L; ++l) {
            const auto& W = shape_->layers[std::size_t(l)];
            kernels::rmsnorm_forward(pol_, x, params_.ptr(W.input_norm), xn, static_cast<T*>(nullptr), N, d,
                                     T(cfg_.norm_eps));
            infer_linears<3>(xn, N, d, {{{W.q, q, qd, false}, {W.k, k, kvd, false}, {W.v, v, kvd, false}}});
            T* kc = kcache_.data();
            T* vc = vcache_.data();
            kernels::for_rows(pol_, N, 4 * (qd + kvd), [=](index_t n) {
                const index_t pos = ppos[n];
                kernels::rope_row(q + n * qd, H, hd, rope->cos_at(pos), rope->sin_at(pos), false);
                kernels::rope_row(k + n * kvd, KV, hd, rope->cos_at(pos), rope->sin_at(pos), false);
                const index_t at = ((pslot[n] * L + l) * maxs + pos) * kvd;
                std::copy_n(k + n * kvd, kvd, kc + at);
                std::copy_n(v + n * kvd, kvd, vc + at);
            });
            // Attention over the slot's cache, one pass with an online
            // softmax (Milakov & Gimelshein 2018) accumulating straight into o.
            kernels::for_rows(pol_, N * H, 2 * hd * (ppos[N - 1] + 1), [=](index_t nh) {
                const index_t n = nh / H, h = nh % H, gq = h / group;
                const T* qi = q + n * qd + h * hd;
                T* oi = o + n * qd + h * hd;
                const T* kb = kc + (pslot[n] * L + l) * maxs * kvd + gq * hd;
                const T* vb = vc + (pslot[n] * L + l) * maxs * kvd + gq * hd;
                std::fill_n(oi, hd, T(0));
                T m = -std::numeric_limits<T>::infinity(), s = T(0);
                for (index_t j = 0; j <= ppos[n]; ++j) {
                    const T z = scale * kernels::dot(qi, kb + j * kvd, hd);
                    if (z > m) {
                        const T f = std::exp(m - z);
                        s *= f;
                        LETHE_SIMD
                        for (index_t c = 0; c < hd; ++c) oi[c] *= f;
                        m = z;
                    }
                    const T w = std::exp(z - m);
                    s += w;
                    const T* vj = vb + j * kvd;
                    LETHE_SIMD
                    for (index_t c = 0; c < hd; ++c) oi[c] += w * vj[c];
                }
                const T inv = T(1) / s;
                LETHE_SIMD
                for (index_t c = 0; c < hd; ++c) oi[c] *= inv;
            });
            infer_linears<1>(o, N, qd, {{{W.o, x, d, true}}});
            kernels::rmsnorm_forward(pol_, x, params_.ptr(W.post_norm), xn, static_cast<T*>(nullptr), N, d,
                                     T(cfg_.norm_eps));
            infer_linears<2>(xn, N, d, {{{W.gate, g, F, false}, {W.up, u, F, false}}});
            kernels::swiglu_forward(pol_, g, u, g, N, F);
            infer_linears<1>(g, N, F, {{{W.down, x, d, true}}});
        }
        // Logits only at each row's last position.
        for (index_t r = 0; r < R; ++r) std::copy_n(x + last_row_[std::size_t(r)] * d, d, xl + r * d);
        kernels::rmsnorm_forward(pol_, xl, params_.ptr(shape_->final_norm), xl, static_cast<T*>(nullptr), R, d,
                                 T(cfg_.norm_eps));
        infer_linears<1>(xl, R, d, {{{shape_->lm_head, lg, V, false}}}, false);
        for (index_t r = 0; r < R; ++r)
            for (index_t j = 0; j < V; ++j) logits(r, j) = static_cast<float>(lg[r * V + j]);
        slots_.advance(slots, rows);
    }

    // One inference linear layer's output: y[n, out] (=|+=) x W[tensor]^T.
    struct infer_output {
        index_t tensor;
        T* y;
        index_t out;
        bool accumulate;
    };
    // Outputs that share the input x[n, in] (q|k|v, gate|up): from params()
    // or, with bf16 weights, from the bf16 copy in one parallel region, or,
    // with quantised weights and n <= small_batch_rows, from the blocks in
    // one parallel region; unmerged LoRA adapters are added in fp32 when
    // `adapters`.
    template <std::size_t K>
    void infer_linears(const T* x, index_t n, index_t in, const std::array<infer_output, K>& outs,
                       bool adapters = true) {
        bool done = false;
        if constexpr (std::is_same_v<T, float>) {
            if (storage_ == weight_storage::bf16) {
                std::array<kernels::bf16_output, K> b{};
                for (std::size_t i = 0; i < K; ++i)
                    b[i] = kernels::bf16_output{bf16_ptr(outs[i].tensor), outs[i].y, outs[i].out, outs[i].accumulate};
                if (n <= kernels::small_batch_rows)
                    kernels::bf16_gemv(pol_, x, n, in, b, bf16_ws_);
                else
                    for (const auto& o : b) kernels::bf16_gemm(pol_, x, n, in, o, bf16_ws_);
                done = true;
            }
            if (storage_ == weight_storage::quantized && n <= kernels::small_batch_rows) {
                // Outputs without a quantised matrix read params().
                std::array<kernels::quantized_output, K> qo{};
                for (std::size_t i = 0; i < K; ++i)
                    if (const quantized_matrix* w = quant_ptr(outs[i].tensor))
                        qo[i] = kernels::quantized_output{w, outs[i].y, outs[i].accumulate};
                    else
                        kernels::linear_forward(pol_, x, params_.ptr(outs[i].tensor), outs[i].y, n, in, outs[i].out,
                                                outs[i].accumulate);
                kernels::quantized_gemv(pol_, x, n, in, qo, quant_ws_);
                done = true;
            }
        }
        if (!done)
            for (const auto& o : outs)
                kernels::linear_forward(pol_, x, params_.ptr(o.tensor), o.y, n, in, o.out, o.accumulate);
        if (adapters && lora_ && !lora_->merged)
            for (const auto& o : outs) lora_->forward(pol_, o.tensor, x, o.y, n, false, 0);
    }
    // The bf16 copy of a tensor, or nullptr while inference reads fp32.
    const kernels::bf16_t* bf16_ptr(index_t tensor) const noexcept {
        return storage_ == weight_storage::bf16 ? wbf16_.data() + params_.layout()[tensor].offset : nullptr;
    }
    // The quantised matrix of a tensor, or nullptr (not quantised storage, or no block copy).
    const quantized_matrix* quant_ptr(index_t tensor) const noexcept {
        if (storage_ != weight_storage::quantized) return nullptr;
        const quantized_matrix& m = quant_.matrices[std::size_t(tensor)];
        return m ? &m : nullptr;
    }

    llama_config cfg_;
    openmp_policy pol_;
    std::shared_ptr<llama_layout> shape_;
    std::shared_ptr<const parameter_layout> layout_;
    named_tensors<T> params_, grads_;
    kernels::rope_table<T> rope_;
    std::unique_ptr<lora_adapters<T>> lora_;
    bool train_base_ = true;
    bool recompute_ = false;
    std::uint64_t dropout_step_ = 0;

    activations act_;
    workspace ws_;
    std::vector<T> norm_sink_;
    std::vector<token_id> tokens_;

    weight_storage storage_ = weight_storage::fp32;
    std::vector<kernels::bf16_t> wbf16_;  // bf16 copy of params() (layout offsets) when storage_ is bf16
    std::vector<float> bf16_ws_;          // widened weight rows (prefill) or deinterleaved inputs (decode)
    quantized_weights quant_;             // block-quantised matrices when storage_ is quantized
    std::vector<float> quant_ws_;         // per-input data of the quantised products (block sums of x)

    std::vector<T> kcache_, vcache_, inf_ws_;
    kv_slot_table slots_;
    std::vector<index_t> inf_slot_, inf_pos_, last_row_;
    std::vector<std::span<const token_id>> step_rows_;
};

static_assert(causal_lm<llama<float>>, "the reference transformer must satisfy lethe::causal_lm");

}  // namespace lethe::model
