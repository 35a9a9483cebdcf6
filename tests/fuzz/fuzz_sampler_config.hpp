// tests/fuzz/fuzz_sampler_config.hpp - sampler configuration from JSON
// (lethe/guidance/sampler_config.hpp). A config that from_json accepts and
// validate() passes for a 64-token vocabulary must sample (every token in
// range) and survive to_json -> from_json unchanged.
#pragma once

#include <lethe/guidance/sampler_config.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

inline int fuzz_sampler_config(const std::uint8_t* data, std::size_t size) {
    using namespace lethe;
    using namespace lethe::guidance;
    const nlohmann::json j = nlohmann::json::parse(as_text(data, size), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    return reject_cleanly([&] {
        const sampler_config c = sampler_config::from_json(j);
        constexpr index_t V = 64, R = 2, N = 8;
        c.validate(V);
        // Round trip.
        must_succeed("to_json -> from_json", [&] {
            const sampler_config d = sampler_config::from_json(c.to_json());
            const nlohmann::json a = c.to_json(), b = d.to_json();
            LETHE_FUZZ_CHECK(a == b, a.dump() + " became " + b.dump());
        });
        // Sample two rows of fixed logits with a short history.
        std::vector<float> logits(static_cast<std::size_t>(R * V));
        for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 0.7f) * 3.0f;
        logits[5] = -std::numeric_limits<float>::infinity();
        std::vector<token_id> hist(static_cast<std::size_t>(R * N));
        for (std::size_t i = 0; i < hist.size(); ++i) hist[i] = static_cast<token_id>(i % 5 == 4 ? -1 : i % V);
        std::vector<token_id> out(static_cast<std::size_t>(R), -7);
        std::vector<std::uint64_t> seeds(static_cast<std::size_t>(R), c.seed), streams(static_cast<std::size_t>(R));
        std::iota(streams.begin(), streams.end(), 0);
        sampler_workspace ws;
        ws.resize(R, V);
        const sampler_params p = c.resolved();
        sample_rows(seq, make_view(static_cast<const float*>(logits.data()), R, V),
                    make_view(static_cast<const token_id*>(hist.data()), R, N), make_view(out.data(), R), p,
                    sampler_streams<host_space>{make_view(static_cast<const std::uint64_t*>(seeds.data()), R),
                                                make_view(static_cast<const std::uint64_t*>(streams.data()), R), 0},
                    ws.view());
        for (auto t : out) LETHE_FUZZ_CHECK(t >= 0 && t < V, "sampled token in range");
    });
}

}  // namespace lethe_fuzz
