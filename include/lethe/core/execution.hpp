// lethe/core/execution.hpp - execution policies: where and how loops run.
//
// As in thrust and the C++17 parallel algorithms, the policy is the first
// argument of every lethe algorithm and selects the backend; the algorithm is
// written once against the two primitives every policy provides:
//   p.parallel_for(n, f)                      calls f(i) for i in [0, n)
//   p.transform_reduce(n, init, map, reduce)  folds map(i) with reduce
// Both are deterministic for a given policy and thread count: reductions
// combine per-thread partials in thread order.
// Policies here: sequential_policy (seq) and openmp_policy (par). The thrust
// policy, which wraps thrust::cpp/omp/tbb/cuda execution policies, lives in
// <lethe/backend/thrust.hpp>.
#pragma once

#include <algorithm>
#include <concepts>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "view.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lethe {

// Runs everything on the calling thread.
struct sequential_policy {
    using space = host_space;
    static constexpr const char* name = "seq";

    template <class F>
    void parallel_for(index_t n, F&& f) const {
        for (index_t i = 0; i < n; ++i) f(i);
    }
    template <class T, class Map, class Reduce>
    T transform_reduce(index_t n, T init, Map&& map, Reduce&& reduce) const {
        for (index_t i = 0; i < n; ++i) init = reduce(init, map(i));
        return init;
    }
    int threads() const noexcept { return 1; }
};

// Splits loops over OpenMP threads (static schedule). Without OpenMP at
// compile time it runs sequentially. num_threads = 0 uses OpenMP's default.
struct openmp_policy {
    using space = host_space;
    static constexpr const char* name = "omp";
    int num_threads = 0;

    int threads() const noexcept {
#if defined(_OPENMP)
        return num_threads > 0 ? num_threads : omp_get_max_threads();
#else
        return 1;
#endif
    }
    openmp_policy with_threads(int t) const noexcept { return openmp_policy{t}; }

    template <class F>
    void parallel_for(index_t n, F&& f) const {
#if defined(_OPENMP)
        const int t = threads();
#pragma omp parallel for schedule(static) num_threads(t) if (n > 1 && t > 1)
        for (index_t i = 0; i < n; ++i) f(i);
#else
        for (index_t i = 0; i < n; ++i) f(i);
#endif
    }

    template <class T, class Map, class Reduce>
    T transform_reduce(index_t n, T init, Map&& map, Reduce&& reduce) const {
#if defined(_OPENMP)
        const int t = static_cast<int>(std::min<index_t>(threads(), n > 0 ? n : 1));
        if (t <= 1) {
            for (index_t i = 0; i < n; ++i) init = reduce(init, map(i));
            return init;
        }
        // Contiguous chunks per thread, combined in thread order: the result
        // depends on the thread count only, never on timing.
        std::vector<T> partial(static_cast<std::size_t>(t), init);
        std::vector<char> used(static_cast<std::size_t>(t), 0);
#pragma omp parallel num_threads(t)
        {
            const int id = omp_get_thread_num();
            const index_t lo = n * id / t, hi = n * (id + 1) / t;
            if (lo < hi) {
                T acc = map(lo);
                for (index_t i = lo + 1; i < hi; ++i) acc = reduce(acc, map(i));
                partial[static_cast<std::size_t>(id)] = acc;
                used[static_cast<std::size_t>(id)] = 1;
            }
        }
        for (int id = 0; id < t; ++id)
            if (used[static_cast<std::size_t>(id)]) init = reduce(init, partial[static_cast<std::size_t>(id)]);
        return init;
#else
        for (index_t i = 0; i < n; ++i) init = reduce(init, map(i));
        return init;
#endif
    }
};

inline constexpr sequential_policy seq{};
inline constexpr openmp_policy par{};

// What every execution policy offers.
template <class P>
concept execution_policy = requires(const P& p) {
    typename P::space;
    { p.threads() } -> std::convertible_to<int>;
};

// True when code on the host can dereference the policy's memory.
template <class P>
inline constexpr bool runs_on_host_v = std::is_same_v<typename P::space, host_space>;

// Compile-time guard: a view handed to an algorithm must live where the
// policy runs. Passing device memory to a host policy fails here.
template <class P, class View>
constexpr void require_space() noexcept {
    static_assert(std::is_same_v<typename P::space, typename std::remove_cvref_t<View>::space>,
                  "lethe: the view's memory space differs from the execution policy's "
                  "(device memory passed to a host policy, or host memory to a device policy)");
}

}  // namespace lethe
