// lethe_test::fixtures_dir() (lethe_test.hpp): the one translation unit
// that holds the checkout's path.
#include <string>

namespace lethe_test {
std::string fixtures_dir() { return LETHE_TEST_FIXTURES_DIR; }
}  // namespace lethe_test
