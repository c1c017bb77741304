#include "cli/pool_demo.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "poolnet/error.hpp"

namespace poolnet::cli {
namespace {

// A panel is a title and lines of text, printed side by side with others.
struct Panel {
  std::string title;
  std::vector<std::string> lines;
};

std::string format_value(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(v));
  std::string s = buf;  // trim trailing zeros: 2.2500 -> 2.25, 3.0000 -> 3
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

// rows x cols values as right-aligned columns.
std::vector<std::string> matrix_lines(const float* values, std::int64_t rows, std::int64_t cols) {
  std::vector<std::string> cells;
  std::size_t width = 1;
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    cells.push_back(format_value(values[i]));
    width = std::max(width, cells.back().size());
  }
  std::vector<std::string> lines;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::string line;
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::string& cell = cells[static_cast<std::size_t>(r * cols + c)];
      line += std::string(c ? 2 : 0, ' ') + std::string(width - cell.size(), ' ') + cell;
    }
    lines.push_back(line);
  }
  return lines;
}

std::string side_by_side(const std::vector<Panel>& panels) {
  std::vector<std::size_t> widths;
  std::size_t height = 0;
  for (const Panel& p : panels) {
    std::size_t w = p.title.size();
    for (const std::string& l : p.lines) w = std::max(w, l.size());
    widths.push_back(w + 4);
    height = std::max(height, p.lines.size());
  }
  std::ostringstream out;
  auto row = [&](auto&& text_of) {
    std::string line;
    for (std::size_t i = 0; i < panels.size(); ++i) {
      const std::string text = text_of(panels[i]);
      line += text + std::string(i + 1 < panels.size() ? widths[i] - text.size() : 0, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  row([](const Panel& p) { return p.title; });
  row([](const Panel& p) { return std::string(p.title.size(), '-'); });
  for (std::size_t r = 0; r < height; ++r) {
    row([&](const Panel& p) { return r < p.lines.size() ? p.lines[r] : std::string(); });
  }
  return out.str();
}

}  // namespace

Tensor default_feature_map() {
  const float values[] = {1, 3, 2, 4,   //
                          5, 6, 1, 2,   //
                          7, 2, 9, 0,   //
                          3, 8, 4, 1};
  return Tensor(Shape{4, 4}, values);
}

IntOrTuple parse_int_or_tuple(const std::string& text, std::string_view argument) {
  std::vector<std::int64_t> values;
  if (!text.empty() && text.back() == ',') {
    throw ArgumentError(std::string(argument) + " must be an int or a comma-separated list of ints, got '" +
                        text + "'");
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || item.find_first_not_of(" ", used) != std::string::npos) {
      throw ArgumentError(std::string(argument) + " must be an int or a comma-separated list of ints, got '" +
                          text + "'");
    }
    values.push_back(v);
  }
  if (values.empty()) throw ArgumentError(std::string(argument) + " is empty");
  if (values.size() == 1 && text.find(',') == std::string::npos) return IntOrTuple(values[0]);
  return IntOrTuple(std::move(values));
}

std::string render_pool_demo(const Tensor& matrix, const IntOrTuple& pool_size,
                             const std::optional<IntOrTuple>& strides, const std::string& padding) {
  if (matrix.rank() != 2) throw ShapeError("pool demo: the feature map must be a matrix");
  const std::int64_t rows = matrix.dim(0);
  const std::int64_t cols = matrix.dim(1);
  // One image, one channel, channels_last: (1, rows, cols, 1).
  const Tensor input = matrix.reshaped(Shape{1, rows, cols, 1});

  const MaxPooling2D max_pool(pool_size, strides, padding);
  const AveragePooling2D avg_pool(pool_size, strides, padding);
  const GlobalMaxPooling2D global_max;
  const GlobalAveragePooling2D global_avg;
  const PoolPlan plan = max_pool.plan(input.shape());

  std::ostringstream out;
  out << "Input feature map: " << rows << "x" << cols << " (one image, one channel)\n";
  for (const std::string& line : matrix_lines(matrix.data(), rows, cols)) out << "  " << line << '\n';

  const PoolSpec& spec = max_pool.spec();
  out << "\npool_size " << dims_to_string(spec.window) << ", strides " << dims_to_string(spec.strides)
      << ", padding '" << to_string(spec.padding) << "'\n";
  for (int i = 0; i < 2; ++i) {
    const AxisGeometry& g = plan.axes[1 + i];
    out << "  " << spatial_axis_name(2, i) << ": ";
    if (spec.padding == Padding::kValid) {
      out << "out = floor((" << g.in << " - " << g.window << ") / " << g.stride << ") + 1 = " << g.out;
      const std::int64_t ignored = (g.in - g.window) % g.stride;
      if (ignored) out << "; the last " << ignored << " ignored";
    } else {
      out << "out = ceil(" << g.in << " / " << g.stride << ") = " << g.out << "; padding "
          << g.pad_before << " before, " << g.pad_after << " after";
    }
    out << '\n';
  }
  out << "  Max pooling ignores padding cells (never 0); average pooling divides by the real cells only.\n\n";

  const Tensor max_out = max_pool.forward(input);
  const Tensor avg_out = avg_pool.forward(input);
  const Tensor gmax_out = global_max.forward(input);
  const Tensor gavg_out = global_avg.forward(input);
  const std::int64_t out_rows = max_out.dim(1);
  const std::int64_t out_cols = max_out.dim(2);
  const std::vector<Panel> panels = {
      {"MaxPooling2D", matrix_lines(max_out.data(), out_rows, out_cols)},
      {"AveragePooling2D", matrix_lines(avg_out.data(), out_rows, out_cols)},
      {"GlobalMaxPooling2D", matrix_lines(gmax_out.data(), 1, 1)},
      {"GlobalAveragePooling2D", matrix_lines(gavg_out.data(), 1, 1)},
  };
  out << side_by_side(panels);
  return out.str();
}

}  // namespace poolnet::cli
