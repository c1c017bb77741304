#include "model/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ostream>

namespace poolnet {
namespace {

constexpr int kBarWidth = 20;

std::string format_metrics(const Metrics& metrics) {
  std::string s;
  for (const auto& [name, value] : metrics) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " - %s: %.4f", name.c_str(), value);
    s += buf;
  }
  return s;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

ProgressBar::ProgressBar(std::ostream& out, std::string title, std::int64_t total_steps,
                         bool interactive)
    : out_(out),
      title_(std::move(title)),
      total_(total_steps),
      interactive_(interactive),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (interactive_ && !title_.empty()) out_ << title_ << '\n' << std::flush;
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string ProgressBar::line(std::int64_t step, const Metrics& metrics, bool done) const {
  const double elapsed = elapsed_seconds();
  const double per_step = step > 0 ? elapsed / static_cast<double>(step) : 0.0;
  const std::string time = done ? format_duration(elapsed)
                                : format_duration(per_step * static_cast<double>(total_ - step));
  char rate[32];
  if (per_step >= 1.0) {
    std::snprintf(rate, sizeof rate, "%.1fs/step", per_step);
  } else {
    std::snprintf(rate, sizeof rate, "%.0fms/step", per_step * 1000.0);
  }
  const std::string counter = std::to_string(step) + "/" + std::to_string(total_);
  if (!interactive_) {
    return (title_.empty() ? "" : title_ + " - ") + counter + " - " + time + " " + rate +
           format_metrics(metrics);
  }
  const int filled =
      total_ > 0 ? static_cast<int>(kBarWidth * step / total_) : kBarWidth;
  std::string bar;
  for (int i = 0; i < kBarWidth; ++i) bar += i < filled ? "\u2501" : "\u2500";
  return counter + " " + bar + " " + time + " " + rate + format_metrics(metrics);
}

void ProgressBar::update(std::int64_t step, const Metrics& metrics) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100) && step != 1) return;
  last_draw_ = now;
  const std::string text = line(step, metrics, false);
  // Pad with spaces to erase a longer previous line.
  out_ << '\r' << text;
  if (text.size() < last_width_) out_ << std::string(last_width_ - text.size(), ' ');
  last_width_ = text.size();
  out_ << std::flush;
}

void ProgressBar::finish(const Metrics& metrics) {
  const std::string text = line(total_, metrics, true);
  if (interactive_) {
    out_ << '\r' << text;
    if (text.size() < last_width_) out_ << std::string(last_width_ - text.size(), ' ');
  } else {
    out_ << text;
  }
  out_ << std::endl;
}

}  // namespace poolnet
