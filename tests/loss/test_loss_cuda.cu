// The losses on a GPU through thrust's CUDA system agree with lethe::seq on
// the host, and the fused linear losses with cuBLAS GEMMs (see
// loss_backend_cases.hpp for the cases and tolerances).
#define BOOST_TEST_MODULE loss_cuda
#include "loss_backend_cases.hpp"

#include <lethe/backend/cublas.hpp>

BOOST_AUTO_TEST_SUITE(loss_cuda)

BOOST_AUTO_TEST_CASE(thrust_cuda_matches_host) {
    static_assert(std::is_same_v<lethe::thrust_device_space, lethe::device_space>);
    loss_backend::run_all(lethe::thrust_cuda());
}

// The fused linear losses with cuBLAS as the GEMM hook (default stream, as
// thrust_cuda()'s kernels).
BOOST_AUTO_TEST_CASE(fused_linear_cublas_matches_host) {
    loss_backend::run_fused(lethe::thrust_cuda(), lethe::cublas_gemm{});
}

BOOST_AUTO_TEST_SUITE_END()
