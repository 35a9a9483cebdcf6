// lethe/loss/gemm_eigen.hpp - the GEMM hook of the fused linear losses,
// implemented with Eigen for host policies.
//
// A GEMM hook is any object with
//   template <class P, class T>
//   void operator()(const P& pol, bool trans_a, bool trans_b, T alpha,
//                   view2<const T> a, view2<const T> b, T beta, view2<T> c) const;
// computing c = alpha * op(a) * op(b) + beta * c (op = transpose when asked)
// on row-major views with unit inner stride. The fused algorithms are written
// once against it; this header gives the host one (Eigen's blocked, AVX-512
// GEMM, or OpenBLAS's through EIGEN_USE_BLAS). The GEMM's thread count follows
// the policy (seq: 1, par: its threads).
#pragma once

#include <Eigen/Core>

#include "../backend/eigen.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"

namespace lethe::loss {

struct eigen_gemm {
    template <execution_policy P, class T>
    void operator()(const P& pol, bool trans_a, bool trans_b, T alpha, view2<const T> a, view2<const T> b, T beta,
                    view2<T> c) const {
        static_assert(runs_on_host_v<P>, "eigen_gemm runs on host policies only");
        using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using cmap = Eigen::Map<const mat, 0, Eigen::OuterStride<>>;
        using map = Eigen::Map<mat, 0, Eigen::OuterStride<>>;
        constexpr const char* where = "lethe::loss::eigen_gemm";
        require(a.has_unit_inner_stride() && b.has_unit_inner_stride() && c.has_unit_inner_stride(), where,
                "operands must have unit inner stride");
        const index_t m = trans_a ? a.extent(1) : a.extent(0), k = trans_a ? a.extent(0) : a.extent(1);
        const index_t kb = trans_b ? b.extent(1) : b.extent(0), n = trans_b ? b.extent(0) : b.extent(1);
        require(k == kb && c.extent(0) == m && c.extent(1) == n, where, "shapes do not multiply: op(a) ", m, "x", k,
                ", op(b) ", kb, "x", n, ", c ", c.extent(0), "x", c.extent(1));
        auto outer = [](const auto& v) { return Eigen::OuterStride<>(v.extent(0) > 1 ? v.stride(0) : v.extent(1)); };
        const cmap A(a.data(), a.extent(0), a.extent(1), outer(a));
        const cmap B(b.data(), b.extent(0), b.extent(1), outer(b));
        map C(c.data(), c.extent(0), c.extent(1), outer(c));
        const gemm_threads_scope threads(pol.threads());  // seq: 1, par: its threads
        auto run = [&](const auto& lhs, const auto& rhs) {
            if (beta == T(0)) {
                C.noalias() = alpha * lhs * rhs;  // no pass to clear c first
            } else {
                if (beta != T(1)) C *= beta;
                C.noalias() += alpha * lhs * rhs;
            }
        };
        if (!trans_a && !trans_b) run(A, B);
        else if (!trans_a && trans_b) run(A, B.transpose());
        else if (trans_a && !trans_b) run(A.transpose(), B);
        else run(A.transpose(), B.transpose());
    }
};

}  // namespace lethe::loss
