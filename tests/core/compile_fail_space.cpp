// Must fail to compile unless LETHE_COMPILE_OK is defined: a device_space view
// handed to a host policy is rejected by lethe::require_space.
#include <lethe/core.hpp>

int main() {
    float x[6] = {};
    float out[2] = {};
#if defined(LETHE_COMPILE_OK)
    auto v = lethe::make_view(x, 2, 3);
#else
    auto v = lethe::make_device_view(x, 2, 3);
#endif
    lethe::row_sum(lethe::seq, lethe::view2<const float>(v), lethe::make_view(out, 2));
    return 0;
}
