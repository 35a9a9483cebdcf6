// lethe/model/thrust_host_gemm.hpp - the GEMM dispatch for models whose
// memory is host memory (thrust's CPP and OMP systems, lethe::seq/par).
//
// The products are the CPU model's own (layers.hpp): Eigen Maps over the
// row-major buffers, and the weight-streaming kernel for decode-sized
// batches, threaded by an openmp_policy. Its CUDA counterpart, with the same
// three members, is lethe::cublas_gemm in <lethe/backend/cublas.hpp>.
// Shapes (PyTorch nn.Linear storage, W [out, in], all row-major):
//   linear                  y[n, out] (=|+=) x[n, in] W^T
//   linear_backward_input   dx[n, in] (=|+=) dy[n, out] W
//   linear_backward_weight  dW[out, in] += dy^T x
#pragma once

#include "../core/execution.hpp"
#include "../core/view.hpp"
#include "layers.hpp"

namespace lethe::model {

struct thrust_host_gemm {
    using space = host_space;
    openmp_policy threads = par;  // Eigen itself threads through OpenMP

    template <class T>
    void linear(const T* x, const T* w, T* y, index_t n, index_t in, index_t out, bool accumulate) const {
        kernels::linear_forward(threads, x, w, y, n, in, out, accumulate);
    }
    template <class T>
    void linear_backward_input(const T* dy, const T* w, T* dx, index_t n, index_t in, index_t out,
                               bool accumulate) const {
        kernels::linear_backward_input(dy, w, dx, n, in, out, accumulate);
    }
    template <class T>
    void linear_backward_weight(const T* dy, const T* x, T* dw, index_t n, index_t in, index_t out) const {
        kernels::linear_backward_weight(dy, x, dw, n, in, out);
    }
};

}  // namespace lethe::model
