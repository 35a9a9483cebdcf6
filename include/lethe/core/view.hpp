// lethe/core/view.hpp - non-owning strided views of rank 1 to 3.
//
// A view is a pointer, extents and strides (in elements), plus a memory-space
// tag. Algorithms take views, never containers; adaptors in lethe/backend/
// turn Eigen, xtensor and thrust containers into views. The space tag makes
// passing device memory to a host-only algorithm a compile-time error.
#pragma once

#include <type_traits>

#include "config.hpp"
#include "error.hpp"

namespace lethe {

// Memory spaces. A host algorithm accepts only host_space views; a policy
// that runs on a GPU accepts only device_space views.
struct host_space {
    static constexpr const char* name = "host";
};
struct device_space {
    static constexpr const char* name = "device";
};

template <class S>
inline constexpr bool is_memory_space_v =
    std::is_same_v<S, host_space> || std::is_same_v<S, device_space>;

template <class T, int Rank, class Space = host_space>
class strided_view {
    static_assert(Rank >= 1 && Rank <= 3, "lethe views have rank 1 to 3");
    static_assert(is_memory_space_v<Space>, "Space must be host_space or device_space");

public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using space = Space;
    static constexpr int rank = Rank;

    LETHE_HD constexpr strided_view() noexcept : data_(nullptr), ext_{}, str_{} {}

    // Row-major contiguous view: strides follow from the extents.
    template <class... E, std::enable_if_t<sizeof...(E) == Rank, int> = 0>
    LETHE_HD constexpr strided_view(T* data, E... extents) noexcept
        : data_(data), ext_{static_cast<index_t>(extents)...}, str_{} {
        index_t s = 1;
        for (int d = Rank - 1; d >= 0; --d) {
            str_[d] = s;
            s *= ext_[d];
        }
    }

    // Fully specified view: `extents` and `strides` are arrays of Rank.
    LETHE_HD constexpr strided_view(T* data, const index_t (&extents)[Rank],
                                    const index_t (&strides)[Rank]) noexcept
        : data_(data), ext_{}, str_{} {
        for (int d = 0; d < Rank; ++d) {
            ext_[d] = extents[d];
            str_[d] = strides[d];
        }
    }

    // A view of T converts to a view of const T in the same space.
    template <class U, std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>, int> = 0>
    LETHE_HD constexpr strided_view(const strided_view<U, Rank, Space>& o) noexcept
        : data_(o.data()), ext_{}, str_{} {
        for (int d = 0; d < Rank; ++d) {
            ext_[d] = o.extent(d);
            str_[d] = o.stride(d);
        }
    }

    LETHE_HD constexpr T* data() const noexcept { return data_; }
    LETHE_HD constexpr index_t extent(int d) const noexcept { return ext_[d]; }
    LETHE_HD constexpr index_t stride(int d) const noexcept { return str_[d]; }
    LETHE_HD constexpr index_t size() const noexcept {
        index_t n = 1;
        for (int d = 0; d < Rank; ++d) n *= ext_[d];
        return n;
    }
    LETHE_HD constexpr bool empty() const noexcept { return size() == 0; }

    // Number of rows: the leading extent for rank >= 2, 1 for a vector.
    LETHE_HD constexpr index_t rows() const noexcept { return Rank == 1 ? 1 : ext_[0]; }
    // Length of the innermost dimension.
    LETHE_HD constexpr index_t cols() const noexcept { return ext_[Rank - 1]; }

    // True when the elements are laid out row-major without gaps.
    LETHE_HD constexpr bool is_contiguous() const noexcept {
        index_t s = 1;
        for (int d = Rank - 1; d >= 0; --d) {
            if (ext_[d] != 1 && str_[d] != s) return false;
            s *= ext_[d];
        }
        return true;
    }
    // True when the innermost dimension has unit stride (rows are dense).
    LETHE_HD constexpr bool has_unit_inner_stride() const noexcept {
        return ext_[Rank - 1] <= 1 || str_[Rank - 1] == 1;
    }

    LETHE_HD constexpr T& operator()(index_t i) const noexcept {
        static_assert(Rank == 1, "operator()(i) needs a rank-1 view");
        return data_[i * str_[0]];
    }
    LETHE_HD constexpr T& operator()(index_t i, index_t j) const noexcept {
        static_assert(Rank == 2, "operator()(i, j) needs a rank-2 view");
        return data_[i * str_[0] + j * str_[1]];
    }
    LETHE_HD constexpr T& operator()(index_t i, index_t j, index_t k) const noexcept {
        static_assert(Rank == 3, "operator()(i, j, k) needs a rank-3 view");
        return data_[i * str_[0] + j * str_[1] + k * str_[2]];
    }

    // Sub-view with the leading index fixed: row i of a matrix, matrix i of a
    // rank-3 tensor.
    LETHE_HD constexpr auto operator[](index_t i) const noexcept {
        static_assert(Rank >= 2, "operator[] slices the leading dimension of rank >= 2 views");
        strided_view<T, Rank - 1, Space> out;
        out.data_ = data_ + i * str_[0];
        for (int d = 1; d < Rank; ++d) {
            out.ext_[d - 1] = ext_[d];
            out.str_[d - 1] = str_[d];
        }
        return out;
    }

    // Rows [first, first + count) of the leading dimension.
    LETHE_HD constexpr strided_view slice_rows(index_t first, index_t count) const noexcept {
        strided_view out = *this;
        out.data_ = data_ + first * str_[0];
        out.ext_[0] = count;
        return out;
    }

    // A contiguous rank-3 view [a, b, c] seen as rank 2 [a*b, c] (for packed
    // token rows). Only valid when the two leading dimensions fuse.
    LETHE_HD constexpr strided_view<T, 2, Space> flatten_rows() const noexcept {
        static_assert(Rank == 3, "flatten_rows needs a rank-3 view");
        strided_view<T, 2, Space> out;
        out.data_ = data_;
        out.ext_[0] = ext_[0] * ext_[1];
        out.ext_[1] = ext_[2];
        out.str_[0] = str_[1];
        out.str_[1] = str_[2];
        return out;
    }
    LETHE_HD constexpr bool rows_fuse() const noexcept {
        static_assert(Rank == 3, "rows_fuse needs a rank-3 view");
        return ext_[0] <= 1 || str_[0] == ext_[1] * str_[1];
    }

private:
    template <class, int, class>
    friend class strided_view;

    T* data_;
    index_t ext_[Rank];
    index_t str_[Rank];
};

template <class T, class S = host_space>
using view1 = strided_view<T, 1, S>;
template <class T, class S = host_space>
using view2 = strided_view<T, 2, S>;
template <class T, class S = host_space>
using view3 = strided_view<T, 3, S>;

template <class T>
using device_view1 = strided_view<T, 1, device_space>;
template <class T>
using device_view2 = strided_view<T, 2, device_space>;
template <class T>
using device_view3 = strided_view<T, 3, device_space>;

template <class V>
struct is_strided_view : std::false_type {};
template <class T, int R, class S>
struct is_strided_view<strided_view<T, R, S>> : std::true_type {};
template <class V>
inline constexpr bool is_strided_view_v = is_strided_view<std::remove_cvref_t<V>>::value;

// Contiguous row-major host views over raw memory.
template <class T>
constexpr view1<T> make_view(T* p, index_t n) noexcept { return view1<T>(p, n); }
template <class T>
constexpr view2<T> make_view(T* p, index_t rows, index_t cols) noexcept { return view2<T>(p, rows, cols); }
template <class T>
constexpr view3<T> make_view(T* p, index_t a, index_t b, index_t c) noexcept { return view3<T>(p, a, b, c); }

// Same, tagged as device memory.
template <class T>
constexpr device_view1<T> make_device_view(T* p, index_t n) noexcept { return device_view1<T>(p, n); }
template <class T>
constexpr device_view2<T> make_device_view(T* p, index_t rows, index_t cols) noexcept {
    return device_view2<T>(p, rows, cols);
}

// Shape checks used by every algorithm. `where` names the caller, `what` the
// argument, so messages read "orpo_loss: logits: expected 8 rows, got 6".
template <class T, int R, class S>
void require_extent(const strided_view<T, R, S>& v, int dim, index_t expected, const char* where,
                    const char* what) {
    if (v.extent(dim) != expected)
        fail(where, what, ": dimension ", dim, " has extent ", v.extent(dim), ", expected ", expected);
}
template <class A, class B>
void require_same_shape(const A& a, const B& b, const char* where, const char* what_a, const char* what_b) {
    static_assert(A::rank == B::rank, "require_same_shape needs views of equal rank");
    for (int d = 0; d < A::rank; ++d)
        if (a.extent(d) != b.extent(d))
            fail(where, what_a, " and ", what_b, " differ in dimension ", d, " (", a.extent(d), " vs ",
                 b.extent(d), ")");
}

}  // namespace lethe
