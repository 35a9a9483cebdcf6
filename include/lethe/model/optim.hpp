// lethe/model/optim.hpp - AdamW, the cosine schedule with warmup and floor,
// and global gradient-norm clipping, over named_tensors blocks.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "layers.hpp"
#include "parameters.hpp"

namespace lethe::model {

struct adamw_options {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    // Hugging Face's Trainer leaves norm weights (and biases) undecayed.
    bool decay_vectors = false;

    void validate() const {
        constexpr const char* where = "adamw_options";
        require(beta1 >= 0.0 && beta1 < 1.0, where, "beta1 must be in [0, 1), got ", beta1);
        require(beta2 >= 0.0 && beta2 < 1.0, where, "beta2 must be in [0, 1), got ", beta2);
        require(eps > 0.0, where, "eps must be positive, got ", eps);
        require(weight_decay >= 0.0, where, "weight_decay must be >= 0, got ", weight_decay);
    }
};

// AdamW (Loshchilov & Hutter 2019, as torch.optim.AdamW computes it):
//   p <- p (1 - lr wd)                                  decoupled decay
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// The moments share the parameters' layout: one block each.
template <class T>
class adamw {
public:
    adamw() = default;
    adamw(std::shared_ptr<const parameter_layout> layout, adamw_options opt)
        : opt_(opt), m_(layout), v_(layout) {
        opt.validate();
    }

    template <execution_policy P>
    void update(const P& pol, named_tensors<T>& params, const named_tensors<T>& grads, double lr) {
        apply(pol, params, const_cast<T*>(grads.data()), grads.size(), lr, T(1), false);
    }

    // The same update with every gradient first multiplied by grad_scale
    // (the clipping coefficient; exactly as clip_grad_norm's g *= c), and
    // the gradients zeroed afterwards: clipping, the update and zero_grad in
    // one pass over the blocks instead of three.
    template <execution_policy P>
    void update_and_zero(const P& pol, named_tensors<T>& params, named_tensors<T>& grads, double lr,
                         T grad_scale = T(1)) {
        apply(pol, params, grads.data(), grads.size(), lr, grad_scale, true);
    }

    std::int64_t steps() const noexcept { return t_; }
    void set_steps(std::int64_t t) noexcept { t_ = t; }
    named_tensors<T>& first_moment() noexcept { return m_; }
    named_tensors<T>& second_moment() noexcept { return v_; }
    const named_tensors<T>& first_moment() const noexcept { return m_; }
    const named_tensors<T>& second_moment() const noexcept { return v_; }
    const adamw_options& options() const noexcept { return opt_; }

private:
    // One pass per block of 1024 values, all of them in L1: Eigen arrays so
    // the square root and division vectorise (a plain loop keeps scalar
    // sqrtss for errno and was the optimizer's bottleneck).
    template <execution_policy P>
    void apply(const P& pol, named_tensors<T>& params, T* grads, index_t grads_size, double lr, T grad_scale,
               bool zero) {
        require(params.size() == m_.size() && grads_size == m_.size(), "adamw::update",
                "parameter/gradient blocks do not match the optimizer's layout");
        ++t_;
        const double b1 = opt_.beta1, b2 = opt_.beta2;
        const T c1 = T(1.0 / (1.0 - std::pow(b1, double(t_)))), c2 = T(1.0 / (1.0 - std::pow(b2, double(t_))));
        const T eps = T(opt_.eps), tlr = T(lr), tb1 = T(b1), tb2 = T(b2);
        using array = Eigen::Array<T, Eigen::Dynamic, 1>;
        constexpr index_t block = 1024;
        for (const auto& info : params.layout().tensors()) {
            const bool decay = opt_.weight_decay > 0.0 && (opt_.decay_vectors || !info.is_vector);
            const T keep = decay ? T(1.0 - lr * opt_.weight_decay) : T(1);
            T* p = params.data() + info.offset;
            T* g = grads + info.offset;
            T* m = m_.data() + info.offset;
            T* v = v_.data() + info.offset;
            const index_t size = info.size();
            kernels::for_rows(pol, (size + block - 1) / block, block * 8, [=](index_t blk) {
                const index_t lo = blk * block, n = std::min(size, lo + block) - lo;
                Eigen::Map<array> pa(p + lo, n), ga(g + lo, n), ma(m + lo, n), va(v + lo, n);
                if (grad_scale != T(1)) ga *= grad_scale;
                ma = tb1 * ma + (T(1) - tb1) * ga;
                va = tb2 * va + (T(1) - tb2) * ga * ga;
                pa = pa * keep - tlr * (ma * c1) / ((va * c2).sqrt() + eps);
                if (zero) ga.setZero();
            });
        }
    }

    adamw_options opt_;
    named_tensors<T> m_, v_;
    std::int64_t t_ = 0;
};

// Linear warmup to `peak`, then cosine decay to floor = min_ratio * peak at
// total_steps (the paper: floor at 10% of the initial rate; Hugging Face's
// cosine_with_min_lr). Steps past the end stay at the floor.
struct cosine_schedule {
    double peak = 1e-4;
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 1;
    double min_ratio = 0.1;

    void validate() const {
        constexpr const char* where = "cosine_schedule";
        require(peak > 0.0, where, "peak learning rate must be positive, got ", peak);
        require(total_steps > 0, where, "total_steps must be positive, got ", total_steps);
        require(warmup_steps >= 0 && warmup_steps <= total_steps, where, "warmup_steps ", warmup_steps,
                " must be in [0, total_steps = ", total_steps, "]");
        require(min_ratio >= 0.0 && min_ratio <= 1.0, where, "min_ratio must be in [0, 1], got ", min_ratio);
    }
    // Learning rate for the 0-based optimizer step `step`.
    double at(std::int64_t step) const noexcept {
        if (step < warmup_steps) return peak * double(step + 1) / double(warmup_steps);
        const std::int64_t span = total_steps - warmup_steps;
        const double p = span > 0 ? std::min(1.0, double(step - warmup_steps) / double(span)) : 1.0;
        const double floor = min_ratio * peak;
        return floor + (peak - floor) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * p));
    }
};

// Global L2 norm of a gradient block, accumulated in double in a fixed
// order (blocks of 4096, eight interleaved partial sums per block so the
// loop vectorises), independent of the thread count.
template <class T, execution_policy P>
double grad_norm(const P& pol, const named_tensors<T>& grads) {
    const T* g = grads.data();
    const index_t n = grads.size(), blocks = (n + 4095) / 4096;
    auto sum_sq = [&](const auto& policy) {
        return policy.transform_reduce(
            blocks, 0.0,
            [=](index_t b) {
                double acc[8] = {};
                const index_t lo = b * 4096, hi = std::min(n, lo + 4096), whole = lo + (hi - lo) / 8 * 8;
                for (index_t i = lo; i < whole; i += 8)
                    for (int k = 0; k < 8; ++k) acc[k] += double(g[i + k]) * double(g[i + k]);
                for (index_t i = whole; i < hi; ++i) acc[i - whole] += double(g[i]) * double(g[i]);
                return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
            },
            [](double a, double b) { return a + b; });
    };
    // Small blocks on one thread: a fork/join costs more than the sum.
    return std::sqrt(n < kernels::parallel_min_work ? sum_sq(seq) : sum_sq(pol));
}

// torch.nn.utils.clip_grad_norm_'s factor: max_norm / (norm + 1e-6) when
// the norm exceeds max_norm (> 0), else 1.
template <class T>
T clip_coefficient(double norm, double max_norm) noexcept {
    return max_norm > 0.0 && norm > max_norm ? T(max_norm / (norm + 1e-6)) : T(1);
}

// Global L2 norm of the gradient block; when above max_norm, scales it by
// max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does. Returns
// the norm before clipping.
template <class T, execution_policy P>
double clip_grad_norm(const P& pol, named_tensors<T>& grads, double max_norm) {
    const double norm = grad_norm(pol, grads);
    const T c = clip_coefficient<T>(norm, max_norm);
    if (c != T(1)) {
        T* g = grads.data();
        kernels::for_rows(pol, grads.size(), 1, [=](index_t i) { g[i] *= c; });
    }
    return norm;
}

}  // namespace lethe::model
