// lethe/io/atomic_file.hpp - outputs that are complete or absent, never partial.
//
// atomic_writer writes to "<path>.tmp-<pid>-<n>" in the same directory and
// renames it over <path> on commit() (rename is atomic on POSIX filesystems).
// If commit() is never reached (an exception, a crash), the temporary is
// removed and <path> keeps its previous contents.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include "../core/error.hpp"

namespace lethe::io {

class atomic_writer {
public:
    explicit atomic_writer(std::filesystem::path path) : path_(std::move(path)) {
        static std::atomic<unsigned> counter{0};
        tmp_ = path_;
        tmp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        out_.open(tmp_, std::ios::binary | std::ios::trunc);
        if (!out_) fail("lethe::io::atomic_writer", "cannot create '", tmp_.string(), "' (for '", path_.string(), "')");
    }
    atomic_writer(const atomic_writer&) = delete;
    atomic_writer& operator=(const atomic_writer&) = delete;
    ~atomic_writer() {
        if (!committed_) {
            out_.close();
            std::error_code ec;
            std::filesystem::remove(tmp_, ec);
        }
    }

    std::ofstream& stream() noexcept { return out_; }
    void write(std::string_view bytes) { out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); }
    const std::filesystem::path& path() const noexcept { return path_; }

    // Flushes, closes and renames the temporary over the target.
    void commit() {
        out_.flush();
        if (!out_) fail("lethe::io::atomic_writer", "write to '", tmp_.string(), "' failed (disk full?)");
        out_.close();
        std::error_code ec;
        std::filesystem::rename(tmp_, path_, ec);
        if (ec) fail("lethe::io::atomic_writer", "cannot rename '", tmp_.string(), "' to '", path_.string(), "': ", ec.message());
        committed_ = true;
    }

private:
    std::filesystem::path path_, tmp_;
    std::ofstream out_;
    bool committed_ = false;
};

// Writes `bytes` to `path` atomically.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    atomic_writer w(path);
    w.write(bytes);
    w.commit();
}

}  // namespace lethe::io
