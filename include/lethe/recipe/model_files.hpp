// lethe/recipe/model_files.hpp - the model and adapter files lethe-unlearn
// and chat read and write, without the rest of the recipe:
//   load_model     a GGUF file (Llama family: llama.cpp's names and
//                  tokenizer) or a Hugging Face directory (config.json,
//                  model.safetensors, tokenizer.json)
//   save_adapter   LoRA adapters in Hugging Face PEFT's layout
//   load_adapter   a PEFT directory or a llama.cpp LoRA GGUF file
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../eval/tokenizer.hpp"
#include "../io/gguf_llama_model.hpp"
#include "../io/gguf_llama_writer.hpp"
#include "../io/hf_llama.hpp"
#include "../io/peft.hpp"
#include "../model/checkpoint.hpp"

namespace lethe::recipe {

// A BPE tokenizer as an eval::text_tokenizer for chat data: the template's
// control tokens ("<|im_start|>", "<|im_end|>") written in the text are
// parsed as such, and decoded back to their text.
class chat_tokenizer {
public:
    explicit chat_tokenizer(const io::bpe_tokenizer& t) : t_(&t) {}
    index_t vocab_size() const { return static_cast<index_t>(t_->size()); }
    std::vector<token_id> encode(std::string_view text) const { return t_->encode(text, {.parse_special = true}); }
    std::string decode(std::span<const token_id> ids) const { return t_->decode(ids, true); }
    token_id eos() const { return t_->eos(); }

private:
    const io::bpe_tokenizer* t_;
};
static_assert(eval::text_tokenizer<chat_tokenizer>);

struct loaded_model {
    std::unique_ptr<model::llama<float>> model;
    io::bpe_tokenizer tokenizer;
    io::chat_template chat;
    std::string chat_template_text;  // the template's Jinja text as the source stored it (may be empty)
    // What an exported model stores: the source's text, else the canonical
    // Jinja of its format.
    std::string chat_template_to_store() const {
        return chat_template_text.empty() ? io::chat_template_jinja(chat.format()) : chat_template_text;
    }
    std::filesystem::path source;
    chat_tokenizer tok() const { return chat_tokenizer(tokenizer); }
};

// Loads `path` for training and decoding with `slots` KV caches of max_seq
// tokens (threads: the model's OpenMP policy): a GGUF file, or a Hugging Face
// directory holding config.json, model.safetensors (or its sharded index)
// and tokenizer.json.
inline loaded_model load_model(const std::filesystem::path& path, index_t max_seq, index_t slots, int threads) {
    constexpr const char* where = "lethe::recipe::load_model";
    require(!path.empty(), where, "no model given");
    require(std::filesystem::exists(path), where, "model '", path.string(), "' does not exist");
    io::gguf_llama_options lo;
    lo.max_seq = max_seq;
    lo.slots = slots;
    lo.policy = par.with_threads(threads);
    auto g = std::filesystem::is_directory(path) ? io::load_hf_llama(path, lo) : io::load_gguf_llama(path, lo);
    loaded_model out{std::make_unique<model::llama<float>>(std::move(g.model)), std::move(g.tokenizer), g.chat,
                     std::move(g.chat_template_text), path};
    require(static_cast<index_t>(out.tokenizer.size()) == out.model->vocab_size(), where, path.string(),
            ": tokenizer has ", out.tokenizer.size(), " tokens, the model ", out.model->vocab_size());
    return out;
}

inline void save_adapter(const model::llama<float>& m, const std::filesystem::path& dir, const std::string& base_name) {
    require(m.lora() != nullptr, "lethe::recipe::save_adapter", "the model has no LoRA adapters");
    const auto& lc = m.lora()->config();
    io::lora_adapter_config c;
    c.r = lc.rank;
    c.lora_alpha = lc.alpha;
    c.lora_dropout = lc.dropout;
    c.target_modules = lc.targets;
    c.base_model_name_or_path = base_name;
    io::safetensors_writer w;
    model::detail::add_block(w, m.lora()->params, "", io::dtype::f32);
    io::write_peft_adapter(dir, c, w);
}

// Enables LoRA on `m` with the adapter's config and loads its matrices.
inline void load_adapter(model::llama<float>& m, const std::filesystem::path& dir) {
    constexpr const char* where = "lethe::recipe::load_adapter";
    if (std::filesystem::is_regular_file(dir) && dir.extension() == ".gguf") {
        io::load_gguf_lora(dir, m);  // a llama.cpp LoRA file (export's gguf-lora)
        return;
    }
    auto a = io::read_peft_adapter(dir);
    require(a.config.target_modules_regex.empty(), where, dir.string(),
            ": target_modules as a regular expression is not supported; list the modules");
    model::lora_config lc;
    lc.rank = a.config.r;
    lc.alpha = a.config.lora_alpha;
    lc.dropout = a.config.lora_dropout;
    lc.targets = a.config.target_modules;
    m.enable_lora(lc, 0);
    model::detail::load_block(a.weights, m.lora()->params, "");
}

}  // namespace lethe::recipe
