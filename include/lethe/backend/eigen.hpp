// lethe/backend/eigen.hpp - views over Eigen dense objects.
//
// view_of(m) works on any Eigen expression with direct memory access:
// Matrix, Array, Map, Ref and Blocks of them, row- or column-major. Vectors
// (one compile-time dimension of 1) give rank-1 views, everything else rank 2
// with Eigen's row and column strides, so a column-major matrix is viewed as
// the same logical matrix (stride(0) = 1, stride(1) = rows).
#pragma once

#include <Eigen/Core>
#include <type_traits>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/view.hpp"

namespace lethe {

// Eigen cuts a GEMM's inner (k) dimension into blocks sized from the L1
// cache it detects (cpuid; Eigen 3.4 GeneralBlockPanelKernel.h,
// evaluateProductBlockingSizesHeuristic) and adds the blocks into the
// result in turn, so a CPU with another L1 rounds differently: Zen 5's
// 48 KiB against Zen 3's and Zen 4's 32 KiB moved SmolLM2's leaky model
// from 88.9% to 86.7% attack success, training amplifying the last bits.
// lethe pins the L1 size Eigen plans with to 32 KiB (L2 and L3 stay as
// detected: they size the row and column panels, which do not change
// any sum's order), so a build gives the same numbers on every machine of
// its ISA. Called before lethe's Eigen products; it sets Eigen's global
// setting, once per process, which the caller's own products then share.
inline void pin_eigen_gemm_blocking() {
    static const bool pinned = [] {
        Eigen::setCpuCacheSizes(std::ptrdiff_t(32) * 1024, Eigen::l2CacheSize(), Eigen::l3CacheSize());
        return true;
    }();
    (void)pinned;
}

template <class E>
concept eigen_dense = std::is_base_of_v<Eigen::DenseBase<std::remove_cvref_t<E>>, std::remove_cvref_t<E>> &&
                      (int(std::remove_cvref_t<E>::Flags) & Eigen::DirectAccessBit) != 0;

namespace detail {
template <class E>
using eigen_element_t =
    std::conditional_t<std::is_const_v<std::remove_reference_t<E>> ||
                           (int(std::remove_cvref_t<E>::Flags) & Eigen::LvalueBit) == 0,
                       const typename std::remove_cvref_t<E>::Scalar, typename std::remove_cvref_t<E>::Scalar>;
}  // namespace detail

// Rank-2 view of any direct-access Eigen object (vectors become n x 1 or 1 x n).
template <eigen_dense E>
auto matrix_view_of(E&& m) {
    using T = detail::eigen_element_t<E>;
    const index_t ext[2] = {static_cast<index_t>(m.rows()), static_cast<index_t>(m.cols())};
    const index_t str[2] = {static_cast<index_t>(m.rowStride()), static_cast<index_t>(m.colStride())};
    return view2<T>(const_cast<T*>(m.data()), ext, str);
}

// Rank-1 view for compile-time vectors, rank-2 view otherwise.
template <eigen_dense E>
auto view_of(E&& m) {
    using D = std::remove_cvref_t<E>;
    using T = detail::eigen_element_t<E>;
    if constexpr (D::IsVectorAtCompileTime) {
        const index_t ext[1] = {static_cast<index_t>(m.size())};
        const index_t str[1] = {static_cast<index_t>(m.innerStride())};
        return view1<T>(const_cast<T*>(m.data()), ext, str);
    } else {
        return matrix_view_of(std::forward<E>(m));
    }
}

// Thread count of Eigen's dense products (GEMMs run outside parallel
// regions; inside one they stay single-threaded). Eigen's own kernels read
// Eigen::setNbThreads. Built with EIGEN_USE_BLAS (CMake option
// LETHE_WITH_BLAS) the products call OpenBLAS's OpenMP build instead, which
// ignores that and takes omp_get_max_threads() of the calling thread
// (measured, docs/model.md "BLAS backend"), so that is set as well.
inline void set_gemm_threads(int n) {
    Eigen::setNbThreads(n);
#if defined(EIGEN_USE_BLAS) && defined(_OPENMP)
    omp_set_num_threads(n);
#endif
}

// set_gemm_threads(n) for a scope (n <= 0 keeps the current settings);
// both settings are restored on exit.
class gemm_threads_scope {
public:
    explicit gemm_threads_scope(int n) : eigen_(Eigen::nbThreads()) {
#if defined(EIGEN_USE_BLAS) && defined(_OPENMP)
        omp_ = omp_get_max_threads();
#endif
        if (n > 0) set_gemm_threads(n);
    }
    ~gemm_threads_scope() {
        Eigen::setNbThreads(eigen_);
#if defined(EIGEN_USE_BLAS) && defined(_OPENMP)
        omp_set_num_threads(omp_);
#endif
    }
    gemm_threads_scope(const gemm_threads_scope&) = delete;
    gemm_threads_scope& operator=(const gemm_threads_scope&) = delete;

private:
    int eigen_;
#if defined(EIGEN_USE_BLAS) && defined(_OPENMP)
    int omp_ = 0;
#endif
};

}  // namespace lethe
