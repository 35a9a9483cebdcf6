// lethe/model/checkpoint.hpp - model and training checkpoints on safetensors.
//
// A pretrained model directory is what Hugging Face writes for a Llama:
//   config.json          LlamaConfig keys (to_json / config_from_json)
//   model.safetensors    Hugging Face tensor names, F32 / F16 / BF16
// so a model saved here loads in PyTorch and the other way round (tied
// embeddings: no lm_head.weight, as transformers saves them).
// A training checkpoint is a directory, replaced as a whole (written beside
// it, then renamed), holding:
//   model.safetensors    the parameters, always F32 (bit-exact resume)
//   adapters.safetensors the LoRA matrices (PEFT names) when LoRA is on
//   optimizer.safetensors AdamW moments "exp_avg.<name>", "exp_avg_sq.<name>",
//                        metadata: optimizer step, lethe_format, and the
//                        caller's own entries (data cursor, seed, ...)
// the RNG state is the step counter (dropout masks are counter-based).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/safetensors.hpp"
#include "llama.hpp"
#include "train.hpp"

namespace lethe::model {

namespace detail {
inline void add_block(io::safetensors_writer& w, const named_tensors<float>& block, const std::string& prefix,
                      io::dtype stored) {
    for (const auto& t : block.layout().tensors()) {
        const float* p = block.data() + t.offset;
        if (t.is_vector)
            w.add(prefix + t.name, {std::int64_t(t.cols)}, p, stored);
        else
            w.add(prefix + t.name, {std::int64_t(t.rows), std::int64_t(t.cols)}, p, stored);
    }
}
inline void load_block(const io::safetensors_file& f, named_tensors<float>& block, const std::string& prefix) {
    for (const auto& t : block.layout().tensors()) {
        const std::string name = prefix + t.name;
        require(f.contains(name), "lethe::model::load", f.label(), ": missing tensor '", name, "'");
        float* p = block.data() + t.offset;
        if (t.is_vector)
            f.load_into(name, {std::int64_t(t.cols)}, p);
        else
            f.load_into(name, {std::int64_t(t.rows), std::int64_t(t.cols)}, p);
    }
}
inline nlohmann::json read_json_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    require(in.good(), "lethe::model::load", "cannot open '", p.string(), "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail("lethe::model::load", p.string(), ": invalid JSON: ", e.what());
    }
}
}  // namespace detail

// Writes config.json and model.safetensors into `dir` (created if needed).
inline void save_pretrained(const llama<float>& m, const std::filesystem::path& dir,
                            io::dtype stored = io::dtype::f32) {
    std::filesystem::create_directories(dir);
    io::safetensors_writer w;
    w.set_metadata("format", "pt");
    detail::add_block(w, m.params(), "", stored);
    w.write(dir / "model.safetensors");
    io::write_file_atomic(dir / "config.json", to_json(m.config()).dump(2) + "\n");
}

// Reads a directory written by save_pretrained or by Hugging Face (single
// model.safetensors file). Errors name the file and the tensor.
inline llama<float> load_pretrained(const std::filesystem::path& dir, openmp_policy pol = par) {
    const auto cfg = config_from_json(detail::read_json_file(dir / "config.json"));
    llama<float> m(cfg, pol);
    io::safetensors_file f(dir / "model.safetensors");
    detail::load_block(f, m.params(), "");
    return m;
}

// Writes a directory as a whole: fill(tmp) writes the files into a fresh
// sibling of `dir`, which is then renamed over `dir`, so `dir` is always the
// old or the new version whole (a crash leaves at most a stray sibling).
template <class Fill>
void replace_directory(const std::filesystem::path& dir, Fill&& fill) {
    namespace fs = std::filesystem;
    const fs::path final_dir = dir.has_filename() ? dir : dir.parent_path();
    const fs::path tmp = final_dir.string() + ".partial-" + std::to_string(::getpid());
    const fs::path old = final_dir.string() + ".old-" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp);
    try {
        fill(tmp);
        const bool had_old = fs::exists(final_dir);
        if (had_old) fs::rename(final_dir, old);
        fs::rename(tmp, final_dir);
        if (had_old) fs::remove_all(old, ec);
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

// AdamW's moments as "exp_avg.<name>" / "exp_avg_sq.<name>" and its step
// counter, into a writer / back from a file.
template <class Adam>
void add_optimizer_state(io::safetensors_writer& w, const Adam& adam) {
    detail::add_block(w, adam.first_moment(), "exp_avg.", io::dtype::f32);
    detail::add_block(w, adam.second_moment(), "exp_avg_sq.", io::dtype::f32);
    w.set_metadata("step", std::to_string(adam.steps()));
}
template <class Adam>
void load_optimizer_state(const io::safetensors_file& f, Adam& adam, const char* where) {
    detail::load_block(f, adam.first_moment(), "exp_avg.");
    detail::load_block(f, adam.second_moment(), "exp_avg_sq.");
    const auto it = f.metadata().find("step");
    require(it != f.metadata().end(), where, f.label(), ": metadata has no 'step'");
    std::int64_t step = 0;
    try {
        std::size_t used = 0;
        step = std::stoll(it->second, &used);
        require(used == it->second.size() && step >= 0, where, f.label(), ": metadata 'step' is not a count: '",
                it->second, "'");
    } catch (const std::logic_error&) {
        fail(where, f.label(), ": metadata 'step' is not an integer: '", it->second, "'");
    }
    adam.set_steps(step);
}

// Training checkpoint: parameters, adapters, optimizer state, step counter
// and the caller's metadata (strings), each file atomic.
inline void save_checkpoint(trainer<float>& tr, const std::filesystem::path& dir,
                            const std::map<std::string, std::string>& user_metadata = {}) {
    replace_directory(dir, [&](const std::filesystem::path& tmp) {
        auto& m = tr.model();
        {
            io::safetensors_writer w;
            w.set_metadata("format", "pt");
            detail::add_block(w, m.params(), "", io::dtype::f32);
            w.write(tmp / "model.safetensors");
        }
        if (m.lora()) {
            io::safetensors_writer w;
            detail::add_block(w, m.lora()->params, "", io::dtype::f32);
            w.write(tmp / "adapters.safetensors");
        }
        io::safetensors_writer w;
        for (const auto& [k, v] : user_metadata) w.set_metadata(k, v);
        add_optimizer_state(w, tr.optimizer());  // after the caller's: its "step" wins
        w.set_metadata("lethe_format", "training-checkpoint-1");
        w.set_metadata("lora", m.lora() ? "1" : "0");
        w.write(tmp / "optimizer.safetensors");
    });
}

// Restores a checkpoint into a trainer built with the same config and
// options; returns the metadata (including the caller's entries).
inline std::map<std::string, std::string> load_checkpoint(trainer<float>& tr, const std::filesystem::path& dir) {
    constexpr const char* where = "lethe::model::load_checkpoint";
    io::safetensors_file opt(dir / "optimizer.safetensors");
    const auto& md = opt.metadata();
    auto get = [&](const char* key) {
        auto it = md.find(key);
        require(it != md.end(), where, opt.label(), ": metadata has no '", key, "'");
        return it->second;
    };
    require(get("lethe_format") == "training-checkpoint-1", where, opt.label(), ": unknown lethe_format '",
            get("lethe_format"), "'");
    auto& m = tr.model();
    require((get("lora") == "1") == (m.lora() != nullptr), where, opt.label(), ": checkpoint ",
            get("lora") == "1" ? "has" : "has no", " LoRA adapters but the trainer's model ",
            m.lora() ? "has" : "has not");
    detail::load_block(io::safetensors_file(dir / "model.safetensors"), m.params(), "");
    if (m.lora()) detail::load_block(io::safetensors_file(dir / "adapters.safetensors"), m.lora()->params, "");
    load_optimizer_state(opt, tr.optimizer(), where);
    m.zero_grad();
    return md;
}

}  // namespace lethe::model
