// The sampler chain: Philox known answers, chi-square distribution tests with
// fixed seeds, each filter's edge cases, determinism across policies and
// thread counts, validation and JSON configuration.
#define BOOST_TEST_MODULE sampler
#include <lethe/guidance.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lethe_test.hpp"

using namespace lethe;
using namespace lethe::guidance;

namespace {

constexpr float ninf = -std::numeric_limits<float>::infinity();

template <class P = sequential_policy>
std::vector<token_id> sample(const sampler_params& p, const std::vector<float>& logits, index_t R, index_t V,
                             std::uint64_t seed = 7, std::uint64_t step = 0, const std::vector<token_id>& hist = {},
                             index_t N = 0, const P& pol = seq) {
    std::vector<token_id> out(static_cast<std::size_t>(R));
    std::vector<std::uint64_t> seeds(static_cast<std::size_t>(R), seed), streams(static_cast<std::size_t>(R));
    std::iota(streams.begin(), streams.end(), 0);
    sampler_workspace ws;
    ws.resize(R, V);
    std::vector<token_id> h = hist.empty() ? std::vector<token_id>(1, -1) : hist;
    sample_rows(pol, make_view(logits.data(), R, V), make_view(static_cast<const token_id*>(h.data()), R, N),
                make_view(out.data(), R), p,
                sampler_streams<host_space>{make_view(static_cast<const std::uint64_t*>(seeds.data()), R),
                                            make_view(static_cast<const std::uint64_t*>(streams.data()), R), step},
                ws.view());
    return out;
}

sampler_params chain_of(std::initializer_list<sampler_step> steps) {
    sampler_params p;
    p.chain_length = 0;
    for (auto s : steps) p.chain[p.chain_length++] = s;
    return p;
}

// Pearson chi-square of counts against probabilities (entries with p = 0
// must have count 0). Returns the statistic; dof = (#p > 0) - 1.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int draws, int* dof) {
    double chi = 0;
    *dof = -1;
    for (std::size_t j = 0; j < p.size(); ++j) {
        if (p[j] == 0) {
            BOOST_TEST(counts[j] == 0, "token " << j << " has probability 0 but was drawn " << counts[j] << " times");
            continue;
        }
        ++*dof;
        const double e = p[j] * draws;
        chi += (counts[j] - e) * (counts[j] - e) / e;
    }
    return chi;
}

// 99.9% quantiles of chi-square (NIST/SEMATECH e-Handbook, table 1.3.6.7.4):
// with fixed seeds the statistic is fixed, and a biased sampler would push it
// far above these (e.g. an off-by-one in the CDF gives chi > 1000 here).
double chi_square_999(int dof) {
    static const double q[] = {0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588};
    BOOST_REQUIRE(dof >= 1 && dof <= 10);
    return q[dof];
}

std::vector<double> softmax_d(const std::vector<float>& z, double t = 1.0) {
    std::vector<double> p(z.size());
    double m = -1e300;
    for (float x : z) m = std::max(m, static_cast<double>(x));
    double s = 0;
    for (std::size_t j = 0; j < z.size(); ++j) s += p[j] = std::exp((z[j] - m) / t);
    for (auto& x : p) x /= s;
    return p;
}

void check_distribution(const sampler_params& p, const std::vector<float>& z, const std::vector<double>& want,
                        std::uint64_t seed) {
    constexpr int draws = 40000;
    const auto V = static_cast<index_t>(z.size());
    std::vector<float> rows;
    for (int d = 0; d < draws; ++d) rows.insert(rows.end(), z.begin(), z.end());
    const auto tok = sample(p, rows, draws, V, seed);
    std::vector<int> counts(z.size(), 0);
    for (auto t : tok) ++counts[static_cast<std::size_t>(t)];
    int dof = 0;
    const double chi = chi_square(counts, want, draws, &dof);
    if (dof >= 1) BOOST_TEST(chi < chi_square_999(dof), "chi-square " << chi << " with " << dof << " dof");
}

const std::vector<float> ten = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -1.0f, 1.5f, 0.7f, -2.0f, 0.3f};

}  // namespace

BOOST_AUTO_TEST_SUITE(sampler)

BOOST_AUTO_TEST_CASE(philox_known_answers) {
    // Random123's kat_vectors for philox4x32-10 (counter, key -> output).
    struct kat {
        std::uint32_t ctr[4], key[2], out[4];
    };
    const kat k[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (const auto& t : k) {
        const auto r = philox4x32(t.ctr, t.key);
        for (int w = 0; w < 4; ++w) BOOST_TEST(r.v[w] == t.out[w]);
    }
    for (std::uint64_t s = 0; s < 1000; ++s) {
        const float u = philox_uniform(s, s * 3, s * 7);
        BOOST_TEST((u >= 0.0f && u < 1.0f));
    }
}

BOOST_AUTO_TEST_CASE(plain_softmax_draws_follow_the_distribution) {
    auto p = chain_of({sampler_step::temperature});
    p.temperature = 1.0f;
    check_distribution(p, ten, softmax_d(ten), 11);
    p.temperature = 0.5f;
    check_distribution(p, ten, softmax_d(ten, 0.5), 12);
    p.temperature = 2.0f;
    check_distribution(p, ten, softmax_d(ten, 2.0), 13);
}

BOOST_AUTO_TEST_CASE(filtered_draws_follow_the_renormalised_distribution) {
    const auto full = softmax_d(ten);
    std::vector<std::size_t> order(ten.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ten[a] > ten[b]; });
    auto keep = [&](auto pred) {
        std::vector<double> q(ten.size(), 0.0);
        double s = 0;
        for (std::size_t r = 0; r < order.size(); ++r)
            if (pred(r, order[r])) s += q[order[r]] = full[order[r]];
        for (auto& x : q) x /= s;
        return q;
    };
    // top-k 4: the four largest.
    auto p = chain_of({sampler_step::top_k});
    p.top_k = 4;
    check_distribution(p, ten, keep([](std::size_t r, std::size_t) { return r < 4; }), 21);
    // top-p 0.7: the shortest sorted prefix with mass >= 0.7.
    p = chain_of({sampler_step::top_p});
    p.top_p = 0.7f;
    double cum = 0;
    std::size_t prefix = 0;
    while (cum < 0.7) cum += full[order[prefix++]];
    BOOST_TEST(prefix == 4u);  // 0.347 + 0.211 + 0.128 = 0.686 < 0.7, + 0.095 = 0.781
    check_distribution(p, ten, keep([&](std::size_t r, std::size_t) { return r < prefix; }), 22);
    // min-p 0.3: p >= 0.3 p_max.
    p = chain_of({sampler_step::min_p});
    p.min_p = 0.3f;
    const double pmax = full[order[0]];
    check_distribution(p, ten, keep([&](std::size_t, std::size_t j) { return full[j] >= 0.3 * pmax; }), 23);
    // typical 0.5: by |-log p - H| ascending, shortest prefix with mass >= 0.5.
    p = chain_of({sampler_step::typical});
    p.typical_p = 0.5f;
    double H = 0;
    for (double x : full) H -= x * std::log(x);
    std::vector<std::size_t> by_dev(order);
    std::sort(by_dev.begin(), by_dev.end(),
              [&](auto a, auto b) { return std::abs(-std::log(full[a]) - H) < std::abs(-std::log(full[b]) - H); });
    std::vector<bool> in(ten.size(), false);
    cum = 0;
    for (std::size_t r = 0; r < by_dev.size() && cum < 0.5; ++r) {
        in[by_dev[r]] = true;
        cum += full[by_dev[r]];
    }
    check_distribution(p, ten, keep([&](std::size_t, std::size_t j) { return in[j]; }), 24);
    // The default chain: top-k 40 (no-op), top-p 0.95, min-p 0.05, temperature 0.8.
    p = sampler_params{};
    std::vector<double> q(ten.size(), 0.0);
    cum = 0;
    double s = 0;
    for (std::size_t r = 0; r < order.size() && cum < 0.95; ++r) {
        const auto j = order[r];
        cum += full[j];
        if (full[j] >= 0.05 * pmax) s += q[j] = std::exp(ten[j] / 0.8);
    }
    for (auto& x : q) x /= s;
    check_distribution(p, ten, q, 25);
}

BOOST_AUTO_TEST_CASE(greedy_and_ties) {
    std::vector<float> z = {0.5f, 2.0f, 2.0f, 1.0f};
    auto p = sampler_params{};
    p.temperature = 0.0f;
    BOOST_TEST(sample(p, z, 1, 4)[0] == 1);  // tie between 1 and 2 goes to the lower id
    p = sampler_params{};
    p.greedy = true;
    BOOST_TEST(sample(p, z, 1, 4)[0] == 1);
    // top-k 1 is greedy whatever the seed.
    p = chain_of({sampler_step::top_k});
    p.top_k = 1;
    for (std::uint64_t seed = 0; seed < 50; ++seed) BOOST_TEST(sample(p, z, 1, 4, seed)[0] == 1);
}

BOOST_AUTO_TEST_CASE(filter_edges) {
    const index_t V = static_cast<index_t>(ten.size());
    constexpr int R = 2000;
    std::vector<float> rows;
    for (int d = 0; d < R; ++d) rows.insert(rows.end(), ten.begin(), ten.end());
    auto distinct = [&](const sampler_params& p) {
        auto t = sample(p, rows, R, V, 5);
        std::sort(t.begin(), t.end());
        return static_cast<int>(std::unique(t.begin(), t.end()) - t.begin());
    };
    auto p = chain_of({sampler_step::top_k});
    p.top_k = 0;  // off
    BOOST_TEST(distinct(p) == 10);
    p.top_k = 1000;  // larger than V: off
    BOOST_TEST(distinct(p) == 10);
    p.top_k = 3;
    BOOST_TEST(distinct(p) == 3);
    p.min_keep = 5;  // min_keep wins over a smaller k
    BOOST_TEST(distinct(p) == 5);
    p = chain_of({sampler_step::top_p});
    p.top_p = 1.0f;
    BOOST_TEST(distinct(p) == 10);
    p.top_p = 1e-6f;  // only the top token
    BOOST_TEST(distinct(p) == 1);
    p.min_keep = 2;
    BOOST_TEST(distinct(p) == 2);
    p = chain_of({sampler_step::min_p});
    p.min_p = 1.0f;  // only the max
    BOOST_TEST(distinct(p) == 1);
    p.min_p = 0.0f;
    BOOST_TEST(distinct(p) == 10);
    p = chain_of({sampler_step::typical});
    p.typical_p = 1.0f;
    BOOST_TEST(distinct(p) == 10);
    p.typical_p = 1e-6f;
    BOOST_TEST(distinct(p) == 1);

    // Banned tokens and -inf bias are never drawn; banning all is an error.
    sampler_config c;
    c.params = chain_of({sampler_step::logit_bias, sampler_step::banned, sampler_step::temperature});
    c.params.temperature = 1.0f;
    c.banned_tokens = {3, 6};
    c.add_logit_bias(0, ninf);
    auto t = sample(c.resolved(), rows, R, V, 9);
    for (auto x : t) BOOST_TEST((x != 3 && x != 6 && x != 0));
    c.banned_tokens = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    t = sample(c.resolved(), rows, R, V, 9);
    for (auto x : t) BOOST_TEST(x == 9);
    c.banned_tokens.push_back(9);
    try {
        sample(c.resolved(), rows, R, V, 9);
        BOOST_ERROR("banning every token must throw");
    } catch (const lethe::error& e) {
        BOOST_TEST(std::string(e.what()).find("row 0: every candidate is -inf") != std::string::npos);
    }
    // A large positive bias makes a token certain.
    c = sampler_config{};
    c.add_logit_bias(8, 100.0f);
    for (auto x : sample(c.resolved(), rows, 50, V, 3)) BOOST_TEST(x == 8);
}

BOOST_AUTO_TEST_CASE(penalties_over_the_last_n) {
    auto greedy_with = [](float rep, float freq, float pres, std::vector<float> z, std::vector<token_id> hist) {
        auto p = chain_of({sampler_step::penalties});
        p.greedy = true;
        p.repeat_penalty = rep;
        p.frequency_penalty = freq;
        p.presence_penalty = pres;
        const auto N = static_cast<index_t>(hist.size());
        return sample(p, z, 1, static_cast<index_t>(z.size()), 1, 0, hist, N)[0];
    };
    // Repetition (CTRL): positive logits are divided, negative multiplied.
    BOOST_TEST(greedy_with(1.2f, 0, 0, {1.0f, 0.9f}, {0}) == 1);    // 1/1.2 = 0.83 < 0.9
    BOOST_TEST(greedy_with(1.05f, 0, 0, {1.0f, 0.9f}, {0}) == 0);   // 0.95 > 0.9
    BOOST_TEST(greedy_with(1.2f, 0, 0, {-1.0f, -1.1f}, {0}) == 1);  // -1.2 < -1.1
    // Frequency scales with the count, presence does not.
    BOOST_TEST(greedy_with(1, 0.05f, 0, {1.0f, 0.9f}, {0, 0, 0}) == 1);  // 1 - 0.15
    BOOST_TEST(greedy_with(1, 0.05f, 0, {1.0f, 0.9f}, {0}) == 0);        // 1 - 0.05
    BOOST_TEST(greedy_with(1, 0, 0.2f, {1.0f, 0.9f}, {0, 0, 0}) == 1);   // 1 - 0.2
    BOOST_TEST(greedy_with(1, 0, 0.05f, {1.0f, 0.9f}, {0, 0, 0}) == 0);  // 1 - 0.05 once
    // Padding (-1) is ignored; only tokens inside the window count.
    BOOST_TEST(greedy_with(1, 0.05f, 0, {1.0f, 0.9f}, {-1, -1, 0}) == 0);
}

BOOST_AUTO_TEST_CASE(same_tokens_on_every_policy_and_thread_count) {
    constexpr index_t R = 48, V = 3000;
    const auto z = lethe_test::random_normal<float>(R * V, 31, 3.0);
    std::vector<token_id> hist(R * 8);
    for (std::size_t k = 0; k < hist.size(); ++k) hist[k] = static_cast<token_id>((k * 37) % V);
    sampler_config c;
    c.params.repeat_penalty = 1.3f;
    c.params.typical_p = 0.9f;
    c.params.top_k = 0;  // top-p over the whole row: the heap sort path
    for (std::uint64_t step = 0; step < 3; ++step) {
        const auto ref = sample(c.resolved(), z, R, V, 99, step, hist, 8, seq);
        BOOST_TEST(sample(c.resolved(), z, R, V, 99, step, hist, 8, par.with_threads(1)) == ref);
        BOOST_TEST(sample(c.resolved(), z, R, V, 99, step, hist, 8, par.with_threads(2)) == ref);
        BOOST_TEST(sample(c.resolved(), z, R, V, 100, step, hist, 8, seq) != ref);  // the seed matters
    }
    // The order of the chain is the user's: temperature before top-p changes the nucleus.
    auto a = sampler_params{};
    a.top_k = 0;
    a.temperature = 3.0f;
    auto b = a;
    b.chain_length = 0;
    for (auto s : {sampler_step::temperature, sampler_step::top_p, sampler_step::min_p}) b.chain[b.chain_length++] = s;
    BOOST_TEST(sample(a, z, R, V, 1) != sample(b, z, R, V, 1));
}

BOOST_AUTO_TEST_CASE(bad_settings_are_clear_errors) {
    const std::vector<float> z = {0.0f, 1.0f};
    auto msg = [&](sampler_params p) -> std::string {
        try {
            sample(p, z, 1, 2);
        } catch (const lethe::error& e) {
            return e.what();
        }
        return "";
    };
    for (float tp : {0.0f, -0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
        sampler_params p;
        p.top_p = tp;
        BOOST_TEST(msg(p).find("top_p") != std::string::npos, "top_p = " << tp);
    }
    sampler_params p;
    p.top_k = -1;
    BOOST_TEST(msg(p).find("top_k") != std::string::npos);
    p = {};
    p.temperature = -1;
    BOOST_TEST(msg(p).find("temperature") != std::string::npos);
    p = {};
    p.min_p = 2;
    BOOST_TEST(msg(p).find("min_p") != std::string::npos);
    p = {};
    p.repeat_penalty = 0;
    BOOST_TEST(msg(p).find("repeat_penalty") != std::string::npos);
    sampler_config c;
    c.add_logit_bias(5, 1.0f);
    BOOST_TEST(msg(c.resolved()).find("token id 5") != std::string::npos);
    std::vector<float> bad = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f, 2.0f};
    BOOST_CHECK_EXCEPTION(sample(sampler_params{}, bad, 2, 2), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("row 0: logits contain NaN") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(json_configuration) {
    const auto j = nlohmann::json::parse(R"({
        "chain": ["banned", "top_k", "temperature", "top_p"], "temperature": 0.7, "top_k": 12, "top_p": 0.9,
        "min_p": 0.0, "repeat_penalty": 1.1, "penalty_last_n": 32, "logit_bias": {"5": -1.5},
        "banned_tokens": [1, 2], "stop_tokens": [0], "stop_strings": ["."], "max_new_tokens": 20, "seed": 42})");
    const auto c = sampler_config::from_json(j);
    BOOST_TEST(c.params.chain_length == 4);
    BOOST_TEST((c.params.chain[2] == sampler_step::temperature));
    BOOST_TEST(c.params.temperature == 0.7f);
    BOOST_TEST(c.params.top_k == 12);
    BOOST_TEST(c.penalty_last_n == 32);
    BOOST_TEST(c.bias_ids == std::vector<token_id>{5});
    BOOST_TEST(c.banned_tokens == (std::vector<token_id>{1, 2}));
    BOOST_TEST(c.max_new_tokens == 20);
    BOOST_TEST(c.seed == 42u);
    c.validate(10);
    BOOST_CHECK_THROW(c.validate(4), lethe::error);  // bias id 5 out of range
    const auto back = sampler_config::from_json(c.to_json());
    BOOST_TEST(back.to_json() == c.to_json());

    auto msg = [](const char* text) -> std::string {
        try {
            sampler_config::from_json(nlohmann::json::parse(text)).validate(10);
        } catch (const lethe::error& e) {
            return e.what();
        }
        return "";
    };
    BOOST_TEST(msg(R"({"top_pp": 0.5})").find("unknown key \"top_pp\"") != std::string::npos);
    BOOST_TEST(msg(R"({"chain": ["top_k", "nucleus"]})").find("unknown step 'nucleus'") != std::string::npos);
    BOOST_TEST(msg(R"({"top_p": 1.5})").find("top_p = 1.5") != std::string::npos);
    BOOST_TEST(msg(R"({"top_k": "40"})").find("\"top_k\" must be an integer") != std::string::npos);
    BOOST_TEST(msg(R"({"logit_bias": {"x": 1}})").find("logit_bias key 'x'") != std::string::npos);
    BOOST_TEST(msg(R"({"stop_tokens": [12]})").find("stop_tokens[0] = 12") != std::string::npos);
    BOOST_TEST(msg(R"([1, 2])").find("expected a JSON object") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
