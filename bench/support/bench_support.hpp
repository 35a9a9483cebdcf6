// Helpers shared by lethe's benchmarks: aligned buffers touched up front (so
// page faults stay out of the timing) and the plain-read baseline that every
// bandwidth figure is reported against.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <random>

#include <lethe/core.hpp>

namespace lethe_bench {

struct free_deleter {
    void operator()(void* p) const noexcept { std::free(p); }
};
template <class T>
using buffer = std::unique_ptr<T[], free_deleter>;

// 64-byte aligned, filled with N(0, scale) noise so exp() sees realistic logits.
template <class T>
buffer<T> make_buffer(std::size_t n, float scale = 3.0f, unsigned seed = 1) {
    auto* p = static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64));
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.0f, scale);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(d(gen));
    return buffer<T>(p);
}

// Sums every row: the cheapest pass that still reads every byte. Its
// bytes/s is the bandwidth floor other row kernels are compared with.
template <class Policy>
float plain_read(const Policy& pol, const float* x, lethe::index_t rows, lethe::index_t cols, float* out) {
    lethe::row_sum(pol, lethe::make_view(x, rows, cols), lethe::make_view(out, rows));
    return out[0];
}

}  // namespace lethe_bench
