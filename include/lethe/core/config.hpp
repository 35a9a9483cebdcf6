// lethe/core/config.hpp - portability macros shared by every layer.
#pragma once

#include <cstddef>
#include <cstdint>

// Functions that must run on both host and device carry LETHE_HD. CCCL 3.x no
// longer defines __host__/__device__ for plain host compilers, so the macro
// expands to them only when nvcc (or clang in CUDA mode) compiles the file.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define LETHE_HD __host__ __device__
#define LETHE_DEVICE_COMPILER 1
#else
#define LETHE_HD
#define LETHE_DEVICE_COMPILER 0
#endif

// True only inside the device pass of a CUDA compilation: code guarded by it
// may not use exceptions, allocation or host-only math.
#if defined(__CUDA_ARCH__)
#define LETHE_IN_DEVICE_CODE 1
#else
#define LETHE_IN_DEVICE_CODE 0
#endif

// Small numeric kernels (exp_fast) must inline into the loops that call
// them, or those loops stay scalar; GCC sometimes declines in large kernels.
#if defined(__GNUC__) || defined(__clang__)
#define LETHE_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define LETHE_ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LETHE_RESTRICT __restrict__
#else
#define LETHE_RESTRICT
#endif

// `#pragma omp simd` is honoured with -fopenmp or -fopenmp-simd (which the
// lethe::lethe target adds for GCC and Clang) and ignored otherwise.
#if defined(_OPENMP) || defined(__GNUC__) || defined(__clang__)
#define LETHE_PRAGMA(x) _Pragma(#x)
#else
#define LETHE_PRAGMA(x)
#endif
#if LETHE_IN_DEVICE_CODE
#define LETHE_SIMD
#define LETHE_SIMD_REDUCTION(...)
#else
#define LETHE_SIMD LETHE_PRAGMA(omp simd)
#define LETHE_SIMD_REDUCTION(...) LETHE_PRAGMA(omp simd reduction(__VA_ARGS__))
#endif

namespace lethe {

// Signed index type used for extents, strides and loop counters: signed so
// that negative strides (reversed views) and differences are well defined.
using index_t = std::ptrdiff_t;

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;

}  // namespace lethe
