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
#include "parameters.hpp"
#include "random.hpp"

namespace lethe::model {

inline const std::vector<std::string>& lora_linear_names() {
    static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                   "gate_proj", "up_proj", "down_proj"};
    return names;
}

struct lora_config {
    index_t rank = 16;
    double alpha = 32.0;
    double dropout = 0.0;  // probability of zeroing an input element of the adapter path
    std::vector<std::string> targets = lora_linear_names();  // PEFT target_modules

    void validate() const {
        constexpr const char* where = "lora_config";
        require(rank > 0, where, "r must be positive, got ", rank);
        require(alpha > 0.0, where, "lora_alpha must be positive, got ", alpha);
        require(dropout >= 0.0 && dropout < 1.0, where, "lora_dropout must be in [0, 1), got ", dropout);
        require(!targets.empty(), where, "target_modules is empty");
        for (const auto& t : targets) {
            bool ok = false;
            for (const auto& n : lora_linear_names()) ok = ok || n == t;
            require(ok, where, "target module '", t, "' is not a linear layer of the model (q_proj, k_proj, v_proj, "
                    "o_proj, gate_proj, up_proj, down_proj)");
        }
    }
};

// "model.layers.0.self_attn.q_proj.weight" -> "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
inline std::string peft_name(const std::string& base, const char* which) {
    const std::string stem = base.substr(0, base.size() - std::string(".weight").size());
    return "base_model.model." + stem + "." + which + ".weight";
}

template <class T>
class lora_adapters {
public:
    lora_adapters(const parameter_layout& base, const lora_config& cfg)
        : cfg_(cfg), scaling_(T(cfg.alpha / double(cfg.rank))) {
        cfg.validate();
        auto layout = std::make_shared<parameter_layout>();
        const index_t nt = index_t(base.tensors().size());
        a_of_.assign(std::size_t(nt), -1);
        b_of_.assign(std::size_t(nt), -1);
        for (index_t t = 0; t < nt; ++t) {
            const auto& info = base[t];
            bool hit = false;
            for (const auto& target : cfg.targets) {
                const std::string suffix = "." + target + ".weight";
                hit = hit || (info.name.size() > suffix.size() &&
                              info.name.compare(info.name.size() - suffix.size(), suffix.size(), suffix) == 0);
            }
            if (!hit) continue;
            a_of_[std::size_t(t)] = layout->add(peft_name(info.name, "lora_A"), cfg.rank, info.cols);
            b_of_[std::size_t(t)] = layout->add(peft_name(info.name, "lora_B"), info.rows, cfg.rank);
            max_in_ = std::max(max_in_, info.cols);
        }
        require(layout->total_size() > 0, "lora_adapters", "no linear layer matches the target modules");
        layout_ = layout;
        params = named_tensors<T>(layout_);
        grads = named_tensors<T>(layout_);
        saved_.resize(std::size_t(nt));
    }

    const lora_config& config() const noexcept { return cfg_; }
    T scaling() const noexcept { return scaling_; }
    bool adapts(index_t base_tensor) const noexcept { return a_of_[std::size_t(base_tensor)] >= 0; }
    index_t a_index(index_t base_tensor) const noexcept { return a_of_[std::size_t(base_tensor)]; }
    index_t b_index(index_t base_tensor) const noexcept { return b_of_[std::size_t(base_tensor)]; }

    void init(std::uint64_t seed) {
        for (std::size_t t = 0; t < a_of_.size(); ++t) {
            if (a_of_[t] < 0) continue;
            const auto& info = params.layout()[a_of_[t]];
            const double bound = 1.0 / std::sqrt(double(info.cols));
            T* a = params.ptr(a_of_[t]);
            for (index_t i = 0; i < info.size(); ++i)
                a[i] = T(bound * (2.0 * uniform_open(hash_counter(seed, 0x10a0000 + t, std::uint64_t(i))) - 1.0));
            std::fill_n(params.ptr(b_of_[t]), params.layout()[b_of_[t]].size(), T(0));
        }
        merged = false;
    }

    // Sizes the saved adapter activations for n rows (training forward).
    void plan(index_t n) {
        if (n == planned_) return;
        for (std::size_t t = 0; t < a_of_.size(); ++t)
            if (a_of_[t] >= 0) saved_[t].assign(std::size_t(n * cfg_.rank), T(0));
        planned_ = n;
    }

    // y += s * drop(x) A^T B^T. In training the scaled low-rank activation
    // u = s * drop(x) A^T is kept for backward.
    template <execution_policy P>
    void forward(const P& pol, index_t t, const T* x, T* y, index_t n, bool training, std::uint64_t step) {
        if (!adapts(t)) return;
        const index_t r = cfg_.rank, in = params.layout()[a_of_[std::size_t(t)]].cols,
                      out = params.layout()[b_of_[std::size_t(t)]].rows;
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
        kernels::linear_forward(pol, xin, params.ptr(a_of_[std::size_t(t)]), u, n, in, r);
        const T s = scaling_;
        for (index_t i = 0; i < n * r; ++i) u[i] *= s;
        kernels::linear_forward(pol, u, params.ptr(b_of_[std::size_t(t)]), y, n, r, out, true);
    }

    // dB += dy^T u; du = dy B; dA += s du^T drop(x); dx += s (du A) * mask / (1 - p).
    template <execution_policy P>
    void backward(const P& pol, index_t t, const T* x, const T* dy, T* dx, index_t n, std::uint64_t step) {
        if (!adapts(t)) return;
        const index_t r = cfg_.rank, in = params.layout()[a_of_[std::size_t(t)]].cols,
                      out = params.layout()[b_of_[std::size_t(t)]].rows;
        const index_t ia = a_of_[std::size_t(t)], ib = b_of_[std::size_t(t)];
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
        for (std::size_t t = 0; t < a_of_.size(); ++t) {
            if (a_of_[t] < 0) continue;
            const auto& ia = params.layout()[a_of_[t]];
            const auto& ib = params.layout()[b_of_[t]];
            kernels::map_rm<T> W(base.ptr(index_t(t)), ib.rows, ia.cols);
            kernels::cmap_rm<T> A(params.ptr(a_of_[t]), ia.rows, ia.cols), B(params.ptr(b_of_[t]), ib.rows, ib.cols);
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
    std::shared_ptr<const parameter_layout> layout_;
    std::vector<index_t> a_of_, b_of_;
    index_t max_in_ = 0, planned_ = -1;
    std::vector<std::vector<T>> saved_;
    std::vector<T> tmp_, xdrop_;
};

}  // namespace lethe::model
