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
        gemm<T>(CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, accumulate, y, out, "lethe::cublas_gemm::linear");
    }
    template <class T>
    void linear_backward_input(const T* dy, const T* w, T* dx, index_t n, index_t in, index_t out,
                               bool accumulate) const {
        gemm<T>(CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, w, in, dy, out, accumulate, dx, in,
                "lethe::cublas_gemm::linear_backward_input");
    }
    template <class T>
    void linear_backward_weight(const T* dy, const T* x, T* dw, index_t n, index_t in, index_t out) const {
        gemm<T>(CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, x, in, dy, out, true, dw, in,
                "lethe::cublas_gemm::linear_backward_weight");
    }

private:
    // C[m, n] = op(A) op(B) + beta C, column-major, beta = accumulate ? 1 : 0.
    template <class T>
    void gemm(cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n, index_t k, const T* a, index_t lda,
              const T* b, index_t ldb, bool accumulate, T* c, index_t ldc, const char* where) const {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cublas_gemm: float or double");
        for (index_t v : {m, n, k, lda, ldb, ldc})
            require(v >= 0 && v <= INT_MAX, where, "dimension ", v, " does not fit cuBLAS's int");
        if (m == 0 || n == 0) return;
        const T one = T(1), beta = accumulate ? T(1) : T(0);
        if constexpr (std::is_same_v<T, float>)
            check_cublas(cublasSgemm(handle(), ta, tb, int(m), int(n), int(k), &one, a, int(lda), b, int(ldb), &beta, c,
                                     int(ldc)),
                         where);
        else
            check_cublas(cublasDgemm(handle(), ta, tb, int(m), int(n), int(k), &one, a, int(lda), b, int(ldb), &beta, c,
                                     int(ldc)),
                         where);
    }

    std::shared_ptr<std::remove_pointer_t<cublasHandle_t>> handle_;
};

}  // namespace lethe
