// lethe/backend/cublas.hpp - cuBLAS GEMMs on row-major device buffers.
//
// Include from .cu files only (it needs the CUDA toolkit: link CUDA::cublas).
// lethe::cublas_gemm is the device-memory GEMM dispatch of the thrust model
// (model/thrust_llama.hpp); its host counterpart is
// lethe::model::thrust_host_gemm. Same shapes (PyTorch nn.Linear storage,
// W [out, in], everything row-major):
//   linear                  y[n, out] (=|+=) x[n, in] W^T
//   linear_backward_input   dx[n, in] (=|+=) dy[n, out] W
//   linear_backward_weight  dW[out, in] += dy^T x
// cuBLAS is column-major: a row-major [r, c] buffer is the column-major
// [c, r] matrix, its transpose, so every product is computed transposed:
//   y^T = W x^T          gemm(T, N, m=out, n=n, k=in,  A=W lda=in,  B=x ldb=in)
//   dx^T = W^T dy^T      gemm(N, N, m=in,  n=n, k=out, A=W lda=in,  B=dy ldb=out)
//   dW^T += x^T dy       gemm(N, T, m=in,  n=out, k=n, A=x lda=in,  B=dy ldb=out)
// It is also the GEMM hook of the fused linear losses (contract:
// core/gemm_hook.hpp; the device counterpart of loss::eigen_gemm): operator() computes
//   c = alpha op(a) op(b) + beta c
// on row-major device views (unit inner stride, any row stride) as the
// column-major c^T = alpha op(b)^T op(a)^T + beta c^T, i.e. with a and b
// swapped and each transpose flag kept.
// The handle runs on the stream given at construction: use the stream of the
// thrust_cuda(stream) policy so kernels and GEMMs stay ordered. Math mode is
// cuBLAS's default (full fp32, no TF32), so results track the CPU model.
#pragma once

#include <climits>
#include <memory>
#include <type_traits>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/gemm_hook.hpp"
#include "../core/view.hpp"

namespace lethe {

inline void check_cublas(cublasStatus_t status, const char* where) {
    if (status != CUBLAS_STATUS_SUCCESS) fail(where, "cuBLAS error ", cublasGetStatusName(status), " (", int(status), ")");
}

class cublas_gemm {
public:
    using space = device_space;

    explicit cublas_gemm(cudaStream_t stream = 0) {
        cublasHandle_t h = nullptr;
        check_cublas(cublasCreate(&h), "lethe::cublas_gemm (cublasCreate)");
        handle_.reset(h, [](cublasHandle_t p) { cublasDestroy(p); });
        check_cublas(cublasSetStream(h, stream), "lethe::cublas_gemm (cublasSetStream)");
    }
    cublasHandle_t handle() const noexcept { return handle_.get(); }

    template <class T>
    void linear(const T* x, const T* w, T* y, index_t n, index_t in, index_t out, bool accumulate) const {
        gemm<T>(CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, T(1), w, in, x, in, beta_of<T>(accumulate), y, out,
                "lethe::cublas_gemm::linear");
    }
    template <class T>
    void linear_backward_input(const T* dy, const T* w, T* dx, index_t n, index_t in, index_t out,
                               bool accumulate) const {
        gemm<T>(CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, T(1), w, in, dy, out, beta_of<T>(accumulate), dx, in,
                "lethe::cublas_gemm::linear_backward_input");
    }
    template <class T>
    void linear_backward_weight(const T* dy, const T* x, T* dw, index_t n, index_t in, index_t out) const {
        gemm<T>(CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, T(1), x, in, dy, out, T(1), dw, in,
                "lethe::cublas_gemm::linear_backward_weight");
    }

    // The fused-loss GEMM hook: c = alpha op(a) op(b) + beta c, row-major.
    template <execution_policy P, class T>
    void operator()(const P&, bool trans_a, bool trans_b, T alpha, view2<const T, device_space> a,
                    view2<const T, device_space> b, T beta, view2<T, device_space> c) const {
        static_assert(std::is_same_v<typename P::space, device_space>, "cublas_gemm runs with device policies only");
        constexpr const char* where = "lethe::cublas_gemm (fused-loss GEMM hook)";
        const gemm_dims g = check_gemm_operands(trans_a, trans_b, a, b, c, where);
        const index_t m = g.m, n = g.n, k = g.k;
        gemm<T>(trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, alpha, b.data(),
                leading_dimension(b), a.data(), leading_dimension(a), beta, c.data(), leading_dimension(c), where);
    }

private:
    template <class T>
    static T beta_of(bool accumulate) noexcept {
        return accumulate ? T(1) : T(0);
    }
    // C[m, n] = alpha op(A) op(B) + beta C, column-major.
    template <class T>
    void gemm(cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n, index_t k, T alpha, const T* a,
              index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc, const char* where) const {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cublas_gemm: float or double");
        for (index_t v : {m, n, k, lda, ldb, ldc})
            require(v >= 0 && v <= INT_MAX, where, "dimension ", v, " does not fit cuBLAS's int");
        if (m == 0 || n == 0) return;
        if constexpr (std::is_same_v<T, float>)
            check_cublas(cublasSgemm(handle(), ta, tb, int(m), int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c,
                                     int(ldc)),
                         where);
        else
            check_cublas(cublasDgemm(handle(), ta, tb, int(m), int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c,
                                     int(ldc)),
                         where);
    }

    std::shared_ptr<std::remove_pointer_t<cublasHandle_t>> handle_;
};

}  // namespace lethe
