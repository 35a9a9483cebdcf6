// Uses the installed headers and checks one result, so the test fails if the
// package is broken rather than merely present.
#include <lethe/lethe.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f, -1.0f, -2.0f};
    std::vector<float> lse(2);
    lethe::row_logsumexp(lethe::seq, lethe::make_view(x.data(), 2, 3), lethe::make_view(lse.data(), 2));
    const double want0 = std::log(1.0 + std::exp(1.0) + std::exp(2.0));
    if (std::abs(lse[0] - want0) > 1e-5) {
        std::printf("consumer: wrong logsumexp %f vs %f\n", lse[0], want0);
        return 1;
    }
    std::printf("consumer: lethe %d.%d.%d works (lse = %.6f)\n", lethe::version_major, lethe::version_minor,
                lethe::version_patch, lse[0]);
    return 0;
}
