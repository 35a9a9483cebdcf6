// lethe/recipe/progress.hpp - what a training stage reports after each
// optimizer step, and a timer that turns steps into tokens/s and an ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "../core/config.hpp"

namespace lethe::recipe {

struct progress_event {
    std::string stage;     // "base", "leaky", "orpo", ...
    std::int64_t step = 0;  // optimizer steps done
    std::int64_t total_steps = 0;
    double loss = 0.0;
    double lr = 0.0;
    double tokens_per_second = 0.0;
    double elapsed_seconds = 0.0;
    double eta_seconds = 0.0;
};

using progress_fn = std::function<void(const progress_event&)>;

// Wall-clock bookkeeping for one stage.
class stage_timer {
public:
    // first_step: the step a resumed run starts from (its ETA counts only the
    // steps this run has done).
    explicit stage_timer(std::string stage, std::int64_t total_steps, std::int64_t first_step = 0)
        : stage_(std::move(stage)), total_(total_steps), first_(first_step), start_(std::chrono::steady_clock::now()) {}

    progress_event event(std::int64_t step, double loss, double lr, index_t tokens_this_step) {
        tokens_ += tokens_this_step;
        progress_event e;
        e.stage = stage_;
        e.step = step;
        e.total_steps = total_;
        e.loss = loss;
        e.lr = lr;
        e.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        e.tokens_per_second = e.elapsed_seconds > 0 ? double(tokens_) / e.elapsed_seconds : 0.0;
        e.eta_seconds = step > first_ ? e.elapsed_seconds * double(total_ - step) / double(step - first_) : 0.0;
        return e;
    }

private:
    std::string stage_;
    std::int64_t total_, first_;
    std::chrono::steady_clock::time_point start_;
    double tokens_ = 0;
};

}  // namespace lethe::recipe
