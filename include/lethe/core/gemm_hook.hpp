// lethe/core/gemm_hook.hpp - the contract of a GEMM hook, the one
// backend-specific piece of the fused linear losses (loss/fused_linear.hpp).
//
// A GEMM hook is any object with
//   template <class P, class T>
//   void operator()(const P& pol, bool trans_a, bool trans_b, T alpha,
//                   view2<const T, S> a, view2<const T, S> b, T beta, view2<T, S> c) const;
// computing c = alpha * op(a) * op(b) + beta * c (op = transpose when asked)
// on row-major views with unit inner stride, in the policy's memory space S.
// Hooks: loss::eigen_gemm (host, <lethe/loss/gemm_eigen.hpp>) and
// lethe::cublas_gemm (CUDA, <lethe/backend/cublas.hpp>). Both validate their
// operands with check_gemm_operands.
#pragma once

#include "error.hpp"
#include "view.hpp"

namespace lethe {

struct gemm_dims {
    index_t m, n, k;  // c [m, n] = op(a) [m, k] op(b) [k, n]
};

// Checks unit inner strides and that op(a) op(b) fits c; names the shapes.
template <class A, class B, class C>
gemm_dims check_gemm_operands(bool trans_a, bool trans_b, const A& a, const B& b, const C& c, const char* where) {
    require(a.has_unit_inner_stride() && b.has_unit_inner_stride() && c.has_unit_inner_stride(), where,
            "operands must have unit inner stride");
    const index_t m = trans_a ? a.extent(1) : a.extent(0), k = trans_a ? a.extent(0) : a.extent(1);
    const index_t kb = trans_b ? b.extent(1) : b.extent(0), n = trans_b ? b.extent(0) : b.extent(1);
    require(k == kb && c.extent(0) == m && c.extent(1) == n, where, "shapes do not multiply: op(a) ", m, "x", k,
            ", op(b) ", kb, "x", n, ", c ", c.extent(0), "x", c.extent(1));
    return {m, n, k};
}

// The row stride of a row-major operand as a BLAS leading dimension (a
// single row may carry any stride; an empty one gets 1).
template <class V>
index_t leading_dimension(const V& v) noexcept {
    return v.extent(0) > 1 ? v.stride(0) : (v.extent(1) > 0 ? v.extent(1) : 1);
}

}  // namespace lethe
