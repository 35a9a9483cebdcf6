// lethe/backend/xtensor.hpp - views over xtensor containers and adaptors.
//
// view_of(t) accepts xt::xtensor, xt::xtensor_fixed, xt::xarray and the
// adaptors made by xt::adapt (over foreign memory), in either layout. Static
// rank containers give a view of that rank; for xarray (dynamic rank) name the
// rank: view_of<2>(a), which checks it at run time. xtensor stores element
// strides (0 for dimensions of extent 1), which lethe views take as they are.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

#include <xtensor/xcontainer.hpp>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace lethe {

template <class E>
concept xtensor_container = requires(E& e) {
    e.data();
    e.shape();
    e.strides();
    e.dimension();
} && std::is_base_of_v<xt::xcontiguous_iterable<std::remove_cvref_t<E>>, std::remove_cvref_t<E>>;

namespace detail {
template <class E>
using xtensor_element_t =
    std::conditional_t<std::is_const_v<std::remove_reference_t<E>>,
                       const typename std::remove_cvref_t<E>::value_type,
                       typename std::remove_cvref_t<E>::value_type>;

template <class S>
struct static_rank : std::integral_constant<int, -1> {};
template <class T, std::size_t N>
struct static_rank<std::array<T, N>> : std::integral_constant<int, static_cast<int>(N)> {};
template <std::size_t... N>
struct static_rank<xt::fixed_shape<N...>> : std::integral_constant<int, static_cast<int>(sizeof...(N))> {};
}  // namespace detail

// View of rank R; throws lethe::error if the container's rank differs.
template <int R, xtensor_container E>
auto view_of(E&& e) {
    using T = detail::xtensor_element_t<E>;
    if (static_cast<int>(e.dimension()) != R)
        fail("lethe::view_of(xtensor)", "container has rank ", e.dimension(), ", expected ", R);
    index_t ext[R];
    index_t str[R];
    for (int d = 0; d < R; ++d) {
        ext[d] = static_cast<index_t>(e.shape()[static_cast<std::size_t>(d)]);
        str[d] = static_cast<index_t>(e.strides()[static_cast<std::size_t>(d)]);
    }
    return strided_view<T, R>(const_cast<T*>(e.data()), ext, str);
}

// View whose rank is the container's static rank (xtensor, xtensor_fixed,
// xtensor adaptors).
template <xtensor_container E>
    requires(detail::static_rank<typename std::remove_cvref_t<E>::shape_type>::value > 0)
auto view_of(E&& e) {
    constexpr int R = detail::static_rank<typename std::remove_cvref_t<E>::shape_type>::value;
    return view_of<R>(std::forward<E>(e));
}

}  // namespace lethe
