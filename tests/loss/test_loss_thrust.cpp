// The losses through Debian thrust's OpenMP and CPP systems agree with
// lethe::seq (see loss_backend_cases.hpp for the cases and tolerances).
#define BOOST_TEST_MODULE loss_thrust
#include "loss_backend_cases.hpp"

#include <lethe/loss/gemm_eigen.hpp>

BOOST_AUTO_TEST_SUITE(loss_thrust)

BOOST_AUTO_TEST_CASE(thrust_omp_matches_host) { loss_backend::run_all(lethe::thrust_omp()); }
BOOST_AUTO_TEST_CASE(thrust_cpp_matches_host) { loss_backend::run_all(lethe::thrust_cpp()); }
// Debian thrust's device_vector is host memory, so the host GEMM hook serves.
BOOST_AUTO_TEST_CASE(fused_linear_thrust_omp_matches_host) {
    loss_backend::run_fused(lethe::thrust_omp(), lethe::loss::eigen_gemm{});
}

BOOST_AUTO_TEST_SUITE_END()
