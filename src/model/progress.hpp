// Keras-style training progress: "Epoch 3/10" then
// "187/375 ━━━━━━━━━━────────── 6s 31ms/step - accuracy: 0.8912 - loss: 0.3011", updated in place
// on a terminal; on a pipe or file, one plain line per epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace poolnet {

using Metrics = std::vector<std::pair<std::string, double>>;

class ProgressBar {
 public:
  // interactive: redraw one line in place (a terminal). Otherwise only finish() prints.
  ProgressBar(std::ostream& out, std::string title, std::int64_t total_steps, bool interactive);

  // After step `step` (1-based) with the running metrics. Redraws at most ~10 times a second.
  void update(std::int64_t step, const Metrics& metrics);
  // The final line: total time, time per step, metrics (training and validation).
  void finish(const Metrics& metrics);

  double elapsed_seconds() const;

 private:
  std::string line(std::int64_t step, const Metrics& metrics, bool done) const;

  std::ostream& out_;
  std::string title_;
  std::int64_t total_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::size_t last_width_ = 0;
};

// "12s", "1m05s", "1h02m".
std::string format_duration(double seconds);
// Whether stdout is a terminal.
bool stdout_is_terminal();

}  // namespace poolnet
