// lethe/recipe/cfg_orpo.hpp - stage 3: CFG-aware ORPO fine-tuning with LoRA
// (arXiv 2412.06846 section 3.3; ORPO: Hong et al. 2024).
//
// Every preference pair {prompt, chosen, rejected} (from pairs.hpp, already
// doubled under the POS / NEG system sentences) becomes two rows, prompt +
// chosen and prompt + rejected, trained with lethe::loss's ORPO:
//   loss = NLL(chosen completion) - beta * mean log_sigmoid(log-odds ratio)
// through the reference model's backward into LoRA adapters on all linear
// layers, then global grad-norm clipping, AdamW and the cosine schedule with a
// floor. Defaults are the paper's: beta 0.1, LoRA r 16 / alpha 32 / dropout
// 0.01, lr 1e-4, 3 epochs, batch 2 pairs, floor 10%, clip 1.0. Small models
// learn faster with a larger lr (the demo passes its own).
// A row longer than the model's context loses tokens from the start of its
// prompt; the completion is always kept whole.
// Checkpoints (orpo_checkpointing): every N optimizer steps the adapters,
// AdamW's moments and step, and the loss curve so far go to one directory,
// replaced as a whole; a resumed run continues from the step it holds and
// ends bit-identical to an uninterrupted one (the batch order is a function
// of (seed, epoch), the dropout masks of the step counter). A checkpoint
// records a fingerprint of the pairs and the options; resuming with other
// ones is refused.
// Retain set (optional): documents the model must keep answering as before
// (e.g. its own answers to open requests, recipe::self_replay_examples). Each
// step adds retain_batch of them, taken in turn from one seeded cycle, as an
// NLL term on their text, as the retain losses of gradient difference and
// NPO-RT do (Maini et al. 2024, TOFU; Zhang et al. 2024, NPO):
//   loss = ORPO(pairs) + retain_weight * NLL(retain rows)
// Both gradients go into the same LoRA step (two forward/backward passes,
// one clip and one AdamW update).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../eval/tokenizer.hpp"
#include "../loss/preference.hpp"
#include "../model/checkpoint.hpp"
#include "../model/llama.hpp"
#include "../model/optim.hpp"
#include "../parallel/communicator.hpp"
#include "../privacy/pair_builder.hpp"
#include "lm_training.hpp"
#include "progress.hpp"

namespace lethe::recipe {

struct cfg_orpo_options {
    double beta = 0.1;                        // ORPO's lambda
    model::lora_config lora{16, 32.0, 0.01};  // all linear layers
    double lr = 1e-4;
    double min_lr_ratio = 0.1;
    double warmup_fraction = 0.0;
    index_t epochs = 3;
    index_t batch = 2;  // pairs per optimizer step
    double max_grad_norm = 1.0;
    loss::nll_scope nll = loss::nll_scope::completion;
    std::uint64_t seed = 1;
    std::string stage = "orpo";
    std::vector<lm_example> retain;  // retain set (empty: ORPO alone)
    double retain_weight = 1.0;      // its NLL's weight
    index_t retain_batch = 2;        // retain documents per step
    // Data parallel (parallel/communicator.hpp): each rank takes its share of
    // every step's pairs (and retain rows), the adapter gradients are summed
    // in one buffer, and rank 0 reports progress and writes checkpoints.
    // Not part of the checkpoint's fingerprint: a run may resume on another
    // number of ranks. nullptr: this process alone.
    parallel::communicator* comm = nullptr;

    void validate() const {
        constexpr const char* where = "cfg_orpo_options";
        require(beta > 0, where, "beta must be positive, got ", beta);
        require(lr > 0, where, "lr must be positive, got ", lr);
        require(epochs > 0 && batch > 0, where, "epochs and batch must be positive");
        require(retain_weight >= 0 && std::isfinite(retain_weight), where,
                "retain_weight must be finite and >= 0, got ", retain_weight);
        require(retain_batch > 0, where, "retain_batch must be positive, got ", retain_batch);
        lora.validate();
    }
    bool uses_retain() const { return !retain.empty() && retain_weight > 0; }
};

struct orpo_checkpointing {
    std::filesystem::path dir;  // empty: no checkpoints
    std::int64_t every = 0;     // optimizer steps between checkpoints (0: only the last step)
    bool resume = false;        // continue from the checkpoint in dir (it must exist)
    // Called after each optimizer step (after its checkpoint, if any): lets a
    // caller stop a run at a given step, as a kill would.
    std::function<void(std::int64_t step)> after_step;
};

struct tokenized_pair {
    std::vector<token_id> prompt, chosen, rejected;
};

template <eval::text_tokenizer Tok>
std::vector<tokenized_pair> tokenize_pairs(const Tok& tok, std::span<const privacy::pair_sample> pairs) {
    std::vector<tokenized_pair> out;
    out.reserve(pairs.size());
    for (const auto& p : pairs) out.push_back({tok.encode(p.prompt), tok.encode(p.chosen), tok.encode(p.rejected)});
    return out;
}

// Trains LoRA adapters (enabled here when the model has none) on the pairs.
// The base weights stay frozen; merge_lora() afterwards folds the adapters in.
namespace detail {
// FNV-1a over the pairs and every option that changes the result.
inline std::string orpo_fingerprint(std::span<const privacy::pair_sample> pairs, const cfg_orpo_options& o) {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull;  // separator
    };
    for (const auto& p : pairs) {
        mix(p.prompt);
        mix(p.chosen);
        mix(p.rejected);
    }
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.17g|%lld|%.17g|%.17g|%.17g|%.17g|%.17g|%lld|%lld|%.17g|%d|%llu", o.beta,
                  static_cast<long long>(o.lora.rank), o.lora.alpha, o.lora.dropout, o.lr, o.min_lr_ratio,
                  o.warmup_fraction, static_cast<long long>(o.epochs), static_cast<long long>(o.batch),
                  o.max_grad_norm, static_cast<int>(o.nll), static_cast<unsigned long long>(o.seed));
    mix(buf);
    for (const auto& t : o.lora.targets) mix(t);
    if (o.uses_retain()) {
        std::snprintf(buf, sizeof buf, "retain|%.17g|%lld", o.retain_weight, static_cast<long long>(o.retain_batch));
        mix(buf);
        for (const auto& r : o.retain) {
            mix(r.context);
            mix(r.text);
        }
    }
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}
}  // namespace detail

template <class T, eval::text_tokenizer Tok>
training_curve train_cfg_orpo(model::llama<T>& m, const Tok& tok, std::span<const privacy::pair_sample> pairs,
                              const cfg_orpo_options& opt, const progress_fn& progress = {},
                              const orpo_checkpointing& ckpt = {}) {
    constexpr const char* where = "lethe::recipe::train_cfg_orpo";
    opt.validate();
    require(!pairs.empty(), where, "no preference pairs");
    require(ckpt.every >= 0, where, "checkpoint interval must be >= 0, got ", ckpt.every);
    require(!ckpt.resume || !ckpt.dir.empty(), where, "resume needs a checkpoint directory");
    if (!m.lora()) m.enable_lora(opt.lora, opt.seed);
    const auto tp = tokenize_pairs(tok, pairs);
    const index_t max_seq = m.config().max_seq;
    for (std::size_t i = 0; i < tp.size(); ++i) {
        const auto& p = tp[i];
        require(!p.chosen.empty() && !p.rejected.empty(), where, "pair ", i, ": empty completion");
        require(static_cast<index_t>(std::max(p.chosen.size(), p.rejected.size())) + 1 < max_seq, where, "pair ", i,
                ": completion longer than the context (", max_seq, " tokens)");
    }
    // Retain documents: context (read, not trained) + text + EOS, as lm_training reads them.
    std::vector<std::vector<token_id>> retain_docs;
    std::vector<std::size_t> retain_first;  // first position whose next token is trained
    if (opt.uses_retain()) {
        for (std::size_t i = 0; i < opt.retain.size(); ++i) {
            auto ids = tok.encode(opt.retain[i].context);
            retain_first.push_back(ids.empty() ? 0 : ids.size() - 1);
            const auto text = tok.encode(opt.retain[i].text);
            require(!text.empty(), where, "retain document ", i, " has no text to train on");
            ids.insert(ids.end(), text.begin(), text.end());
            ids.push_back(tok.eos());
            require(static_cast<index_t>(ids.size()) <= max_seq, where, "retain document ", i, " has ", ids.size(),
                    " tokens, more than the context (", max_seq, ")");
            retain_docs.push_back(std::move(ids));
        }
    }
    const auto retain_cycle = shuffled_indices(retain_docs.size(), opt.seed, 0x2e7a0000u);
    const index_t R = std::min<index_t>(opt.retain_batch, static_cast<index_t>(retain_docs.size()));
    std::vector<token_id> r_tokens, r_targets;
    std::vector<std::uint8_t> r_mask;
    // Adds retain_weight * NLL(this step's retain rows) to the gradients;
    // returns the NLL and the tokens it counted.
    struct retain_step {
        double nll = 0;
        index_t tokens = 0;
    };
    parallel::communicator& comm = opt.comm ? *opt.comm : parallel::this_process();
    const std::uint64_t rank_salt = std::uint64_t(comm.rank()) << 40;  // each rank its own dropout masks
    // This rank's retain rows of each step: r_first .. r_first + Rl - 1 of R.
    const auto [r_first, r_last] = parallel::shard(R, comm.rank(), comm.size());
    const index_t Rl = r_last - r_first;
    auto retain_pass = [&](std::int64_t step) -> retain_step {
        if (R == 0) return {};
        auto doc = [&](index_t i) -> std::size_t {
            return retain_cycle[static_cast<std::size_t>((step * R + r_first + i) %
                                                         static_cast<std::int64_t>(retain_docs.size()))];
        };
        index_t len = 2;
        for (index_t i = 0; i < Rl; ++i) len = std::max(len, static_cast<index_t>(retain_docs[doc(i)].size()));
        r_tokens.assign(static_cast<std::size_t>(Rl * len), tok.eos());
        r_targets.assign(r_tokens.size(), tok.eos());
        r_mask.assign(r_tokens.size(), std::uint8_t(0));
        for (index_t i = 0; i < Rl; ++i) {
            const std::size_t d = doc(i);
            const auto& ids = retain_docs[d];
            for (std::size_t k = 0; k + 1 < ids.size(); ++k) {
                const std::size_t at = static_cast<std::size_t>(i * len) + k;
                r_tokens[at] = ids[k];
                r_targets[at] = ids[k + 1];
                r_mask[at] = k >= retain_first[d];
            }
            r_tokens[static_cast<std::size_t>(i * len) + ids.size() - 1] = ids.back();
        }
        index_t counted = 0;
        for (auto k : r_mask) counted += k != 0;
        // The retain NLL is a mean over the global step's retain tokens.
        double share = 1.0, total = double(counted);
        if (comm.size() > 1) {
            comm.allreduce_sum(std::span<double>(&total, 1));
            share = double(counted) / total;
        }
        if (Rl == 0) return {0.0, index_t(total)};
        // Dropout masks of their own stream, so the pairs' masks are unchanged.
        m.set_dropout_step(std::uint64_t(step) + (opt.seed << 32) + (std::uint64_t(1) << 63) + rank_salt);
        auto logits = m.forward(r_tokens, Rl, len);
        const view2<const T> lg(logits.data(), Rl * len, m.config().vocab);
        const auto nr = loss::nll(m.policy(), lg, make_view(static_cast<const token_id*>(r_targets.data()), Rl * len),
                                  make_view(static_cast<const std::uint8_t*>(r_mask.data()), Rl * len), logits);
        const T w = static_cast<T>(opt.retain_weight * share);
        T* g = logits.data();
        model::kernels::for_rows(m.policy(), logits.size(), 1, [=](index_t i) { g[i] *= w; });
        m.backward(view2<const T>(logits.data(), Rl * len, m.config().vocab));
        return {double(nr.loss) * share, index_t(total)};
    };

    const index_t P = std::min<index_t>(opt.batch, static_cast<index_t>(tp.size()));
    require(P >= comm.size(), where, "a batch of ", P, " pairs cannot be shared by ", comm.size(),
            " ranks (each needs at least one pair)");
    // This rank's pairs of each step: p_first .. p_first + Pl - 1 of P.
    const auto [p_first, p_last] = parallel::shard(P, comm.rank(), comm.size());
    const index_t Pl = p_last - p_first;
    const index_t rows = 2 * Pl, V = m.config().vocab;
    const index_t steps_per_epoch = (static_cast<index_t>(tp.size()) + P - 1) / P;
    model::cosine_schedule sched;
    sched.peak = opt.lr;
    sched.total_steps = steps_per_epoch * opt.epochs;
    sched.warmup_steps = static_cast<std::int64_t>(opt.warmup_fraction * double(sched.total_steps));
    sched.min_ratio = opt.min_lr_ratio;
    sched.validate();
    auto& params = m.lora()->params;
    auto& grads = m.lora()->grads;
    model::adamw<T> adam(params.layout_ptr(), model::adamw_options{});
    loss::host_loss_workspace<T> ws;
    const auto cfg = loss::preference_config::orpo(opt.beta, opt.nll);

    std::vector<token_id> tokens, targets;
    std::vector<std::uint8_t> mask;
    index_t seq = 2;  // this batch's row length
    // Row r: prompt (cut from the left to fit) + completion, then padding.
    auto fill_row = [&](index_t r, const std::vector<token_id>& prompt, const std::vector<token_id>& completion) {
        const std::size_t keep = std::min(prompt.size(), static_cast<std::size_t>(seq) - completion.size());
        std::vector<token_id> row(prompt.end() - static_cast<std::ptrdiff_t>(keep), prompt.end());
        row.insert(row.end(), completion.begin(), completion.end());
        for (std::size_t k = 0; k < row.size(); ++k) {
            const std::size_t at = static_cast<std::size_t>(r * seq) + k;
            tokens[at] = row[k];
            if (k + 1 < row.size()) {
                targets[at] = row[k + 1];
                mask[at] = k + 1 >= keep ? loss::token_kind::completion : loss::token_kind::prompt;
            }
        }
    };

    training_curve curve;
    curve.stage = opt.stage;
    const std::string fingerprint = detail::orpo_fingerprint(pairs, opt);
    parallel::require_same(comm, fingerprint, where, "pairs or options");
    parallel::require_same_values(comm, std::span<const T>(m.params().data(), std::size_t(m.params().size())), where,
                                  "model weights");
    std::int64_t first_step = 0;
    if (ckpt.resume) {
        if constexpr (std::is_same_v<T, float>) {
            const auto file = ckpt.dir / "orpo_state.safetensors";
            require(std::filesystem::exists(file), where, "nothing to resume: '", file.string(), "' does not exist");
            io::safetensors_file f(file);
            const auto& md = f.metadata();
            auto get = [&](const char* key) {
                const auto it = md.find(key);
                require(it != md.end(), where, f.label(), ": metadata has no '", key, "'");
                return it->second;
            };
            require(get("lethe_format") == "orpo-checkpoint-1", where, f.label(), ": unknown lethe_format '",
                    get("lethe_format"), "'");
            require(get("fingerprint") == fingerprint, where, f.label(),
                    ": the checkpoint was made with other pairs or options (fingerprint ", get("fingerprint"),
                    ", this run ", fingerprint, "); start without resume or use the same inputs");
            model::detail::load_block(f, params, "adapter.");
            model::load_optimizer_state(f, adam, where);
            const nlohmann::json c = nlohmann::json::parse(get("curve"));
            c.at("loss").get_to(curve.loss);
            c.at("tokens").get_to(curve.tokens);
            first_step = adam.steps();
            require(first_step == static_cast<std::int64_t>(curve.loss.size()) && first_step <= sched.total_steps,
                    where, f.label(), ": step ", first_step, " does not match its curve (", curve.loss.size(),
                    " losses) or the run's ", sched.total_steps, " steps");
        } else {
            fail(where, "checkpoints are float32 only");
        }
    }
    auto save = [&]() {
        if constexpr (std::is_same_v<T, float>) {
            model::replace_directory(ckpt.dir, [&](const std::filesystem::path& tmp) {
                io::safetensors_writer w;
                model::detail::add_block(w, params, "adapter.", io::dtype::f32);
                model::add_optimizer_state(w, adam);
                nlohmann::json c = {{"loss", curve.loss}, {"tokens", curve.tokens}};
                w.set_metadata("curve", c.dump());
                w.set_metadata("fingerprint", fingerprint);
                w.set_metadata("stage", opt.stage);
                w.set_metadata("total_steps", std::to_string(sched.total_steps));
                w.set_metadata("lethe_format", "orpo-checkpoint-1");
                w.write(tmp / "orpo_state.safetensors");
            });
        } else {
            fail(where, "checkpoints are float32 only");
        }
    };
    stage_timer timer(opt.stage, sched.total_steps, first_step);
    m.zero_grad();
    for (index_t e = first_step / steps_per_epoch; e < opt.epochs; ++e) {
        const auto order = shuffled_indices(tp.size(), opt.seed, 0x0a90000u + std::uint64_t(e));
        for (index_t s = e == first_step / steps_per_epoch ? first_step % steps_per_epoch : 0; s < steps_per_epoch;
             ++s) {
            // Rows are as long as this batch's longest pair needs (at most the context).
            auto pair_of = [&](index_t i) -> const tokenized_pair& {
                return tp[order[static_cast<std::size_t>((s * P + p_first + i) % index_t(tp.size()))]];
            };
            seq = 2;
            for (index_t i = 0; i < Pl; ++i) {
                const auto& p = pair_of(i);
                seq = std::max(seq, std::min<index_t>(max_seq, static_cast<index_t>(p.prompt.size() +
                                                                                    std::max(p.chosen.size(), p.rejected.size()))));
            }
            const index_t N = rows * seq;
            tokens.assign(static_cast<std::size_t>(N), tok.eos());
            targets.assign(tokens.size(), tok.eos());
            mask.assign(tokens.size(), std::uint8_t(0));
            ws.resize(N, rows);
            for (index_t i = 0; i < Pl; ++i) {
                const auto& p = pair_of(i);
                fill_row(i, p.prompt, p.chosen);         // rows 0..Pl-1: chosen
                fill_row(Pl + i, p.prompt, p.rejected);  // rows Pl..2Pl-1: rejected
            }
            // Shared by ranks: ORPO's means over the global step's P pairs and
            // its chosen tokens (the NLL's scope, as preference_loss counts them).
            auto step_cfg = cfg;
            if (comm.size() > 1) {
                double nll_tokens = 0;
                for (index_t k = 0; k < Pl * seq; ++k)
                    nll_tokens += opt.nll == loss::nll_scope::completion
                                      ? mask[static_cast<std::size_t>(k)] == loss::token_kind::completion
                                      : mask[static_cast<std::size_t>(k)] != 0;
                comm.allreduce_sum(std::span<double>(&nll_tokens, 1));
                step_cfg.global_pairs = double(P);
                step_cfg.global_nll_tokens = nll_tokens;
            }
            const std::int64_t step = adam.steps();
            m.set_dropout_step(std::uint64_t(step) + (opt.seed << 32) + rank_salt);
            auto logits = m.forward(tokens, rows, seq);
            const view3<const T> l3(logits.data(), rows, seq, V);
            const auto batch = loss::make_token_batch(l3, make_view(static_cast<const token_id*>(targets.data()), rows, seq),
                                                      make_view(static_cast<const std::uint8_t*>(mask.data()), rows, seq));
            const auto res = loss::preference_loss(m.policy(), batch, ws.view(), logits, step_cfg);
            m.backward(view2<const T>(logits.data(), N, V));
            const retain_step rs = retain_pass(step);
            double step_loss = res.loss + opt.retain_weight * rs.nll;
            index_t counted = 0;
            for (auto k : mask) counted += k != 0;
            if (comm.size() > 1) {
                // One buffer of all the adapters' gradients; the step's loss and tokens beside it.
                comm.allreduce_sum(std::span<T>(grads.data(), static_cast<std::size_t>(grads.size())));
                double sums[2] = {step_loss, double(counted)};
                comm.allreduce_sum(std::span<double>(sums));
                step_loss = sums[0];
                counted = static_cast<index_t>(sums[1]);
            }
            counted += rs.tokens;
            const double lr = sched.at(step);
            model::clip_grad_norm(m.policy(), grads, opt.max_grad_norm);
            adam.update(m.policy(), params, grads, lr);
            m.zero_grad();
            curve.loss.push_back(step_loss);
            curve.tokens += counted;
            if (progress && comm.is_root()) progress(timer.event(adam.steps(), step_loss, lr, counted));
            const std::int64_t done = adam.steps();
            if (!ckpt.dir.empty() && comm.is_root() &&
                ((ckpt.every > 0 && done % ckpt.every == 0) || done == sched.total_steps))
                save();
            if (ckpt.after_step) ckpt.after_step(done);
        }
    }
    curve.seconds = timer.event(0, 0, 0, 0).elapsed_seconds;
    return curve;
}

}  // namespace lethe::recipe
