// lethe/model/train.hpp - a training loop step for the reference model:
// micro-batches (gradient accumulation), token NLL from lethe::loss, global
// grad-norm clipping, the cosine schedule and AdamW. With LoRA enabled only
// the adapters are optimised.
//
//   trainer<float> tr(model, options);
//   for (...) { tr.accumulate(tokens, targets, mask, B, T); ... ; tr.step(); }
//
// Deterministic for a given seed and thread count: every reduction has a
// fixed order and dropout masks are functions of (seed, step).
#pragma once

#include <cstdint>
#include <span>

#include "../core/error.hpp"
#include "../loss/nll.hpp"
#include "../parallel/communicator.hpp"
#include "llama.hpp"
#include "optim.hpp"

namespace lethe::model {

struct train_options {
    cosine_schedule schedule{};
    adamw_options adam{};
    double max_grad_norm = 1.0;      // <= 0 disables clipping
    index_t accumulation_steps = 1;  // micro-batches per optimizer step
    // Data parallel: the trained gradients are summed over its ranks before
    // clipping (one fused buffer), so every rank takes the same step. Each
    // rank passes accumulate() its shard's weight in the global batch
    // (parallel/communicator.hpp). nullptr: this process alone.
    parallel::communicator* comm = nullptr;
};

struct step_stats {
    std::int64_t step = 0;  // optimizer steps done after this one
    double loss = 0.0;      // mean of the micro-batch losses
    double grad_norm = 0.0; // before clipping
    double lr = 0.0;
    index_t tokens = 0;     // counted target tokens in the step
};

template <class T>
class trainer {
public:
    trainer(llama<T>& model, const train_options& opt) : model_(model), opt_(opt) {
        opt.schedule.validate();
        require(opt.accumulation_steps >= 1, "trainer", "accumulation_steps must be >= 1, got ",
                opt.accumulation_steps);
        adam_ = adamw<T>(trained_params().layout_ptr(), opt.adam);
        model_.zero_grad();
    }

    // One micro-batch: forward, mean token NLL (targets already shifted,
    // mask nonzero where a token counts), backward into the gradients scaled
    // by weight / accumulation_steps. Under data parallelism weight is this
    // rank's tokens over the global batch's, so the ranks' weighted means sum
    // to the global mean. Returns the micro-batch loss (unweighted).
    double accumulate(std::span<const token_id> tokens, std::span<const token_id> targets,
                      std::span<const std::uint8_t> mask, index_t batch, index_t seq, double weight = 1.0) {
        constexpr const char* where = "trainer::accumulate";
        require(index_t(targets.size()) == batch * seq && index_t(mask.size()) == batch * seq, where,
                "targets and mask must hold batch*seq = ", batch * seq, " entries");
        require(micro_ < opt_.accumulation_steps, where, "call step() after ", opt_.accumulation_steps,
                " micro-batches");
        // Each rank draws its own masks (rank 0: as a single process does).
        model_.set_dropout_step(std::uint64_t(adam_.steps()) * std::uint64_t(opt_.accumulation_steps) +
                                std::uint64_t(micro_) + (rank_salt() << 40));
        auto logits = model_.forward(tokens, batch, seq);
        const view2<const T> lg(logits.data(), logits.extent(0), logits.extent(1));
        const auto tv = make_view(targets.data(), batch * seq);
        const auto mv = make_view(mask.data(), batch * seq);
        // Small logit blocks stay on this thread (a fork/join costs more).
        const auto res = lg.size() < kernels::parallel_min_work
                             ? loss::nll(lethe::seq, lg, tv, mv, logits)
                             : loss::nll(model_.policy(), lg, tv, mv, logits);
        require(weight >= 0 && weight <= 1, where, "weight must be in [0, 1], got ", weight);
        if (opt_.accumulation_steps > 1 || weight != 1.0) {
            const T s = T(weight / double(opt_.accumulation_steps));
            T* p = logits.data();
            kernels::for_rows(model_.policy(), logits.size(), 1, [=](index_t i) { p[i] *= s; });
        }
        model_.backward(view2<const T>(logits.data(), logits.extent(0), logits.extent(1)));
        loss_sum_ += weight * double(res.loss);
        tokens_ += res.tokens;
        ++micro_;
        return double(res.loss);
    }

    // Clips, updates with the scheduled rate, clears the gradients.
    step_stats step() {
        require(micro_ == opt_.accumulation_steps, "trainer::step", "expected ", opt_.accumulation_steps,
                " micro-batches before step(), got ", micro_);
        step_stats s;
        s.lr = opt_.schedule.at(adam_.steps());
        if (opt_.comm && opt_.comm->size() > 1) {
            auto& g = trained_grads();
            opt_.comm->allreduce_sum(std::span<T>(g.data(), static_cast<std::size_t>(g.size())));
            double totals[2] = {loss_sum_, double(tokens_)};
            opt_.comm->allreduce_sum(std::span<double>(totals));
            loss_sum_ = totals[0];
            tokens_ = static_cast<index_t>(totals[1]);
        }
        // Clipping, AdamW and zeroing the trained gradients in one pass
        // (the same arithmetic as clip_grad_norm, update, zero_grad).
        s.grad_norm = grad_norm(model_.policy(), trained_grads());
        adam_.update_and_zero(model_.policy(), trained_params(), trained_grads(), s.lr,
                              clip_coefficient<T>(s.grad_norm, opt_.max_grad_norm));
        s.step = adam_.steps();
        s.loss = loss_sum_ / double(micro_);
        s.tokens = tokens_;
        if (model_.lora()) model_.zero_grad();  // the base gradients too (set_train_base)
        micro_ = 0;
        loss_sum_ = 0.0;
        tokens_ = 0;
        return s;
    }

    std::int64_t steps_done() const noexcept { return adam_.steps(); }
    adamw<T>& optimizer() noexcept { return adam_; }
    const adamw<T>& optimizer() const noexcept { return adam_; }
    const train_options& options() const noexcept { return opt_; }
    llama<T>& model() noexcept { return model_; }

    // The blocks the optimizer owns: the adapters under LoRA, else the model.
    named_tensors<T>& trained_params() { return model_.lora() ? model_.lora()->params : model_.params(); }
    named_tensors<T>& trained_grads() { return model_.lora() ? model_.lora()->grads : model_.grads(); }

private:
    std::uint64_t rank_salt() const { return opt_.comm ? std::uint64_t(opt_.comm->rank()) : 0; }

    llama<T>& model_;
    train_options opt_;
    adamw<T> adam_;
    index_t micro_ = 0;
    double loss_sum_ = 0.0;
    index_t tokens_ = 0;
};

}  // namespace lethe::model
