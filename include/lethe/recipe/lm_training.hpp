// lethe/recipe/lm_training.hpp - next-token training of the reference model
// on whole documents: how the demo builds its "base" (scrubbed dialogs plus
// utility material) and its "leaky" model (the same dialogs with their real
// values, as the challenge's model was fine-tuned).
//
// Each document (text + EOS) is one row starting at position 0, padded to
// the longest document of its batch; padding is masked out of the loss. An
// lm_example may carry a context the row starts with but the loss skips
// (the model reads it and is trained only on what follows).
// Documents are shuffled per epoch from the seed, then sorted by length
// within windows of 8 batches (so little compute goes to padding), so a run
// is a function of (data, options, seed, thread count).
//
// Fine-tuning with rehearsal: an optional replay set (what the model must
// keep) joins every epoch, whole or, with replay_fraction f < 1, a share f of
// it at a time taken in turn from one seeded cycle through it, so every
// replay document comes back equally often at a fraction of the cost.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/hash.hpp"
#include "../eval/tokenizer.hpp"
#include "../model/random.hpp"
#include "../model/train.hpp"
#include "../parallel/communicator.hpp"
#include "progress.hpp"

namespace lethe::recipe {

struct lm_training_options {
    index_t epochs = 1;
    index_t batch = 8;         // documents per optimizer step
    double lr = 3e-3;
    double min_lr_ratio = 0.1;  // cosine floor
    double warmup_fraction = 0.05;
    double weight_decay = 0.0;
    double max_grad_norm = 1.0;
    double replay_fraction = 1.0;  // share of the replay set each epoch sees
    std::uint64_t seed = 1;
    std::string stage = "train";
    // Data parallel (parallel/communicator.hpp): every rank reads the same
    // documents, takes its contiguous share of each step's batch, and the
    // gradients are summed, so N ranks train what one process trains with
    // the same batch. Progress is reported by rank 0. nullptr: this process.
    parallel::communicator* comm = nullptr;

    void validate() const {
        constexpr const char* where = "lm_training_options";
        require(epochs > 0, where, "epochs must be positive, got ", epochs);
        require(batch > 0, where, "batch must be positive, got ", batch);
        require(lr > 0, where, "lr must be positive, got ", lr);
        require(warmup_fraction >= 0 && warmup_fraction < 1, where, "warmup_fraction must be in [0, 1)");
        require(replay_fraction > 0 && replay_fraction <= 1, where, "replay_fraction must be in (0, 1], got ",
                replay_fraction);
    }
};

struct training_curve {
    std::string stage;
    std::vector<double> loss;  // per optimizer step
    double seconds = 0;
    index_t tokens = 0;
};

// One training row: `context` is read, not trained on; `text` is.
struct lm_example {
    std::string context;
    std::string text;
};

// A seeded permutation of [0, n).
inline std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed, std::uint64_t stream) {
    std::vector<std::size_t> idx(n);
    for (std::size_t i = 0; i < n; ++i) idx[i] = i;
    for (std::size_t i = n; i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(model::hash_counter(seed, stream, i) % i);
        std::swap(idx[i - 1], idx[j]);
    }
    return idx;
}

template <class T, eval::text_tokenizer Tok>
training_curve train_language_model(model::llama<T>& m, const Tok& tok, std::span<const lm_example> examples,
                                    const lm_training_options& opt, const progress_fn& progress = {},
                                    std::span<const lm_example> replay = {}) {
    constexpr const char* where = "lethe::recipe::train_language_model";
    opt.validate();
    require(!examples.empty(), where, "no documents");
    std::vector<std::vector<token_id>> docs;
    std::vector<std::size_t> first_target;  // first position whose next token is trained
    for (std::size_t i = 0; i < examples.size() + replay.size(); ++i) {
        const lm_example& ex = i < examples.size() ? examples[i] : replay[i - examples.size()];
        auto ids = tok.encode(ex.context);
        // The last context token predicts the first text token.
        first_target.push_back(ids.empty() ? 0 : ids.size() - 1);
        const auto text = tok.encode(ex.text);
        require(!text.empty(), where, i < examples.size() ? "document " : "replay document ",
                i < examples.size() ? i : i - examples.size(), " has no text to train on");
        ids.insert(ids.end(), text.begin(), text.end());
        ids.push_back(tok.eos());
        require(static_cast<index_t>(ids.size()) <= m.config().max_seq, where, "document ", i, " has ", ids.size(),
                " tokens, more than max_position_embeddings ", m.config().max_seq);
        docs.push_back(std::move(ids));
    }
    // Per epoch: every example, then `per_epoch` replay documents from the cycle.
    const std::size_t n_ex = examples.size(), n_rp = replay.size();
    const std::size_t per_epoch =
        std::min(n_rp, static_cast<std::size_t>(std::ceil(opt.replay_fraction * static_cast<double>(n_rp))));
    const auto cycle = shuffled_indices(n_rp, opt.seed, 0x7e9a0000u);
    auto epoch_docs = [&](index_t e) {
        std::vector<std::size_t> ids(n_ex + per_epoch);
        for (std::size_t i = 0; i < n_ex; ++i) ids[i] = i;
        for (std::size_t k = 0; k < per_epoch; ++k)
            ids[n_ex + k] = n_ex + (per_epoch == n_rp ? k : cycle[(static_cast<std::size_t>(e) * per_epoch + k) % n_rp]);
        return ids;
    };
    const std::size_t n = n_ex + per_epoch;
    const index_t B = std::min<index_t>(opt.batch, static_cast<index_t>(n));
    const index_t steps_per_epoch = (static_cast<index_t>(n) + B - 1) / B;
    model::train_options to;
    to.schedule.peak = opt.lr;
    to.schedule.total_steps = steps_per_epoch * opt.epochs;
    to.schedule.warmup_steps = static_cast<std::int64_t>(opt.warmup_fraction * double(to.schedule.total_steps));
    to.schedule.min_ratio = opt.min_lr_ratio;
    to.adam.weight_decay = opt.weight_decay;
    to.max_grad_norm = opt.max_grad_norm;
    to.comm = opt.comm;
    model::trainer<T> tr(m, to);
    parallel::communicator& comm = opt.comm ? *opt.comm : parallel::this_process();
    require(B >= comm.size(), where, "a batch of ", B, " documents cannot be shared by ", comm.size(),
            " ranks (each needs at least one)");
    if (comm.size() > 1) {
        // Every rank must read the same documents with the same options.
        char text[256];
        std::snprintf(text, sizeof text, "%lld|%lld|%.17g|%.17g|%.17g|%.17g|%.17g|%.17g|%llu",
                      static_cast<long long>(opt.epochs), static_cast<long long>(opt.batch), opt.lr, opt.min_lr_ratio,
                      opt.warmup_fraction, opt.weight_decay, opt.max_grad_norm, opt.replay_fraction,
                      static_cast<unsigned long long>(opt.seed));
        std::uint64_t h = fnv1a64(text);
        for (const auto& d : docs)
            h = fnv1a64(std::string_view(reinterpret_cast<const char*>(d.data()), d.size() * sizeof(token_id)), h);
        h = fnv1a64(std::to_string(n_rp) + "|" + std::to_string(to.schedule.total_steps), h);
        parallel::require_same(comm, std::to_string(h), where, "documents or options");
        parallel::require_same_values(comm, std::span<const T>(tr.trained_params().data(),
                                                               std::size_t(tr.trained_params().size())),
                                      where, "trained weights");
    }
    const auto [mine_first, mine_last] = parallel::shard(B, comm.rank(), comm.size());
    const index_t mine = mine_last - mine_first;

    std::vector<token_id> tokens, targets;
    std::vector<std::uint8_t> mask;
    training_curve curve;
    curve.stage = opt.stage;
    stage_timer timer(opt.stage, to.schedule.total_steps);
    for (index_t e = 0; e < opt.epochs; ++e) {
        const auto members = epoch_docs(e);
        auto order = shuffled_indices(n, opt.seed, 0x5eed0000u + std::uint64_t(e));
        for (auto& o : order) o = members[o];
        // The last batch of an epoch wraps around to stay full.
        const std::size_t slots = static_cast<std::size_t>(steps_per_epoch * B);
        for (std::size_t k = n; k < slots; ++k) order.push_back(order[k - n]);
        const std::size_t window = static_cast<std::size_t>(8 * B);
        for (std::size_t w = 0; w < order.size(); w += window)
            std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(w),
                             order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), w + window)),
                             [&](std::size_t a, std::size_t b) { return docs[a].size() < docs[b].size(); });
        for (index_t s = 0; s < steps_per_epoch; ++s) {
            // This rank's rows of the step's batch: documents mine_first..mine_last-1.
            auto doc_of = [&](index_t r) { return order[static_cast<std::size_t>(s * B + mine_first + r)]; };
            index_t len = 2;
            for (index_t r = 0; r < mine; ++r) len = std::max(len, static_cast<index_t>(docs[doc_of(r)].size()));
            tokens.assign(static_cast<std::size_t>(mine * len), tok.eos());
            targets.assign(tokens.size(), tok.eos());
            mask.assign(tokens.size(), std::uint8_t(0));
            for (index_t r = 0; r < mine; ++r) {
                const std::size_t doc = doc_of(r);
                const auto& d = docs[doc];
                for (std::size_t k = 0; k < d.size(); ++k) {
                    const std::size_t at = static_cast<std::size_t>(r * len) + k;
                    tokens[at] = d[k];
                    if (k + 1 < d.size()) {
                        targets[at] = d[k + 1];
                        mask[at] = k >= first_target[doc];
                    }
                }
            }
            // The loss is a mean over the global batch's tokens: this rank's
            // share weighs its token count over the total.
            double weight = 1.0;
            if (comm.size() > 1) {
                const double local = static_cast<double>(
                    std::count_if(mask.begin(), mask.end(), [](std::uint8_t k) { return k != 0; }));
                double total = local;
                comm.allreduce_sum(std::span<double>(&total, 1));
                weight = local / total;
            }
            tr.accumulate(tokens, targets, mask, mine, len, weight);
            const auto st = tr.step();
            curve.loss.push_back(st.loss);
            curve.tokens += st.tokens;
            if (progress && comm.is_root()) progress(timer.event(st.step, st.loss, st.lr, st.tokens));
        }
    }
    curve.seconds = timer.event(0, 0, 0, 0).elapsed_seconds;
    return curve;
}

// Whole documents, every token trained.
template <class T, eval::text_tokenizer Tok>
training_curve train_language_model(model::llama<T>& m, const Tok& tok, std::span<const std::string> documents,
                                    const lm_training_options& opt, const progress_fn& progress = {}) {
    std::vector<lm_example> ex;
    ex.reserve(documents.size());
    for (const auto& d : documents) ex.push_back({std::string(), d});
    return train_language_model(m, tok, std::span<const lm_example>(ex), opt, progress);
}

}  // namespace lethe::recipe
