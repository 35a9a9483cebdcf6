// safetensors checkpoint throughput: 64 MiB of float parameters (16 tensors
// of 1024 x 1024, a 110M-class layer stack's worth of matrices) written and
// read back, next to a memcpy of the same bytes in the same run.
//
// Bytes processed are the float bytes on the caller's side (64 MiB), so an
// F32 and a BF16 file compare as "parameters per second".
// Floor: a checkpoint write is one copy of every byte into the page cache (a
// memcpy, ~10-15 GB/s on this machine) plus the kernel's file bookkeeping;
// a read maps the page-cache pages (page faults) and copies once more (F32)
// or converts (F16/BF16). The file lives in the system temp directory (a
// disk-backed filesystem here): writes land in the page cache, not on disk.
#include <lethe/io/safetensors.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "bench_support.hpp"

namespace {

namespace fs = std::filesystem;
using lethe::io::dtype;

constexpr int n_tensors = 16;
constexpr std::int64_t rows = 1024, cols = 1024;
constexpr std::int64_t bytes_per_pass = n_tensors * rows * cols * static_cast<std::int64_t>(sizeof(float));

const float* params() {
    static auto buf = lethe_bench::make_buffer<float>(static_cast<std::size_t>(n_tensors * rows * cols), 0.02f);
    return buf.get();
}

float* scratch() {
    static auto buf = lethe_bench::make_buffer<float>(static_cast<std::size_t>(n_tensors * rows * cols), 0.0f);
    return buf.get();
}

std::string tensor_name(int i) { return "model.layers." + std::to_string(i / 7) + ".mlp.w" + std::to_string(i % 7) + ".weight"; }

lethe::io::safetensors_writer make_writer(dtype stored) {
    lethe::io::safetensors_writer w;
    for (int i = 0; i < n_tensors; ++i) w.add(tensor_name(i), {rows, cols}, params() + i * rows * cols, stored);
    return w;
}

fs::path bench_file(dtype stored) {
    return fs::temp_directory_path() /
           ("lethe-bench-" + std::to_string(::getpid()) + "-" + std::string(lethe::io::dtype_name(stored)) + ".safetensors");
}

void BM_memcpy_baseline(benchmark::State& state) {
    const float* src = params();
    float* dst = scratch();
    for (auto _ : state) {
        std::memcpy(dst, src, static_cast<std::size_t>(bytes_per_pass));
        benchmark::DoNotOptimize(dst);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * bytes_per_pass);
}

// The file-system floor for a write: the same bytes through open/write/close
// into a fresh file (no header, no conversion, no rename).
void BM_posix_write_baseline(benchmark::State& state) {
    const fs::path p = bench_file(dtype::u8);
    const char* src = reinterpret_cast<const char*>(params());
    for (auto _ : state) {
        const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::int64_t done = 0;
        while (fd >= 0 && done < bytes_per_pass) {
            const auto k = ::write(fd, src + done, static_cast<std::size_t>(bytes_per_pass - done));
            if (k <= 0) break;
            done += k;
        }
        if (fd < 0 || done != bytes_per_pass) state.SkipWithError("write failed");
        if (fd >= 0) ::close(fd);
    }
    state.SetBytesProcessed(state.iterations() * bytes_per_pass);
    fs::remove(p);
}

void BM_safetensors_write(benchmark::State& state, dtype stored) {
    const auto w = make_writer(stored);
    const fs::path p = bench_file(stored);
    for (auto _ : state) w.write(p);  // temporary + rename, as every checkpoint
    state.SetBytesProcessed(state.iterations() * bytes_per_pass);
    state.counters["file_MiB"] = static_cast<double>(fs::file_size(p)) / (1 << 20);
    fs::remove(p);
}

void BM_safetensors_read(benchmark::State& state, dtype stored) {
    const fs::path p = bench_file(stored);
    make_writer(stored).write(p);
    float* dst = scratch();
    for (auto _ : state) {
        const lethe::io::safetensors_file f(p);  // map + validate header
        for (int i = 0; i < n_tensors; ++i) f.load_into(tensor_name(i), {rows, cols}, dst + i * rows * cols);
        benchmark::DoNotOptimize(dst);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * bytes_per_pass);
    fs::remove(p);
}

}  // namespace

BENCHMARK(BM_memcpy_baseline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_posix_write_baseline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_write, f32, dtype::f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_write, bf16, dtype::bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_write, f16, dtype::f16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_read, f32, dtype::f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_read, bf16, dtype::bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_safetensors_read, f16, dtype::f16)->Unit(benchmark::kMillisecond)->UseRealTime();
