#define BOOST_TEST_MODULE view
#include <lethe/core.hpp>
#include <lethe/backend/eigen.hpp>
#include <lethe/backend/xtensor.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "lethe_test.hpp"

using namespace lethe;

BOOST_AUTO_TEST_SUITE(view)

BOOST_AUTO_TEST_CASE(contiguous_views_index_row_major) {
    float data[24];
    for (int i = 0; i < 24; ++i) data[i] = static_cast<float>(i);
    auto v3 = make_view(data, 2, 3, 4);
    BOOST_CHECK_EQUAL(v3.size(), 24);
    BOOST_CHECK(v3.is_contiguous());
    BOOST_CHECK_EQUAL(v3(1, 2, 3), 23.0f);
    BOOST_CHECK_EQUAL(v3.stride(0), 12);
    auto m = v3[1];  // rank 2 slice
    static_assert(decltype(m)::rank == 2);
    BOOST_CHECK_EQUAL(m(0, 1), 13.0f);
    auto flat = v3.flatten_rows();
    BOOST_CHECK_EQUAL(flat.extent(0), 6);
    BOOST_CHECK_EQUAL(flat(5, 3), 23.0f);
    auto rows = flat.slice_rows(2, 3);
    BOOST_CHECK_EQUAL(rows(0, 0), 8.0f);
    BOOST_CHECK_EQUAL(rows.extent(0), 3);
    view2<const float> c = flat;  // const conversion
    BOOST_CHECK_EQUAL(c(1, 1), 5.0f);
}

BOOST_AUTO_TEST_CASE(strided_view_is_not_contiguous) {
    float data[12] = {};
    const index_t ext[2] = {3, 2};
    const index_t str[2] = {4, 2};
    view2<float> v(data, ext, str);
    BOOST_CHECK(!v.is_contiguous());
    BOOST_CHECK(!v.has_unit_inner_stride());
    v(2, 1) = 5.0f;
    BOOST_CHECK_EQUAL(data[10], 5.0f);
}

BOOST_AUTO_TEST_CASE(eigen_adaptors_keep_layout) {
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r(3, 4);
    Eigen::MatrixXf c(3, 4);  // column-major
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) r(i, j) = c(i, j) = static_cast<float>(10 * i + j);
    auto vr = view_of(r);
    auto vc = view_of(c);
    BOOST_CHECK(vr.is_contiguous());
    BOOST_CHECK(!vc.is_contiguous());
    BOOST_CHECK_EQUAL(vc.stride(0), 1);
    BOOST_CHECK_EQUAL(vc.stride(1), 3);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
            BOOST_CHECK_EQUAL(vr(i, j), r(i, j));
            BOOST_CHECK_EQUAL(vc(i, j), c(i, j));
        }
    const Eigen::MatrixXf& cc = c;
    auto vcc = view_of(cc);
    static_assert(std::is_const_v<decltype(vcc)::element_type>);
    Eigen::VectorXf v = Eigen::VectorXf::LinSpaced(5, 0, 4);
    auto vv = view_of(v);
    static_assert(decltype(vv)::rank == 1);
    BOOST_CHECK_EQUAL(vv(4), 4.0f);
    // A Block (every other column) and a Ref keep Eigen's strides.
    auto block = view_of(r.block(1, 1, 2, 2));
    BOOST_CHECK_EQUAL(block(1, 1), 22.0f);
    Eigen::Ref<Eigen::MatrixXf> ref = c;
    BOOST_CHECK_EQUAL(view_of(ref)(2, 3), 23.0f);
    Eigen::Map<Eigen::MatrixXf, 0, Eigen::OuterStride<>> map(c.data(), 2, 4, Eigen::OuterStride<>(3));
    BOOST_CHECK_EQUAL(view_of(map)(1, 3), 13.0f);
}

BOOST_AUTO_TEST_CASE(xtensor_adaptors_keep_layout) {
    xt::xtensor<double, 2> t = {{1, 2, 3}, {4, 5, 6}};
    auto vt = view_of(t);
    static_assert(decltype(vt)::rank == 2);
    BOOST_CHECK_EQUAL(vt(1, 2), 6.0);
    xt::xtensor<double, 2, xt::layout_type::column_major> tc = t;
    auto vtc = view_of(tc);
    BOOST_CHECK_EQUAL(vtc(1, 0), 4.0);
    BOOST_CHECK_EQUAL(vtc.stride(0), 1);
    xt::xarray<double> a = t;
    auto va = view_of<2>(a);
    BOOST_CHECK_EQUAL(va(0, 2), 3.0);
    BOOST_CHECK_THROW(view_of<3>(a), lethe::error);
    std::vector<float> buf(6, 1.5f);
    auto adapted = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), std::array<std::size_t, 2>{2, 3});
    auto vad = view_of(adapted);
    BOOST_CHECK_EQUAL(vad(1, 2), 1.5f);
    BOOST_CHECK_EQUAL(vad.data(), buf.data());
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_problem) {
    float x[6];
    try {
        require_extent(make_view(x, 2, 3), 1, 4, "my_algorithm", "logits");
        BOOST_FAIL("no exception");
    } catch (const lethe::error& e) {
        const std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find("my_algorithm") != std::string::npos, msg);
        BOOST_CHECK_MESSAGE(msg.find("logits") != std::string::npos, msg);
        BOOST_CHECK_MESSAGE(msg.find("expected 4") != std::string::npos, msg);
    }
}

BOOST_AUTO_TEST_SUITE_END()
