// tests/fuzz/fuzz_safetensors.hpp - safetensors reader (lethe/io/safetensors.hpp)
// from an in-memory image: the header is validated, every tensor's bytes lie
// in the data section and tile it, float tensors load, and a file the writer
// makes from what was read reads back the same.
#pragma once

#include <lethe/io/safetensors.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

inline int fuzz_safetensors(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::io;
    return reject_cleanly([&] {
        const safetensors_file f = safetensors_file::from_bytes(std::string(as_text(data, size)), "<fuzz>");
        LETHE_FUZZ_CHECK(f.file_size() == size && 8 + f.header_size() <= size, "sizes");
        const std::uint64_t data_size = size - 8 - f.header_size();
        std::uint64_t expected = 0;
        for (const auto& t : f.tensors()) {
            LETHE_FUZZ_CHECK(t.begin == expected && t.end >= t.begin && t.end <= data_size, t.name);
            expected = t.end;
            LETHE_FUZZ_CHECK(f.contains(t.name) && &f.tensor(t.name) == &t, t.name);
            LETHE_FUZZ_CHECK(t.numel() >= 0 &&
                                 static_cast<std::uint64_t>(t.numel()) * dtype_size(t.type) == t.byte_size(),
                             t.name);
            const auto b = f.bytes(t);
            LETHE_FUZZ_CHECK(b.size() == t.byte_size(), t.name);
        }
        LETHE_FUZZ_CHECK(expected == data_size, "tensors tile the data section");

        // Round trip through the writer (float tensors as stored, others raw).
        safetensors_writer w;
        w.set_order(tensor_order::given);
        std::vector<std::vector<float>> keep;
        for (const auto& t : f.tensors()) {
            if (is_float_storage(t.type) && t.numel() <= (1 << 16)) {
                keep.push_back(f.load(t.name));
                w.add(t.name, t.shape, keep.back().data(), t.type);
            } else {
                w.add_raw(t.name, t.type, t.shape, f.bytes(t));
            }
        }
        for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
        std::string image;
        try {
            image = w.serialize();
        } catch (const lethe::error& e) {
            // The one thing the writer may refuse that the reader accepted:
            // names that are not valid UTF-8 (JSON strings must be).
            LETHE_FUZZ_CHECK(std::string(e.what()).find("UTF-8") != std::string::npos, e.what());
            return;
        }
        std::optional<safetensors_file> g;
        must_succeed("re-reading the writer's image", [&] { g.emplace(safetensors_file::from_bytes(image, "<fuzz round trip>")); });
        LETHE_FUZZ_CHECK(g->size() == f.size() && g->metadata() == f.metadata(), "round trip");
        for (const auto& t : f.tensors()) {
            const auto& u = g->tensor(t.name);
            LETHE_FUZZ_CHECK(u.type == t.type && u.shape == t.shape, t.name);
            // Tensors copied raw come back byte for byte (float ones go through
            // float, where F16/BF16 NaN payloads are allowed to change).
            if (!is_float_storage(t.type) || t.numel() > (1 << 16)) {
                const auto a = f.bytes(t), c = g->bytes(u);
                LETHE_FUZZ_CHECK(std::equal(a.begin(), a.end(), c.begin(), c.end()), t.name);
            }
        }
    });
}

}  // namespace lethe_fuzz
