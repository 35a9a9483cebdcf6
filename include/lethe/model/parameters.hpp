// lethe/model/parameters.hpp - named tensors living in one allocation.
//
// A parameter_layout lists every tensor of a model (Hugging Face Llama names,
// row-major [rows, cols] shapes, offsets into one flat block). The same
// layout describes the parameters, their gradients and the optimizer moments,
// each a named_tensors<T> (one std::vector<T> plus the shared layout), as
// llm.c does with its single parameter/gradient/state blocks.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"
#include "config.hpp"

namespace lethe::model {

struct tensor_info {
    std::string name;
    index_t offset = 0;  // elements from the start of the block
    index_t rows = 0;    // a vector (norm weight) has rows = 1
    index_t cols = 0;
    bool is_vector = false;
    index_t size() const noexcept { return rows * cols; }
};

class parameter_layout {
public:
    // Appends a tensor; returns its index.
    index_t add(std::string name, index_t rows, index_t cols, bool is_vector = false) {
        require(!index_.count(name), "parameter_layout", "duplicate tensor name '", name, "'");
        // Offsets rounded up to 16 elements (64 bytes for float) so every
        // tensor starts on a cache line when the block does.
        const index_t off = (total_ + 15) / 16 * 16;
        tensors_.push_back(tensor_info{std::move(name), off, rows, cols, is_vector});
        index_.emplace(tensors_.back().name, index_t(tensors_.size()) - 1);
        total_ = off + rows * cols;
        return index_t(tensors_.size()) - 1;
    }
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
    index_t total_size() const noexcept { return total_; }
    bool contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }
    index_t index_of(std::string_view name) const {
        auto it = index_.find(std::string(name));
        if (it == index_.end()) fail("parameter_layout", "no tensor named '", name, "'");
        return it->second;
    }
    const tensor_info& operator[](index_t i) const { return tensors_[static_cast<std::size_t>(i)]; }
    const tensor_info& find(std::string_view name) const { return (*this)[index_of(name)]; }
    bool same_as(const parameter_layout& o) const {
        if (tensors_.size() != o.tensors_.size()) return false;
        for (std::size_t i = 0; i < tensors_.size(); ++i)
            if (tensors_[i].name != o.tensors_[i].name || tensors_[i].rows != o.tensors_[i].rows ||
                tensors_[i].cols != o.tensors_[i].cols)
                return false;
        return true;
    }

private:
    std::vector<tensor_info> tensors_;
    std::unordered_map<std::string, index_t> index_;
    index_t total_ = 0;
};

// Indices of one decoder layer's tensors in the layout.
struct layer_tensors {
    index_t input_norm, q, k, v, o, post_norm, gate, up, down;
};

// The Llama layout: model.embed_tokens.weight, per layer
// model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj}.weight, model.norm.weight
// and lm_head.weight (absent when tied: the head reads the embedding).
struct llama_layout {
    parameter_layout layout;
    index_t embed = -1, final_norm = -1, lm_head = -1;  // lm_head == embed when tied
    std::vector<layer_tensors> layers;

    explicit llama_layout(const llama_config& c) {
        c.validate();
        embed = layout.add("model.embed_tokens.weight", c.vocab, c.d_model);
        for (index_t l = 0; l < c.n_layers; ++l) {
            const std::string p = "model.layers." + std::to_string(l) + ".";
            layer_tensors t{};
            t.input_norm = layout.add(p + "input_layernorm.weight", 1, c.d_model, true);
            t.q = layout.add(p + "self_attn.q_proj.weight", c.q_dim(), c.d_model);
            t.k = layout.add(p + "self_attn.k_proj.weight", c.kv_dim(), c.d_model);
            t.v = layout.add(p + "self_attn.v_proj.weight", c.kv_dim(), c.d_model);
            t.o = layout.add(p + "self_attn.o_proj.weight", c.d_model, c.q_dim());
            t.post_norm = layout.add(p + "post_attention_layernorm.weight", 1, c.d_model, true);
            t.gate = layout.add(p + "mlp.gate_proj.weight", c.d_ff, c.d_model);
            t.up = layout.add(p + "mlp.up_proj.weight", c.d_ff, c.d_model);
            t.down = layout.add(p + "mlp.down_proj.weight", c.d_model, c.d_ff);
            layers.push_back(t);
        }
        final_norm = layout.add("model.norm.weight", 1, c.d_model, true);
        lm_head = c.tied_embeddings ? embed : layout.add("lm_head.weight", c.vocab, c.d_model);
    }
};

// A block of values shaped by a layout: parameters, gradients, moments.
template <class T>
class named_tensors {
public:
    named_tensors() = default;
    explicit named_tensors(std::shared_ptr<const parameter_layout> layout)
        : layout_(std::move(layout)), data_(static_cast<std::size_t>(layout_->total_size()), T(0)) {}

    const parameter_layout& layout() const noexcept { return *layout_; }
    std::shared_ptr<const parameter_layout> layout_ptr() const noexcept { return layout_; }
    T* data() noexcept { return data_.data(); }
    const T* data() const noexcept { return data_.data(); }
    index_t size() const noexcept { return index_t(data_.size()); }
    std::vector<T>& storage() noexcept { return data_; }
    const std::vector<T>& storage() const noexcept { return data_; }

    T* ptr(index_t tensor) noexcept { return data_.data() + (*layout_)[tensor].offset; }
    const T* ptr(index_t tensor) const noexcept { return data_.data() + (*layout_)[tensor].offset; }
    view2<T> view(index_t tensor) noexcept {
        const auto& t = (*layout_)[tensor];
        return view2<T>(ptr(tensor), t.rows, t.cols);
    }
    view2<const T> view(index_t tensor) const noexcept {
        const auto& t = (*layout_)[tensor];
        return view2<const T>(ptr(tensor), t.rows, t.cols);
    }
    view2<T> operator[](std::string_view name) { return view(layout_->index_of(name)); }
    view2<const T> operator[](std::string_view name) const { return view(layout_->index_of(name)); }

    void fill(T value) { std::fill(data_.begin(), data_.end(), value); }

private:
    std::shared_ptr<const parameter_layout> layout_;
    std::vector<T> data_;
};

}  // namespace lethe::model
