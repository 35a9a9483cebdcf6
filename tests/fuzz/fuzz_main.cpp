// tests/fuzz/fuzz_main.cpp - the libFuzzer entry point of one target. CMake
// compiles it once per target with LETHE_FUZZ_HEADER="fuzz_<target>.hpp" and
// LETHE_FUZZ_ENTRY=fuzz_<target>; the entry's body lives in that header so the
// regression test runs exactly the same code.
#include <cstddef>
#include <cstdint>

#include LETHE_FUZZ_HEADER

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return lethe_fuzz::LETHE_FUZZ_ENTRY(data, size);
}
