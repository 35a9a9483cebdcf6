#define BOOST_TEST_MODULE atomic_file
#include <lethe/io/atomic_file.hpp>

#include <filesystem>

#include "lethe_test.hpp"

namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(atomic_file)

BOOST_AUTO_TEST_CASE(commit_replaces_and_abort_keeps_old_contents) {
    const fs::path dir = fs::temp_directory_path() / ("lethe-atomic-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path p = dir / "out.txt";
    lethe::io::write_file_atomic(p, "first");
    BOOST_CHECK_EQUAL(lethe_test::read_file(p.string()), "first");
    try {
        lethe::io::atomic_writer w(p);
        w.write("half-written");
        throw std::runtime_error("simulated failure before commit");
    } catch (const std::runtime_error&) {
    }
    BOOST_CHECK_EQUAL(lethe_test::read_file(p.string()), "first");  // untouched
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
    BOOST_CHECK_EQUAL(files, 1u);  // no temporary left behind
    BOOST_CHECK_THROW(lethe::io::write_file_atomic(dir / "no-such-dir" / "x", "y"), lethe::error);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
