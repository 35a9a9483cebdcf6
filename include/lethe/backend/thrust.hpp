// lethe/backend/thrust.hpp - thrust execution policies and thrust vectors.
//
// thrust_policy<Exec, Space> wraps any thrust execution policy (thrust::cpp::par,
// thrust::omp::par, thrust::tbb::par, thrust::cuda::par, ...) so that lethe
// algorithms run their parallel_for / transform_reduce through thrust. Space
// says where the policy's memory lives: host_space for the CPU systems,
// device_space for CUDA. Factories: thrust_cpp(), thrust_omp() and, when
// compiled by nvcc, thrust_cuda(stream).
// view_of(host_vector / device_vector [, extents...]) makes views; a
// device_vector is device memory only when thrust's device system is CUDA
// (with Debian's thrust and the OpenMP device system it is host memory).
// Thrust from CCCL (nvcc 13) and Debian's thrust 1.17 must not be mixed in
// one binary; which one a file sees is decided by its compiler.
#pragma once

#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/host_vector.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>
#include <thrust/system/cpp/execution_policy.h>

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP || defined(_OPENMP)
#include <thrust/system/omp/execution_policy.h>
#define LETHE_HAS_THRUST_OMP 1
#endif
#if defined(__CUDACC__)
#include <thrust/system/cuda/execution_policy.h>
#endif

#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/view.hpp"

namespace lethe {

template <class Exec, class Space = host_space>
struct thrust_policy {
    using space = Space;
    static constexpr const char* name = std::is_same_v<Space, device_space> ? "thrust-device" : "thrust-host";
    Exec exec;

    int threads() const noexcept { return 0; }  // thrust decides

    template <class F>
    void parallel_for(index_t n, F f) const {
        if (n <= 0) return;
        thrust::for_each_n(exec, thrust::counting_iterator<index_t>(0), n, f);
    }
    template <class T, class Map, class Reduce>
    T transform_reduce(index_t n, T init, Map map, Reduce reduce) const {
        if (n <= 0) return init;
        return thrust::transform_reduce(exec, thrust::counting_iterator<index_t>(0),
                                        thrust::counting_iterator<index_t>(n), map, init, reduce);
    }
};

template <class Space = host_space, class Exec>
thrust_policy<Exec, Space> make_thrust_policy(const Exec& exec) {
    return thrust_policy<Exec, Space>{exec};
}

inline auto thrust_cpp() { return make_thrust_policy<host_space>(thrust::cpp::par); }
#if defined(LETHE_HAS_THRUST_OMP)
inline auto thrust_omp() { return make_thrust_policy<host_space>(thrust::omp::par); }
#endif
#if defined(__CUDACC__)
inline auto thrust_cuda(cudaStream_t stream = 0) { return make_thrust_policy<device_space>(thrust::cuda::par.on(stream)); }
#endif

// Where thrust::device_vector memory lives for this translation unit.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
using thrust_device_space = device_space;
#else
using thrust_device_space = host_space;
#endif

namespace detail {
template <class Space, class T, class... E>
auto thrust_view(T* p, index_t size, E... extents) {
    if constexpr (sizeof...(E) == 0) {
        return strided_view<T, 1, Space>(p, size);
    } else {
        const index_t want = (index_t(1) * ... * static_cast<index_t>(extents));
        if (want != size)
            fail("lethe::view_of(thrust vector)", "extents give ", want, " elements but the vector holds ", size);
        return strided_view<T, static_cast<int>(sizeof...(E)), Space>(p, static_cast<index_t>(extents)...);
    }
}
}  // namespace detail

// Views over thrust vectors: rank 1, or row-major with the given extents.
template <class T, class A, class... E>
auto view_of(thrust::host_vector<T, A>& v, E... extents) {
    return detail::thrust_view<host_space>(thrust::raw_pointer_cast(v.data()), static_cast<index_t>(v.size()), extents...);
}
template <class T, class A, class... E>
auto view_of(const thrust::host_vector<T, A>& v, E... extents) {
    return detail::thrust_view<host_space>(thrust::raw_pointer_cast(v.data()), static_cast<index_t>(v.size()), extents...);
}
template <class T, class A, class... E>
auto view_of(thrust::device_vector<T, A>& v, E... extents) {
    return detail::thrust_view<thrust_device_space>(thrust::raw_pointer_cast(v.data()), static_cast<index_t>(v.size()),
                                                    extents...);
}
template <class T, class A, class... E>
auto view_of(const thrust::device_vector<T, A>& v, E... extents) {
    return detail::thrust_view<thrust_device_space>(thrust::raw_pointer_cast(v.data()), static_cast<index_t>(v.size()),
                                                    extents...);
}

}  // namespace lethe
