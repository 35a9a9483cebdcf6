// lethe/model/thrust_optim.hpp - AdamW and the global gradient norm on the
// thrust model's blocks (parameters, gradients and moments in the policy's
// memory), so a training step on a GPU never copies a block to the host.
//
// Same update and options as model::adamw (optim.hpp; Loshchilov & Hutter
// 2019, as torch.optim.AdamW computes it), element by element in the same
// operation order:
//   g <- g * grad_scale                      (clipping coefficient)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// with norm weights undecayed unless decay_vectors. Clipping: pass
// clip_coefficient<T>(thrust_grad_norm(pol, grads), max_norm) (optim.hpp)
// as grad_scale. Under LoRA the same optimizer runs on the adapter blocks:
// thrust_adamw(*m.lora_layout(), opt, pol).update(m.lora_parameter_block(),
// m.lora_gradient_block(), ...).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "optim.hpp"
#include "parameters.hpp"
#include "thrust_llama.hpp"

namespace lethe::model {

namespace thrust_kernels {
// One tensor's AdamW step (see the header comment); zero clears g after.
template <execution_policy P, class T>
void adamw_step(const P& pol, T* p, T* g, T* m, T* v, index_t count, T grad_scale, T b1, T b2, T c1, T c2, T lr,
                T eps, T keep, bool zero) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) {
        T gi = g[i];
        if (grad_scale != T(1)) gi *= grad_scale;
        m[i] = b1 * m[i] + (T(1) - b1) * gi;
        v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
        p[i] = p[i] * keep - lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
        g[i] = zero ? T(0) : gi;
    });
}

// sum of g^2 in double (thrust's reduction order: deterministic per system
// and thread count, not bitwise equal to the CPU model's grad_norm).
template <execution_policy P, class T>
double sum_squares(const P& pol, const T* g, index_t count) {
    return pol.transform_reduce(
        count, 0.0, [=] LETHE_HD(index_t i) { return double(g[i]) * double(g[i]); },
        [] LETHE_HD(double a, double b) { return a + b; });
}
}  // namespace thrust_kernels

// AdamW whose moments live beside the model's blocks (one block each, the
// parameters' layout).
template <class Policy, class T = float>
class thrust_adamw {
public:
    template <class U>
    using vector = thrust_system_vector<Policy, U>;

    thrust_adamw(const parameter_layout& layout, adamw_options opt, Policy pol)
        : opt_(opt), pol_(pol), tensors_(layout.tensors()), m_(std::size_t(layout.total_size()), T(0)),
          v_(std::size_t(layout.total_size()), T(0)) {
        opt.validate();
    }

    // One step over the model's blocks; gradients are scaled by grad_scale
    // first (and left scaled, or zeroed when zero_grads).
    void update(vector<T>& params, vector<T>& grads, double lr, T grad_scale = T(1), bool zero_grads = false) {
        require(params.size() == m_.size() && grads.size() == m_.size(), "thrust_adamw::update",
                "parameter/gradient blocks do not match the optimizer's layout");
        ++t_;
        const double b1 = opt_.beta1, b2 = opt_.beta2;
        const T c1 = T(1.0 / (1.0 - std::pow(b1, double(t_)))), c2 = T(1.0 / (1.0 - std::pow(b2, double(t_))));
        T* p = thrust::raw_pointer_cast(params.data());
        T* g = thrust::raw_pointer_cast(grads.data());
        T* m = thrust::raw_pointer_cast(m_.data());
        T* v = thrust::raw_pointer_cast(v_.data());
        for (const auto& info : tensors_) {
            const bool decay = opt_.weight_decay > 0.0 && (opt_.decay_vectors || !info.is_vector);
            const T keep = decay ? T(1.0 - lr * opt_.weight_decay) : T(1);
            const index_t o = info.offset;
            thrust_kernels::adamw_step(pol_, p + o, g + o, m + o, v + o, info.size(), grad_scale, T(b1), T(b2), c1,
                                       c2, T(lr), T(opt_.eps), keep, zero_grads);
        }
    }

    std::int64_t steps() const noexcept { return t_; }
    const vector<T>& first_moment() const noexcept { return m_; }
    const vector<T>& second_moment() const noexcept { return v_; }

private:
    adamw_options opt_;
    Policy pol_;
    std::vector<tensor_info> tensors_;
    vector<T> m_, v_;
    std::int64_t t_ = 0;
};

// Global L2 norm of a gradient block in the policy's memory.
template <class Policy, class Vector>
double thrust_grad_norm(const Policy& pol, const Vector& grads) {
    return std::sqrt(thrust_kernels::sum_squares(pol, thrust::raw_pointer_cast(grads.data()), index_t(grads.size())));
}

}  // namespace lethe::model
