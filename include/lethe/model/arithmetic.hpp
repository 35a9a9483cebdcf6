// lethe/model/arithmetic.hpp - model arithmetic on named tensors ("task
// vectors", Ilharco et al. 2023), matched by name with shape checks.
//
//   add_scaled_difference(a, b, c, alpha)  ->  a + alpha * (b - c)
//   subtract_task_vector(base, leaky, alpha, relu)
//                                         ->  base - alpha * f(leaky - base)
// The second is stage 1 of arXiv 2412.06846 (alpha = 0.5 there), with the
// optional ReLU on the delta (f = max(., 0)); f = identity otherwise. Works on
// any blocks with the same tensor names and shapes, including LoRA-merged
// weights (merge first, then subtract).
#pragma once

#include <algorithm>

#include "../core/error.hpp"
#include "llama.hpp"
#include "parameters.hpp"

namespace lethe::model {

namespace detail {
template <class T>
const tensor_info& matching_tensor(const named_tensors<T>& other, const tensor_info& t, const char* what) {
    constexpr const char* where = "model arithmetic";
    require(other.layout().contains(t.name), where, what, " has no tensor '", t.name, "'");
    const auto& o = other.layout().find(t.name);
    require(o.rows == t.rows && o.cols == t.cols, where, "tensor '", t.name, "': shape [", t.rows, ", ", t.cols,
            "] in the first operand, [", o.rows, ", ", o.cols, "] in ", what);
    return o;
}
}  // namespace detail

// out = a + alpha * f(b - c) for every tensor of `a` (f = ReLU when relu_delta).
// `out` may alias `a`; b and c must hold every tensor of a with its shape.
// All shapes are checked before anything is written.
template <class T>
void add_scaled_difference(named_tensors<T>& out, const named_tensors<T>& a, const named_tensors<T>& b,
                           const named_tensors<T>& c, double alpha, bool relu_delta = false) {
    require(out.layout().same_as(a.layout()), "add_scaled_difference", "out must have the layout of a");
    for (const auto& t : a.layout().tensors()) {
        detail::matching_tensor(b, t, "b");
        detail::matching_tensor(c, t, "c");
    }
    const T s = T(alpha);
    for (const auto& t : a.layout().tensors()) {
        const T* pa = a.data() + t.offset;
        const T* pb = b.data() + b.layout().find(t.name).offset;
        const T* pc = c.data() + c.layout().find(t.name).offset;
        T* po = out.data() + t.offset;
        for (index_t i = 0; i < t.size(); ++i) {
            const T delta = pb[i] - pc[i];
            po[i] = pa[i] + s * (relu_delta ? std::max(delta, T(0)) : delta);
        }
    }
}

// theta_sub = base - alpha * f(leaky - base), written into `base`.
template <class T>
void subtract_task_vector(named_tensors<T>& base, const named_tensors<T>& leaky, double alpha,
                          bool relu_delta = false) {
    // base - alpha f(leaky - base) = base + (-alpha) f(leaky - base)
    add_scaled_difference(base, base, leaky, base, -alpha, relu_delta);
}

// The paper's stage 1 as a one-liner on models: returns a copy of `base`
// with theta = base - alpha * f(leaky - base). Configs must agree.
template <class T>
llama<T> subtract_task_vector(const llama<T>& base, const llama<T>& leaky, double alpha, bool relu_delta = false) {
    llama<T> out(base.config(), base.policy());
    out.params().storage() = base.params().storage();
    subtract_task_vector(out.params(), leaky.params(), alpha, relu_delta);
    return out;
}

}  // namespace lethe::model
