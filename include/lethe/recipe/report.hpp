// lethe/recipe/report.hpp - what the demo prints and writes: the Table 1
// text table, metrics.json, a Markdown report and two SVG plots (training
// curves, one panel per stage; PII count and utility versus guidance scale). Every file goes through
// io::write_file_atomic: complete or absent.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "../io/atomic_file.hpp"
#include "experiment.hpp"

namespace lethe::recipe {

inline std::string format_table(const experiment_result& r) {
    std::ostringstream os;
    os << "\n" << std::string(80, '-') << "\n";
    char line[256];
    // Every column right-aligned under its header, the name column as wide as the longest name.
    int name_w = 7;
    for (const auto& v : r.variants) name_w = std::max(name_w, static_cast<int>(v.name.size()));
    std::snprintf(line, sizeof line, "%-*s %16s %10s %13s %11s\n", name_w, "variant", "attack success", "PII count",
                  "utility acc.", "perplexity");
    os << line;
    for (const auto& v : r.variants) {
        char attack[48];
        std::snprintf(attack, sizeof attack, "%.1f%% (%lld/%lld)", 100.0 * v.attack_success_rate,
                      static_cast<long long>(v.attack_hits), static_cast<long long>(v.attack_attempts));
        std::snprintf(line, sizeof line, "%-*s %16s %10lld %12.1f%% %11.4g\n", name_w, v.name.c_str(), attack,
                      static_cast<long long>(v.pii_count), 100.0 * v.utility_accuracy, v.perplexity);
        os << line;
    }
    os << std::string(80, '-') << "\n";
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
    os << "\n## Plots\n\n![training curves](training_curves.svg)\n\n![PII and utility versus guidance](leakage_vs_guidance.svg)\n"
       << "\n## Configuration\n\n```json\n" << r.config.to_json().dump(2) << "\n```\n";
    return os.str();
}

namespace detail {

struct svg_series {
    std::string label, color;
    std::vector<double> x, y;
    bool faint = false;   // drawn thin and light (raw values under a smoothed line)
    bool dashed = false;  // a reference level
};

struct svg_panel {
    std::string title, xlabel, ylabel;
    std::vector<svg_series> series;
    bool log_y = false;
    // Fixed ends of a linear y axis (NaN: from the data). Counts and
    // percentages start at 0, so a flat line at 0 is not drawn mid-panel.
    double y_lo = std::nan(""), y_hi = std::nan("");
};

// Round ticks for a linear axis: multiples of 1, 2 or 5 x 10^k, about
// `target` of them; lo and hi are widened to the outer ticks.
inline std::vector<double> nice_ticks(double& lo, double& hi, int target = 5) {
    if (!(hi > lo)) {
        const double d = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
        if (lo != 0) lo -= d;  // all zeros: [0, 1], not [-1, 1]
        hi += d;
    }
    const double raw = (hi - lo) / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    lo = std::floor(lo / step + 1e-9) * step;
    hi = std::ceil(hi / step - 1e-9) * step;
    std::vector<double> t;
    for (double v = lo; v <= hi + 0.5 * step; v += step) t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
    return t;
}

// Round ticks for a log axis: 1, 2, 5 x 10^k (only 1 x 10^k when that gives
// more than 8, every 1..9 x 10^k when it gives fewer than 4); lo and hi are
// widened to the outer ticks. Values > 0.
inline std::vector<double> log_ticks(double& lo, double& hi) {
    lo = std::max(lo, 1e-12);
    hi = std::max(hi, lo);
    auto ticks_from = [&](std::initializer_list<double> mantissas) {
        std::vector<double> all;
        for (int k = static_cast<int>(std::floor(std::log10(lo))) - 1; k <= static_cast<int>(std::ceil(std::log10(hi))) + 1; ++k)
            for (double m : mantissas) all.push_back(m * std::pow(10.0, k));
        double a = all.front(), b = all.back();
        for (double v : all) if (v <= lo * (1 + 1e-9)) a = v;
        for (auto it = all.rbegin(); it != all.rend(); ++it) if (*it >= hi * (1 - 1e-9)) b = *it;
        if (!(b > a)) b = a * 2;
        std::vector<double> t;
        for (double v : all) if (v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9)) t.push_back(v);
        return t;
    };
    auto t = ticks_from({1.0, 2.0, 5.0});
    if (t.size() < 4) t = ticks_from({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0});
    if (t.size() > 8) {
        std::vector<double> decades;
        for (double v : t) if (std::abs(std::log10(v) - std::round(std::log10(v))) < 1e-9) decades.push_back(v);
        if (decades.size() >= 2) t = decades;
    }
    lo = t.front();
    hi = t.back();
    return t;
}

// Exponential moving average, y'_k = a y_k + (1 - a) y'_{k-1}, started at
// the mean of the first 1/a values so the curve does not begin at one outlier.
inline std::vector<double> smoothed(const std::vector<double>& y, double a) {
    std::vector<double> out(y.size());
    if (y.empty()) return out;
    const std::size_t warm = std::min(y.size(), static_cast<std::size_t>(std::ceil(1 / a)));
    double m = 0;
    for (std::size_t k = 0; k < warm; ++k) m += y[k];
    m /= static_cast<double>(warm);
    for (std::size_t k = 0; k < y.size(); ++k) out[k] = m = a * y[k] + (1 - a) * m;
    return out;
}

// One panel at (ox, oy) of size w x h: axes with round ticks, a legend inside.
inline void svg_draw_panel(std::ostringstream& os, const svg_panel& p, double ox, double oy, double w, double h) {
    const double L = 64, R = 14, T = 30, B = 44;
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const auto& s : p.series)
        for (std::size_t i = 0; i < s.x.size(); ++i) {
            if (p.log_y && !(s.y[i] > 0)) continue;
            x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
            y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = p.log_y ? 1 : 0, y1 = p.log_y ? 10 : 1;
    if (!p.log_y && !std::isnan(p.y_lo)) y0 = std::min(y0, p.y_lo);
    if (!p.log_y && !std::isnan(p.y_hi)) y1 = std::max(y1, p.y_hi);
    const auto xt = nice_ticks(x0, x1);
    const auto yt = p.log_y ? log_ticks(y0, y1) : nice_ticks(y0, y1);
    auto ty = [&](double y) { return p.log_y ? std::log10(std::max(y, 1e-12)) : y; };
    const double ty0 = ty(y0), ty1 = ty(y1);
    auto px = [&](double x) { return ox + L + (x - x0) / (x1 - x0) * (w - L - R); };
    auto py = [&](double y) { return oy + T + (1 - (ty(y) - ty0) / (ty1 - ty0)) * (h - T - B); };
    const double bx = ox + L, ex = ox + w - R, by = oy + h - B, ey = oy + T;
    os << "<text x=\"" << ox + w / 2 << "\" y=\"" << oy + 18 << "\" text-anchor=\"middle\" font-size=\"14\">" << p.title
       << "</text>\n";
    for (double v : xt)
        os << "<line x1=\"" << fmt("%.1f", px(v)) << "\" y1=\"" << ey << "\" x2=\"" << fmt("%.1f", px(v)) << "\" y2=\"" << by
           << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << fmt("%.1f", px(v)) << "\" y=\"" << by + 15
           << "\" text-anchor=\"middle\">" << fmt("%g", v) << "</text>\n";
    for (double v : yt)
        os << "<line x1=\"" << bx << "\" y1=\"" << fmt("%.1f", py(v)) << "\" x2=\"" << ex << "\" y2=\"" << fmt("%.1f", py(v))
           << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << bx - 5 << "\" y=\"" << fmt("%.1f", py(v) + 4)
           << "\" text-anchor=\"end\">" << fmt("%g", v) << "</text>\n";
    os << "<rect x=\"" << bx << "\" y=\"" << ey << "\" width=\"" << ex - bx << "\" height=\"" << by - ey
       << "\" fill=\"none\" stroke=\"black\"/>\n"
       << "<text x=\"" << (bx + ex) / 2 << "\" y=\"" << oy + h - 10 << "\" text-anchor=\"middle\">" << p.xlabel << "</text>\n"
       << "<text x=\"" << ox + 14 << "\" y=\"" << (ey + by) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 "
       << ox + 14 << " " << (ey + by) / 2 << ")\">" << p.ylabel << "</text>\n";
    std::size_t legend = 0;
    for (const auto& se : p.series) {
        os << "<polyline fill=\"none\" stroke=\"" << se.color << "\" stroke-width=\"" << (se.faint ? "1" : "2") << "\""
           << (se.faint ? " stroke-opacity=\"0.3\"" : "") << (se.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
        for (std::size_t i = 0; i < se.x.size(); ++i)
            if (!p.log_y || se.y[i] > 0) os << fmt("%.1f", px(se.x[i])) << "," << fmt("%.1f", py(se.y[i])) << " ";
        os << "\"/>\n";
        if (!se.faint && !se.dashed && se.x.size() <= 12)
            for (std::size_t i = 0; i < se.x.size(); ++i)
                os << "<circle cx=\"" << fmt("%.1f", px(se.x[i])) << "\" cy=\"" << fmt("%.1f", py(se.y[i]))
                   << "\" r=\"3\" fill=\"" << se.color << "\"/>\n";
        if (se.label.empty()) continue;
        const double ly = ey + 14 + 16.0 * double(legend++);
        os << "<line x1=\"" << ex - 170 << "\" y1=\"" << ly << "\" x2=\"" << ex - 150 << "\" y2=\"" << ly << "\" stroke=\""
           << se.color << "\" stroke-width=\"2\"" << (se.dashed ? " stroke-dasharray=\"6 4\"" : "")
           << (se.faint ? " stroke-opacity=\"0.3\"" : "") << "/>\n<text x=\"" << ex - 145 << "\" y=\"" << ly + 4
           << "\" font-size=\"11\">" << se.label << "</text>\n";
    }
}

// Panels in a grid of `cols` columns, each w x h.
inline std::string svg_panels(const std::vector<svg_panel>& panels, int cols, double w = 480, double h = 320) {
    const int rows = static_cast<int>((panels.size() + static_cast<std::size_t>(cols) - 1) / static_cast<std::size_t>(cols));
    const double W = w * std::min<double>(cols, static_cast<double>(std::max<std::size_t>(panels.size(), 1))), H = h * std::max(rows, 1);
    std::ostringstream os;
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " "
       << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (std::size_t i = 0; i < panels.size(); ++i)
        svg_draw_panel(os, panels[i], w * static_cast<double>(i % static_cast<std::size_t>(cols)),
                       h * static_cast<double>(i / static_cast<std::size_t>(cols)), w, h);
    os << "</svg>\n";
    return os.str();
}

inline const char* palette(std::size_t i) {
    static const char* c[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
    return c[i % 6];
}

}  // namespace detail

// One panel per training stage: the loss of every optimizer step (light)
// and its moving average over about a tenth of the stage (solid), log scale
// with round ticks.
inline std::string training_curves_svg(const experiment_result& r) {
    std::vector<detail::svg_panel> panels;
    for (std::size_t i = 0; i < r.curves.size(); ++i) {
        const auto& l = r.curves[i].loss;
        detail::svg_panel p{r.curves[i].stage, "optimizer step", "loss (log scale)", {}, true};
        detail::svg_series raw{"per step", detail::palette(i), {}, l, true, false};
        for (std::size_t k = 0; k < l.size(); ++k) raw.x.push_back(static_cast<double>(k + 1));
        const std::size_t span = l.size() / 10;
        if (span < 2) {  // under 20 steps an average hides more than it shows: the steps alone, solid
            raw.faint = false;
            p.series = {std::move(raw)};
        } else {
            detail::svg_series avg{"moving average (" + std::to_string(span) + " steps)", detail::palette(i), raw.x,
                                   detail::smoothed(l, 2.0 / (static_cast<double>(span) + 1)), false, false};
            p.series = {std::move(raw), std::move(avg)};
        }
        panels.push_back(std::move(p));
    }
    return detail::svg_panels(panels, 2);
}

// What guidance changes: the PII count of the attack answers and the utility
// accuracy against the guidance scale g (g = 1: the model under its POS
// sentence alone), one line per (model, space), the leaky model dashed.
inline std::string leakage_vs_guidance_svg(const experiment_result& r) {
    std::vector<detail::svg_series> pii, util;
    for (const auto& v : r.variants) {
        if (v.guidance_scale < 0) continue;
        const std::string label = v.base_model + " " + v.space;
        auto it = std::find_if(pii.begin(), pii.end(), [&](const detail::svg_series& x) { return x.label == label; });
        if (it == pii.end()) {
            pii.push_back({label, detail::palette(pii.size()), {}, {}});
            util.push_back({label, detail::palette(util.size()), {}, {}});
            it = pii.end() - 1;
            if (const auto* plain = r.find(v.base_model)) {
                pii.back().x.push_back(1.0), pii.back().y.push_back(static_cast<double>(plain->pii_count));
                util.back().x.push_back(1.0), util.back().y.push_back(100 * plain->utility_accuracy);
            }
        }
        auto& u = util[static_cast<std::size_t>(it - pii.begin())];
        if (v.guidance_scale == 1.0 && !it->x.empty() && it->x.front() == 1.0) {  // measured at g = 1: replace
            it->y.front() = static_cast<double>(v.pii_count);
            u.y.front() = 100 * v.utility_accuracy;
            continue;
        }
        it->x.push_back(v.guidance_scale), it->y.push_back(static_cast<double>(v.pii_count));
        u.x.push_back(v.guidance_scale), u.y.push_back(100 * v.utility_accuracy);
    }
    auto sort_by_x = [](detail::svg_series& se) {
        std::vector<std::size_t> idx(se.x.size());
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return se.x[a] < se.x[b]; });
        std::vector<double> x, y;
        for (auto i : idx) x.push_back(se.x[i]), y.push_back(se.y[i]);
        se.x = std::move(x), se.y = std::move(y);
    };
    double g_max = 1;
    for (auto& se : pii) sort_by_x(se), g_max = std::max(g_max, se.x.empty() ? 1.0 : se.x.back());
    for (auto& se : util) sort_by_x(se);
    if (const auto* leaky = r.find("leaky")) {
        pii.push_back({"leaky", "#7f7f7f", {1.0, g_max}, {double(leaky->pii_count), double(leaky->pii_count)}, false, true});
        util.push_back({"leaky", "#7f7f7f", {1.0, g_max}, {100 * leaky->utility_accuracy, 100 * leaky->utility_accuracy}, false, true});
    }
    return detail::svg_panels({{"PII in the attack answers", "guidance scale g", "PII count", std::move(pii), false, 0.0},
                               {"Utility", "guidance scale g", "utility accuracy (%)", std::move(util), false, 0.0, 100.0}},
                              2);
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
