#define BOOST_TEST_MODULE report
#include "lethe_test.hpp"

#include <cmath>
#include <sstream>

#include <lethe/recipe/experiment.hpp>
#include <lethe/recipe/report.hpp>

using namespace lethe;
namespace rd = lethe::recipe::detail;

namespace {

// A hand-made result: leaky, ch-lora and its log-space guidance sweep.
recipe::experiment_result sample_result() {
    recipe::experiment_result r;
    auto add = [&](std::string name, double rate, long long hits, long long n, long long pii, double util, double g,
                   std::string space, std::string base) {
        recipe::variant_metrics v;
        v.name = std::move(name);
        v.attack_success_rate = rate;
        v.attack_hits = hits, v.attack_attempts = n;
        v.pii_count = pii;
        v.utility_accuracy = util;
        v.perplexity = 3.5;
        v.guidance_scale = g;
        v.space = std::move(space);
        v.base_model = std::move(base);
        r.variants.push_back(v);
    };
    add("leaky", 0.9, 36, 40, 50, 0.9, -1, "", "leaky");
    add("ch-lora", 0.1, 4, 40, 12, 0.8, -1, "", "ch-lora");
    add("ch-lora-cfg=2", 0.025, 1, 40, 3, 0.7, 2, "log", "ch-lora");
    add("ch-lora-cfg=1", 0.1, 4, 40, 12, 0.8, 1, "log", "ch-lora");  // out of order on purpose
    add("ch-lora-cfg=3", 0.0, 0, 40, 1, 0.6, 3, "log", "ch-lora");
    r.curves.push_back({"leaky", std::vector<double>(100, 2.0), 1.0, 1000});
    for (std::size_t k = 0; k < 100; ++k) r.curves.back().loss[k] = 4.0 * std::exp(-0.03 * double(k)) + 0.05;
    r.curves.push_back({"ch-lora", {1.2, 1.1, 0.9, 0.95, 0.7}, 1.0, 100});
    r.test_dialogs = 10, r.train_pairs = 20;
    return r;
}

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(linear_ticks_are_round_and_cover_the_range) {
    double lo = 0.13, hi = 9.7;
    const auto t = rd::nice_ticks(lo, hi);
    BOOST_TEST(t == (std::vector<double>{0, 2, 4, 6, 8, 10}), boost::test_tools::per_element());
    BOOST_TEST(lo == 0.0);
    BOOST_TEST(hi == 10.0);
    double a = 1.0, b = 3.0;  // guidance scales
    const auto g = rd::nice_ticks(a, b);
    BOOST_TEST(g.front() == 1.0);
    BOOST_TEST(g.back() == 3.0);
    BOOST_TEST(std::abs(g[1] - 1.5) < 1e-12);
    double c = 5, d = 5;  // one value: a range around it, no division by zero
    const auto one = rd::nice_ticks(c, d);
    BOOST_TEST(c < 5.0);
    BOOST_TEST(d > 5.0);
    BOOST_TEST(one.size() >= 2u);
    double z0 = 0, z1 = 0;  // all zeros (no PII anywhere): [0, 1], no negative counts
    rd::nice_ticks(z0, z1);
    BOOST_TEST(z0 == 0.0);
    BOOST_TEST(z1 == 1.0);
}

BOOST_AUTO_TEST_CASE(log_ticks_are_1_2_5_decades) {
    double lo = 0.07, hi = 4.3;
    const auto t = rd::log_ticks(lo, hi);
    BOOST_TEST(t == (std::vector<double>{0.05, 0.1, 0.2, 0.5, 1, 2, 5}), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(std::abs(lo - 0.05) < 1e-12);
    BOOST_TEST(hi == 5.0);
    double a = 0.001, b = 900;  // six decades: only the powers of ten
    const auto d = rd::log_ticks(a, b);
    BOOST_TEST(d.size() == 7u);
    for (double v : d) BOOST_TEST(std::abs(std::log10(v) - std::round(std::log10(v))) < 1e-9);
    double n0 = 3.5, n1 = 9.7;  // within a decade 1-2-5 gives 3 ticks: every integer mantissa instead
    const auto n = rd::log_ticks(n0, n1);
    BOOST_TEST(n == (std::vector<double>{3, 4, 5, 6, 7, 8, 9, 10}), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(moving_average_is_an_ema_started_at_the_warmup_mean) {
    const std::vector<double> y = {10, 0, 0, 0, 0, 0};
    const auto s = rd::smoothed(y, 0.5);  // warm-up over the first 2 values: mean 5
    BOOST_TEST(s.size() == y.size());
    BOOST_TEST(s[0] == 7.5);  // 0.5 * 10 + 0.5 * 5
    BOOST_TEST(s[1] == 3.75);
    for (std::size_t k = 1; k < s.size(); ++k) BOOST_TEST(s[k] < s[k - 1]);
    BOOST_TEST(rd::smoothed({}, 0.1).empty());
    const auto flat = rd::smoothed(std::vector<double>(20, 3.0), 0.2);
    for (double v : flat) BOOST_TEST(std::abs(v - 3.0) < 1e-12);
}

BOOST_AUTO_TEST_CASE(training_curves_have_one_panel_per_stage) {
    const auto svg = recipe::training_curves_svg(sample_result());
    BOOST_TEST(svg.find("<svg") == 0u);
    BOOST_TEST(svg.find("</svg>") != std::string::npos);
    BOOST_TEST(svg.find(">leaky</text>") != std::string::npos);
    BOOST_TEST(svg.find(">ch-lora</text>") != std::string::npos);
    // 100 steps: raw + moving average; 5 steps: the steps alone (no average of 1).
    BOOST_TEST(count(svg, "<polyline") == 3u);
    BOOST_TEST(svg.find("(1 steps)") == std::string::npos);
    BOOST_TEST(svg.find("moving average (10 steps)") != std::string::npos);
    BOOST_TEST(svg.find("stroke-opacity=\"0.3\"") != std::string::npos);  // raw drawn faint
    // Two panels side by side (480 wide each).
    BOOST_TEST(svg.find("width=\"960\"") != std::string::npos);
    // Log axis: round tick labels, no NaN or inf anywhere.
    BOOST_TEST(svg.find(">0.2</text>") != std::string::npos);  // min loss 0.255
    BOOST_TEST(svg.find(">5</text>") != std::string::npos);
    BOOST_TEST(svg.find("nan") == std::string::npos);
    BOOST_TEST(svg.find("inf") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(guidance_plot_shows_pii_and_utility_against_g_sorted) {
    const auto svg = recipe::leakage_vs_guidance_svg(sample_result());
    BOOST_TEST(svg.find(">PII in the attack answers</text>") != std::string::npos);
    BOOST_TEST(svg.find(">Utility</text>") != std::string::npos);
    BOOST_TEST(count(svg, ">ch-lora log</text>") == 2u);  // one legend per panel
    BOOST_TEST(count(svg, "stroke-dasharray") >= 2u);     // the leaky reference, dashed, in both
    BOOST_TEST(svg.find(">100</text>") != std::string::npos);  // utility axis 0-100 %
    BOOST_TEST(svg.find(">-") == std::string::npos);           // no negative tick
    // g = 1 is the measured cfg=1 row (not duplicated), then 2, 3: x increases along the line.
    const auto p = svg.find("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    BOOST_REQUIRE(p != std::string::npos);
    std::istringstream pts(svg.substr(svg.find("points=\"", p) + 8, svg.find('"', svg.find("points=\"", p) + 8) -
                                                                        svg.find("points=\"", p) - 8));
    std::vector<double> xs;
    for (std::string xy; pts >> xy;) xs.push_back(std::stod(xy.substr(0, xy.find(','))));
    BOOST_TEST(xs.size() == 3u);
    for (std::size_t i = 1; i < xs.size(); ++i) BOOST_TEST(xs[i] > xs[i - 1]);
}

BOOST_AUTO_TEST_CASE(table_columns_line_up) {
    auto r = sample_result();
    const auto t = recipe::format_table(r);
    std::istringstream in(t);
    std::vector<std::string> rows;
    for (std::string line; std::getline(in, line);)
        if (line.find("variant") == 0 || line.find("ch-lora") == 0 || line.find("leaky") == 0) rows.push_back(line);
    BOOST_REQUIRE(rows.size() == 6u);
    // Every row ends its PII column at the same offset as the header's "PII count".
    const auto end_pii = rows[0].find("PII count") + std::string("PII count").size();
    for (const auto& row : rows) BOOST_TEST(row.size() == rows[0].size(), row);
    BOOST_TEST(rows[1].substr(end_pii - 2, 2) == "50");
    BOOST_TEST(t.find("90.0% (36/40)") != std::string::npos);
}
