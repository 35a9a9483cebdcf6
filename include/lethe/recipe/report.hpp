// lethe/recipe/report.hpp - what the demo prints and writes: the Table 1
// text table, metrics.json, a Markdown report and two SVG plots (training
// curves; leakage versus guidance scale). Every file goes through
// io::write_file_atomic: complete or absent.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "../io/atomic_file.hpp"
#include "experiment.hpp"

namespace lethe::recipe {

inline std::string format_table(const experiment_result& r) {
    std::ostringstream os;
    os << "\n" << std::string(78, '-') << "\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-22s %16s %10s %16s %10s\n", "variant", "attack success", "PII count",
                  "utility acc.", "perplexity");
    os << line;
    for (const auto& v : r.variants) {
        std::snprintf(line, sizeof line, "%-22s %8.1f%% %3lld/%-3lld %10lld %15.1f%% %10.3f\n", v.name.c_str(),
                      100.0 * v.attack_success_rate, static_cast<long long>(v.attack_hits),
                      static_cast<long long>(v.attack_attempts), static_cast<long long>(v.pii_count),
                      100.0 * v.utility_accuracy, v.perplexity);
        os << line;
    }
    os << std::string(78, '-') << "\n";
    os << "attack: " << r.test_dialogs << " held-out dialogs, every placeholder; " << r.train_pairs
       << " training pairs (POS + NEG); total " << detail::fmt("%.1f", r.seconds) << " s\n";
    return os.str();
}

// The Markdown report: the table, per-type rates, stage times, config.
inline std::string markdown_report(const experiment_result& r) {
    std::ostringstream os;
    os << "# lethe unlearning demo\n\n"
       << "Seed " << r.config.seed << ", model " << r.config.model.num_parameters() << " parameters, "
       << r.test_dialogs << " attacked (held-out) dialogs, " << r.train_pairs << " ORPO pairs, "
       << detail::fmt("%.1f", r.seconds) << " s in total.\n\n"
       << "| variant | attack success | hits / attempts | PII count | utility accuracy | perplexity |\n"
       << "|---|---:|---:|---:|---:|---:|\n";
    for (const auto& v : r.variants)
        os << "| " << v.name << " | " << detail::fmt("%.1f%%", 100 * v.attack_success_rate) << " | " << v.attack_hits
           << " / " << v.attack_attempts << " | " << v.pii_count << " | "
           << detail::fmt("%.1f%%", 100 * v.utility_accuracy) << " | " << detail::fmt("%.3f", v.perplexity) << " |\n";
    os << "\n## Attack success per PII type\n\n| variant |";
    std::vector<std::string> types;
    for (const auto& v : r.variants)
        for (const auto& [k, x] : v.per_type)
            if (std::find(types.begin(), types.end(), k) == types.end()) types.push_back(k);
    for (const auto& t : types) os << " " << t << " |";
    os << "\n|---|";
    for (std::size_t i = 0; i < types.size(); ++i) os << "---:|";
    os << "\n";
    for (const auto& v : r.variants) {
        os << "| " << v.name << " |";
        for (const auto& t : types) {
            auto it = v.per_type.find(t);
            os << " " << (it == v.per_type.end() ? std::string("-") : detail::fmt("%.1f%%", 100 * it->second)) << " |";
        }
        os << "\n";
    }
    os << "\n## Time per stage (s)\n\n| stage | seconds |\n|---|---:|\n";
    for (const auto& [k, s] : r.stage_seconds) os << "| " << k << " | " << detail::fmt("%.2f", s) << " |\n";
    os << "\n## Plots\n\n![training curves](training_curves.svg)\n\n![leakage versus guidance](leakage_vs_guidance.svg)\n"
       << "\n## Configuration\n\n```json\n" << r.config.to_json().dump(2) << "\n```\n";
    return os.str();
}

namespace detail {

struct svg_series {
    std::string label, color;
    std::vector<double> x, y;
};

// A line plot with axes, ticks at the data range and a legend.
inline std::string svg_plot(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                            const std::vector<svg_series>& series, bool log_y = false) {
    const double W = 720, H = 420, L = 70, R = 180, T = 40, B = 50;
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    auto ty = [&](double y) { return log_y ? std::log10(std::max(y, 1e-6)) : y; };
    for (const auto& s : series)
        for (std::size_t i = 0; i < s.x.size(); ++i) {
            x0 = std::min(x0, s.x[i]);
            x1 = std::max(x1, s.x[i]);
            y0 = std::min(y0, ty(s.y[i]));
            y1 = std::max(y1, ty(s.y[i]));
        }
    if (!(x1 > x0)) x1 = x0 + 1;
    if (!(y1 > y0)) y1 = y0 + 1;
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
    auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    auto py = [&](double y) { return T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B); };
    std::ostringstream os;
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
       << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
       << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
       << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n"
       << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n"
       << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
    for (int k = 0; k <= 4; ++k) {
        const double xv = x0 + (x1 - x0) * k / 4, yv = y0 + (y1 - y0) * k / 4;
        const double yshow = log_y ? std::pow(10.0, yv) : yv;
        os << "<text x=\"" << px(xv) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\">" << fmt("%.3g", xv)
           << "</text>\n"
           << "<text x=\"" << L - 6 << "\" y=\"" << T + (1 - double(k) / 4) * (H - T - B) + 4
           << "\" text-anchor=\"end\">" << fmt("%.3g", yshow) << "</text>\n";
    }
    os << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">" << xlabel << "</text>\n"
       << "<text x=\"16\" y=\"" << (T + H - B) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
       << (T + H - B) / 2 << ")\">" << ylabel << "</text>\n";
    for (std::size_t s = 0; s < series.size(); ++s) {
        const auto& se = series[s];
        os << "<polyline fill=\"none\" stroke=\"" << se.color << "\" stroke-width=\"1.5\" points=\"";
        for (std::size_t i = 0; i < se.x.size(); ++i) os << fmt("%.1f", px(se.x[i])) << "," << fmt("%.1f", py(se.y[i])) << " ";
        os << "\"/>\n";
        if (se.x.size() <= 12)
            for (std::size_t i = 0; i < se.x.size(); ++i)
                os << "<circle cx=\"" << fmt("%.1f", px(se.x[i])) << "\" cy=\"" << fmt("%.1f", py(se.y[i]))
                   << "\" r=\"3\" fill=\"" << se.color << "\"/>\n";
        const double ly = T + 10 + 18.0 * double(s);
        os << "<line x1=\"" << W - R + 12 << "\" y1=\"" << ly << "\" x2=\"" << W - R + 32 << "\" y2=\"" << ly
           << "\" stroke=\"" << se.color << "\" stroke-width=\"2\"/>\n"
           << "<text x=\"" << W - R + 38 << "\" y=\"" << ly + 4 << "\">" << se.label << "</text>\n";
    }
    os << "</svg>\n";
    return os.str();
}

inline const char* palette(std::size_t i) {
    static const char* c[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
    return c[i % 6];
}

}  // namespace detail

// Loss per optimizer step of every training stage (x = fraction of the stage).
inline std::string training_curves_svg(const experiment_result& r) {
    std::vector<detail::svg_series> s;
    for (std::size_t i = 0; i < r.curves.size(); ++i) {
        detail::svg_series se{r.curves[i].stage, detail::palette(i), {}, {}};
        const auto& l = r.curves[i].loss;
        for (std::size_t k = 0; k < l.size(); ++k) {
            se.x.push_back(l.size() > 1 ? double(k) / double(l.size() - 1) : 0.0);
            se.y.push_back(l[k]);
        }
        s.push_back(std::move(se));
    }
    return detail::svg_plot("Training loss per stage", "fraction of the stage's steps", "loss (log scale)", s, true);
}

// Attack success rate against the guidance scale g (g = 1: no guidance),
// one line per (model, space).
inline std::string leakage_vs_guidance_svg(const experiment_result& r) {
    std::vector<detail::svg_series> s;
    for (const auto& v : r.variants) {
        if (v.guidance_scale < 0) continue;
        const std::string label = v.base_model + " " + v.space;
        auto it = std::find_if(s.begin(), s.end(), [&](const detail::svg_series& x) { return x.label == label; });
        if (it == s.end()) {
            s.push_back({label, detail::palette(s.size()), {}, {}});
            it = s.end() - 1;
            // g = 1 without guidance: the model under its POS sentence alone.
            if (const auto* plain = r.find(v.base_model)) {
                it->x.push_back(1.0);
                it->y.push_back(100 * plain->attack_success_rate);
            }
        }
        if (v.guidance_scale == 1.0 && !it->x.empty() && it->x.back() == 1.0) {
            it->y.back() = 100 * v.attack_success_rate;
            continue;
        }
        it->x.push_back(v.guidance_scale);
        it->y.push_back(100 * v.attack_success_rate);
    }
    for (auto& se : s) {
        std::vector<std::size_t> idx(se.x.size());
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return se.x[a] < se.x[b]; });
        std::vector<double> x, y;
        for (auto i : idx) x.push_back(se.x[i]), y.push_back(se.y[i]);
        se.x = x;
        se.y = y;
    }
    if (const auto* leaky = r.find("leaky"))
        s.push_back({"leaky (no unlearning)", "#7f7f7f", {1.0, 3.0}, {100 * leaky->attack_success_rate, 100 * leaky->attack_success_rate}});
    return detail::svg_plot("Leakage versus guidance scale", "guidance scale g", "attack success rate (%)", s);
}

// Writes metrics.json, report.md, training_curves.svg and
// leakage_vs_guidance.svg under `dir` (created if needed). Returns the paths.
inline std::vector<std::string> write_outputs(const experiment_result& r, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    require(!ec, "lethe::recipe::write_outputs", "cannot create directory '", dir.string(), "': ", ec.message());
    std::vector<std::string> out;
    auto put = [&](const char* name, const std::string& text) {
        io::write_file_atomic(dir / name, text);
        out.push_back((dir / name).string());
    };
    put("metrics.json", r.metrics_json().dump(2) + "\n");
    put("report.md", markdown_report(r));
    put("training_curves.svg", training_curves_svg(r));
    put("leakage_vs_guidance.svg", leakage_vs_guidance_svg(r));
    return out;
}

}  // namespace lethe::recipe
