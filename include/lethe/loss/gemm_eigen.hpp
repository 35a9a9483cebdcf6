// lethe/loss/gemm_eigen.hpp - the GEMM hook of the fused linear losses,
// implemented with Eigen for host policies.
//
// Contract: core/gemm_hook.hpp. Eigen's blocked GEMM with the target's
// widest SIMD, or OpenBLAS's through EIGEN_USE_BLAS. The GEMM's thread count
// follows the policy (seq: 1, par: its threads).
#pragma once

#include <Eigen/Core>

#include "../backend/eigen.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/gemm_hook.hpp"
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
        check_gemm_operands(trans_a, trans_b, a, b, c, where);
        auto outer = [](const auto& v) { return Eigen::OuterStride<>(leading_dimension(v)); };
        const cmap A(a.data(), a.extent(0), a.extent(1), outer(a));
        const cmap B(b.data(), b.extent(0), b.extent(1), outer(b));
        map C(c.data(), c.extent(0), c.extent(1), outer(c));
        const gemm_threads_scope threads(pol.threads());  // seq: 1, par: its threads
        pin_eigen_gemm_blocking();
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
