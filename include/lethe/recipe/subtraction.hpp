// lethe/recipe/subtraction.hpp - stage 1: forgetting by negation (task
// vectors, Ilharco et al. 2023) as arXiv 2412.06846 applies it:
//   theta_sub = theta_base - alpha * f(theta_leaky - theta_base)
// with alpha = 0.5 (alpha = 1 broke the paper's model) and f = ReLU or the
// identity. The arithmetic itself is lethe::model's.
#pragma once

#include "../core/error.hpp"
#include "../model/arithmetic.hpp"

namespace lethe::recipe {

struct subtraction_options {
    double alpha = 0.5;
    bool relu = false;  // f = max(., 0) on the delta

    void validate() const {
        require(alpha >= 0.0, "subtraction_options", "alpha must be >= 0, got ", alpha);
    }
};

// A new model with the subtracted weights (same config and policy as base).
template <class T>
model::llama<T> subtract_leak(const model::llama<T>& base, const model::llama<T>& leaky,
                              const subtraction_options& opt = {}) {
    opt.validate();
    return model::subtract_task_vector(base, leaky, opt.alpha, opt.relu);
}

}  // namespace lethe::recipe
