// Helpers for the loss tests: small random token batches and a central
// finite-difference check of a loss's gradient w.r.t. its logits.
#pragma once

#include <lethe/loss.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lethe_test.hpp"

namespace loss_test {

using lethe::index_t;

// A padded batch [rows, len, vocab] in double or float with random logits,
// random targets and a mask: the first `prompt` positions of each row are
// prompt tokens (kind 2), then completion tokens (kind 1), then padding that
// varies per row (kind 0), so every row has at least one completion token.
template <class T>
struct batch {
    index_t rows, len, vocab;
    std::vector<T> logits;
    std::vector<std::int32_t> targets;
    std::vector<std::uint8_t> mask;

    batch(index_t r, index_t l, index_t v, std::uint32_t seed, index_t prompt = 2, double scale = 2.0)
        : rows(r), len(l), vocab(v), logits(lethe_test::random_normal<T>(static_cast<std::size_t>(r * l * v), seed, scale)),
          targets(static_cast<std::size_t>(r * l)), mask(static_cast<std::size_t>(r * l)) {
        std::uint32_t s = seed * 2654435761u + 1;
        for (index_t i = 0; i < r; ++i) {
            const index_t pad = i % std::max<index_t>(1, l - prompt - 1);  // 0 .. len-prompt-2 padding
            for (index_t t = 0; t < l; ++t) {
                s = s * 1664525u + 1013904223u;
                const auto n = static_cast<std::size_t>(i * l + t);
                targets[n] = static_cast<std::int32_t>((s >> 8) % static_cast<std::uint32_t>(v));
                mask[n] = t < prompt ? lethe::loss::token_kind::prompt
                          : t < l - pad ? lethe::loss::token_kind::completion
                                        : lethe::loss::token_kind::ignore;
            }
        }
    }
    auto logits_view() { return lethe::make_view(logits.data(), rows, len, vocab); }
    auto targets_view() const { return lethe::make_view(targets.data(), rows, len); }
    auto mask_view() const { return lethe::make_view(mask.data(), rows, len); }
    auto token_batch() { return lethe::loss::make_token_batch(logits_view(), targets_view(), mask_view()); }
};

// ||g - fd|| / ||fd|| over all logits, with central differences of step h.
// In double with h = 1e-5 the truncation error is O(h^2) ~ 1e-10 and the
// rounding error ~ 1e-16 / 1e-5 ~ 1e-11, both far below the 1e-6 bound.
inline double fd_relative_error(std::vector<double>& x, const std::vector<double>& grad,
                                const std::function<double()>& loss, double h = 1e-5) {
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double keep = x[i];
        x[i] = keep + h;
        const double up = loss();
        x[i] = keep - h;
        const double down = loss();
        x[i] = keep;
        const double fd = (up - down) / (2 * h);
        num += (grad[i] - fd) * (grad[i] - fd);
        den += fd * fd;
    }
    return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

using lethe_test::error_of;

}  // namespace loss_test
