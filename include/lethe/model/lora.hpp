// lethe/model/lora.hpp - low-rank adapters on the linear layers (Hu et al.
// 2021, "LoRA"), with the Hugging Face PEFT tensor names and conventions:
//   y = x W^T + s * drop(x) A^T B^T,   s = alpha / r,
//   A [r, in] ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform, a = sqrt(5)),
//   B [out, r] = 0, so a fresh adapter leaves the model unchanged.
// Dropout masks are counter-based (seed, step, tensor, element): the backward
// pass regenerates them instead of storing them.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "layers.hpp"
#include "lora_config.hpp"
#include "parameters.hpp"
#include "random.hpp"

namespace lethe::model {

template <class T>
class lora_adapters {
public:
    lora_adapters(const parameter_layout& base, const lora_config& cfg)
        : cfg_(cfg), scaling_(T(cfg.alpha / double(cfg.rank))), plan_(plan_lora_adapters(base, cfg)) {
        params = named_tensors<T>(plan_.layout);
        grads = named_tensors<T>(plan_.layout);
        saved_.resize(plan_.a_of.size());
    }

    const lora_config& config() const noexcept { return cfg_; }
    T scaling() const noexcept { return scaling_; }
    bool adapts(index_t base_tensor) const noexcept { return plan_.a_of[std::size_t(base_tensor)] >= 0; }
    index_t a_index(index_t base_tensor) const noexcept { return plan_.a_of[std::size_t(base_tensor)]; }
    index_t b_index(index_t base_tensor) const noexcept { return plan_.b_of[std::size_t(base_tensor)]; }

    void init(std::uint64_t seed) {
        init_lora(plan_, params, seed);
        merged = false;
    }

    // Sizes the saved adapter activations for n rows (training forward).
    void plan(index_t n) {
        if (n == planned_) return;
        for (std::size_t t = 0; t < plan_.a_of.size(); ++t)
            if (plan_.a_of[t] >= 0) saved_[t].assign(std::size_t(n * cfg_.rank), T(0));
        planned_ = n;
    }

    // y += s * drop(x) A^T B^T. In training the scaled low-rank activation
    // u = s * drop(x) A^T is kept for backward.
    template <execution_policy P>
    void forward(const P& pol, index_t t, const T* x, T* y, index_t n, bool training, std::uint64_t step) {
        if (!adapts(t)) return;
        const index_t r = cfg_.rank, in = params.layout()[plan_.a_of[std::size_t(t)]].cols,
                      out = params.layout()[plan_.b_of[std::size_t(t)]].rows;
        const T* xin = x;
        if (training && cfg_.dropout > 0.0) {
            dropped_input(pol, t, x, n, in, step);
            xin = xdrop_.data();
        }
        T* u;
        if (training) {
            require(planned_ == n, "lora_adapters::forward", "activations planned for ", planned_, " rows, got ", n);
            u = saved_[std::size_t(t)].data();
        } else {
            if (index_t(tmp_.size()) < n * r) tmp_.resize(std::size_t(n * r));
            u = tmp_.data();
        }
        kernels::linear_forward(pol, xin, params.ptr(plan_.a_of[std::size_t(t)]), u, n, in, r);
        const T s = scaling_;
        for (index_t i = 0; i < n * r; ++i) u[i] *= s;
        kernels::linear_forward(pol, u, params.ptr(plan_.b_of[std::size_t(t)]), y, n, r, out, true);
    }

    // dB += dy^T u; du = dy B; dA += s du^T drop(x); dx += s (du A) * mask / (1 - p).
    template <execution_policy P>
    void backward(const P& pol, index_t t, const T* x, const T* dy, T* dx, index_t n, std::uint64_t step) {
        if (!adapts(t)) return;
        const index_t r = cfg_.rank, in = params.layout()[plan_.a_of[std::size_t(t)]].cols,
                      out = params.layout()[plan_.b_of[std::size_t(t)]].rows;
        const index_t ia = plan_.a_of[std::size_t(t)], ib = plan_.b_of[std::size_t(t)];
        kernels::linear_backward_weight(dy, saved_[std::size_t(t)].data(), grads.ptr(ib), n, r, out);
        if (index_t(tmp_.size()) < n * r) tmp_.resize(std::size_t(n * r));
        T* du = tmp_.data();
        kernels::linear_backward_input(dy, params.ptr(ib), du, n, r, out, false);
        for (index_t i = 0; i < n * r; ++i) du[i] *= scaling_;
        const T* xin = x;
        const bool drop = cfg_.dropout > 0.0;
        if (drop) {
            dropped_input(pol, t, x, n, in, step);
            xin = xdrop_.data();
        }
        kernels::linear_backward_weight(du, xin, grads.ptr(ia), n, in, r);
        if (!drop) {
            kernels::linear_backward_input(du, params.ptr(ia), dx, n, in, r, true);
            return;
        }
        T* dxd = xdrop_.data();
        kernels::linear_backward_input(du, params.ptr(ia), dxd, n, in, r, false);
        apply_mask(pol, t, dxd, dxd, n, in, step, dx);
    }

    // W += sign * s * B A on every adapted base tensor; merged = (sign > 0).
    void merge_into(named_tensors<T>& base, T sign) {
        require(sign > T(0) ? !merged : merged, "lora_adapters::merge", sign > T(0) ? "already merged" : "not merged");
        for (std::size_t t = 0; t < plan_.a_of.size(); ++t) {
            if (plan_.a_of[t] < 0) continue;
            const auto& ia = params.layout()[plan_.a_of[t]];
            const auto& ib = params.layout()[plan_.b_of[t]];
            kernels::map_rm<T> W(base.ptr(index_t(t)), ib.rows, ia.cols);
            kernels::cmap_rm<T> A(params.ptr(plan_.a_of[t]), ia.rows, ia.cols), B(params.ptr(plan_.b_of[t]), ib.rows, ib.cols);
            W.noalias() += (sign * scaling_) * (B * A);
        }
        merged = sign > T(0);
    }

    named_tensors<T> params, grads;
    bool merged = false;

private:
    // out = in * mask / (1 - p), or acc += in * mask / (1 - p) when acc is given
    // (masks: lora_dropout_mask in random.hpp).
    template <execution_policy P>
    void apply_mask(const P& pol, index_t t, const T* src, T* dst, index_t n, index_t in, std::uint64_t step,
                    T* acc = nullptr) const {
        const T inv = T(1.0 / (1.0 - cfg_.dropout));
        const lora_dropout_mask mask(step, std::uint64_t(t), cfg_.dropout);
        kernels::for_rows(pol, n, 16 * in, [=](index_t row) {
            for (index_t c = 0; c < in; ++c) {
                const T val = mask.keeps(std::uint64_t(row * in + c)) ? src[row * in + c] * inv : T(0);
                if (acc)
                    acc[row * in + c] += val;
                else
                    dst[row * in + c] = val;
            }
        });
    }
    template <execution_policy P>
    void dropped_input(const P& pol, index_t t, const T* x, index_t n, index_t in, std::uint64_t step) {
        if (index_t(xdrop_.size()) < n * in) xdrop_.resize(std::size_t(n * in));
        apply_mask(pol, t, x, xdrop_.data(), n, in, step);
    }

    lora_config cfg_;
    T scaling_;
    lora_plan plan_;
    index_t planned_ = -1;
    std::vector<std::vector<T>> saved_;
    std::vector<T> tmp_, xdrop_;
};

}  // namespace lethe::model
