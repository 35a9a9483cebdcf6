// lethe/model/quantized_linear.hpp - linear layers on block-quantised
// weights the model does not parse: y[n, out] (=|+=) x[n, in] W[out, in]^T
// with W kept in its file's blocks (e.g. ggml Q4_1, Q8_0) and x, y in float.
//
// Why: a decode step (n = 1, or 2 with CFG) reads every weight once for two
// FLOPs per weight, so its time is the weight bytes over the memory
// bandwidth. SmolLM2-135M's Q4_1 layers hold 0.625 bytes per weight and its
// Q8_0 head 1.0625, against 4 in fp32 and 2 in bf16.
//
// The model sees only the `quantized_format` kernel table and the block
// pointer of each matrix; the reader of a file format fills them (for GGUF:
// io::gguf_llama_quantized_weights in io/gguf_llama_model.hpp). So the model
// layer holds no file-format code, and a new format is a new table.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "layers.hpp"

namespace lethe::model {

// The kernels of one block format. A matrix row of `cols` elements is
// cols / block_elements blocks of block_bytes bytes.
struct quantized_format {
    const char* name = "";
    index_t block_elements = 0;
    index_t block_bytes = 0;
    // Floats of per-input data the dot products want per block of x (0: none).
    // Example: Q4_1 stores w = d q + m, and sum_j w_j x_j = d sum_j q_j x_j +
    // m sum_j x_j, so it wants the block sums of x, computed once per input.
    index_t aux_per_block = 0;
    // aux[cols / block_elements * aux_per_block] for one input row x[cols].
    void (*prepare_input)(const float* x, index_t cols, float* aux) noexcept = nullptr;
    // For rows j in [j0, j1) of W (row j at w + j * row_bytes) and inputs
    // r < n (x + r * cols, aux + r * aux_stride):
    //   y[r * y_stride + j] (=|+=) sum_c W[j, c] x[r, c].
    // n is at most kernels::small_batch_rows. Each y element is one thread's
    // sum in a fixed order (results do not depend on the thread count).
    void (*dot_rows)(const unsigned char* w, index_t row_bytes, index_t cols, const float* x, const float* aux,
                     index_t aux_stride, index_t n, index_t j0, index_t j1, float* y, index_t y_stride,
                     bool accumulate) noexcept = nullptr;
    // One row to float (the embedding lookup).
    void (*dequantize_row)(const unsigned char* row, float* out, index_t cols) noexcept = nullptr;
};

// One weight matrix W[rows, cols] in a block format, rows back to back.
struct quantized_matrix {
    const quantized_format* format = nullptr;  // nullptr: no quantised copy of this tensor
    const unsigned char* blocks = nullptr;
    index_t rows = 0, cols = 0, row_bytes = 0;

    explicit operator bool() const noexcept { return format != nullptr; }
    const unsigned char* row(index_t j) const noexcept { return blocks + j * row_bytes; }
};

// What a reader hands the model: one entry per tensor of the model's
// parameter layout (same order; vectors and tensors without a quantised
// copy have no format), and the owner of the block bytes.
struct quantized_weights {
    std::vector<quantized_matrix> matrices;
    std::shared_ptr<const void> owner;
    std::size_t bytes = 0;  // block bytes held (resident memory on top of the fp32 parameters)
};

namespace kernels {

// One output of a fused quantised linear: y[n, out] (=|+=) x W^T.
struct quantized_output {
    const quantized_matrix* w = nullptr;  // nullptr: skipped
    float* y = nullptr;                   // [n, w->rows], row stride w->rows
    bool accumulate = false;
};

// Weight rows per task: 32 rows of 576-1536 Q4_1 weights are 11-30 KB, enough
// to amortise the scheduling and small enough to balance two threads.
inline constexpr index_t quantized_gemv_block = 32;

// outputs[i].y (=|+=) x[n, in] W_i^T for every output, n <= small_batch_rows,
// in one parallel region over blocks of weight rows (several outputs that
// share x, like q|k|v and gate|up, cost one barrier). `workspace` grows to
// the formats' per-input data (block sums of x).
template <execution_policy P, std::size_t K>
void quantized_gemv(const P& pol, const float* x, index_t n, index_t in,
                    const std::array<quantized_output, K>& outputs, std::vector<float>& workspace) {
    constexpr const char* where = "lethe::model::kernels::quantized_gemv";
    static_assert(runs_on_host_v<P>, "quantized_gemv: host policies only");
    require(n >= 1 && n <= small_batch_rows, where, "n must be in [1, ", small_batch_rows, "], got ", n);
    // Per-input data, computed once per distinct format among the outputs.
    std::array<const float*, K> aux{};
    std::array<index_t, K> aux_stride{}, aux_at{};
    std::array<bool, K> computes{};
    index_t need = 0;
    for (std::size_t i = 0; i < K; ++i) {
        const quantized_matrix* w = outputs[i].w;
        if (w == nullptr) continue;
        require(w->format != nullptr && w->cols == in, where, "output ", i, ": matrix has ", w->cols,
                " columns, input has ", in);
        aux_stride[i] = w->cols / w->format->block_elements * w->format->aux_per_block;
        aux_at[i] = -1;
        for (std::size_t p = 0; p < i && aux_at[i] < 0; ++p)
            if (outputs[p].w != nullptr && outputs[p].w->format == w->format) aux_at[i] = aux_at[p];
        if (aux_at[i] < 0) {
            aux_at[i] = need;
            need += n * aux_stride[i];
            computes[i] = true;
        }
    }
    if (index_t(workspace.size()) < need) workspace.resize(std::size_t(need));
    for (std::size_t i = 0; i < K; ++i) {
        if (outputs[i].w == nullptr) continue;
        float* a = workspace.data() + aux_at[i];
        aux[i] = a;
        if (computes[i] && aux_stride[i] > 0)
            for (index_t r = 0; r < n; ++r) outputs[i].w->format->prepare_input(x + r * in, in, a + r * aux_stride[i]);
    }
    std::array<index_t, K + 1> first{};  // first task of each output
    for (std::size_t i = 0; i < K; ++i) {
        const index_t rows = outputs[i].w ? outputs[i].w->rows : 0;
        first[i + 1] = first[i] + (rows + quantized_gemv_block - 1) / quantized_gemv_block;
    }
    const auto outs = outputs;
    for_rows(pol, first[K], quantized_gemv_block * n * in, [=](index_t b) {
        std::size_t i = 0;
        while (b >= first[i + 1]) ++i;
        const quantized_matrix& w = *outs[i].w;
        const index_t j0 = (b - first[i]) * quantized_gemv_block;
        const index_t j1 = j0 + quantized_gemv_block < w.rows ? j0 + quantized_gemv_block : w.rows;
        w.format->dot_rows(w.blocks, w.row_bytes, w.cols, x, aux[i], aux_stride[i], n, j0, j1, outs[i].y, w.rows,
                           outs[i].accumulate);
    });
}

}  // namespace kernels
}  // namespace lethe::model
