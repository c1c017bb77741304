#include "study/report.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "io/atomic_file.hpp"
#include "io/image.hpp"
#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet::study {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kFigures = "figures";
constexpr const char* kAccuracyFigure = "figures/accuracy_vs_shift.png";
constexpr const char* kConsistencyFigure = "figures/consistency_vs_shift.png";
constexpr const char* kCurvesFigure = "figures/training_curves.png";
// Feature-map grids: every map is drawn as a square of about kTile pixels (nearest-neighbour
// upscaling by a whole factor, so single activations stay visible as blocks), kGap pixels of white
// between squares and a gray frame around each, so that white and black maps both stand out.
constexpr std::int64_t kTile = 104;
constexpr std::int64_t kGap = 6;
constexpr float kFrame = 0.55f;
constexpr std::int64_t kGridColumns = 8;

struct GridFigure {
  const char* file;
  const char* title;
};
constexpr GridFigure kGrids[] = {
    {"figures/fm_input.png", "the test image"},
    {"figures/fm_conv.png", "first convolution (after ReLU), one square per filter"},
    {"figures/fm_max.png", "MaxPooling2D(2): the largest value of each 2x2 window"},
    {"figures/fm_average.png", "AveragePooling2D(2): the mean of each 2x2 window"},
    {"figures/fm_global_max.png", "GlobalMaxPooling2D: one number per filter, its largest value"},
    {"figures/fm_global_average.png", "GlobalAveragePooling2D: one number per filter, its mean"},
};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string percent(double fraction, int digits = 1) { return fixed(100.0 * fraction, digits) + "%"; }

std::string mib(std::int64_t bytes) {
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 0) + " MiB";
}

std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n), out;
  const std::size_t len = digits.size();
  for (std::size_t i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// A small document model, rendered twice: HTML (figures embedded) and Markdown (figures linked).

struct Block {
  enum Kind { kHeading, kParagraph, kTable, kImage, kList } kind;
  std::string text;                              // heading, paragraph, image caption
  std::vector<std::vector<std::string>> rows;    // table (first row: header), list items (one column)
  std::string image;                             // relative path of a PNG
};

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// **bold** spans become <b>; everything else is escaped.
std::string html_inline(std::string_view s) {
  std::string out;
  bool bold = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.substr(i, 2) == "**") {
      out += bold ? "</b>" : "<b>";
      bold = !bold;
      ++i;
    } else {
      out += html_escape(s.substr(i, 1));
    }
  }
  if (bold) out += "</b>";
  return out;
}

std::string render_html(const std::string& title, const std::vector<Block>& blocks, const std::string& out_dir) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                  html_escape(title) + "</title>\n<style>\n"
                  "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}\n"
                  "table{border-collapse:collapse;margin:1em 0;font-size:0.92em}\n"
                  "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right}\n"
                  "th:first-child,td:first-child{text-align:left}\nth{background:#eee}\n"
                  "figure{margin:1.2em 0}img{max-width:100%;border:1px solid #ddd}\n"
                  "figcaption{font-size:0.9em;color:#555}\n</style>\n</head>\n<body>\n<h1>" +
                  html_escape(title) + "</h1>\n";
  for (const Block& b : blocks) {
    switch (b.kind) {
      case Block::kHeading: h += "<h2>" + html_inline(b.text) + "</h2>\n"; break;
      case Block::kParagraph: h += "<p>" + html_inline(b.text) + "</p>\n"; break;
      case Block::kList:
        h += "<ul>\n";
        for (const auto& item : b.rows) h += "<li>" + html_inline(item[0]) + "</li>\n";
        h += "</ul>\n";
        break;
      case Block::kTable:
        h += "<table>\n";
        for (std::size_t r = 0; r < b.rows.size(); ++r) {
          h += "<tr>";
          for (const std::string& cell : b.rows[r]) {
            h += r == 0 ? "<th>" + html_inline(cell) + "</th>" : "<td>" + html_inline(cell) + "</td>";
          }
          h += "</tr>\n";
        }
        h += "</table>\n";
        break;
      case Block::kImage: {
        const std::string png = io::read_file((fs::path(out_dir) / b.image).string(), 64u << 20);
        h += "<figure><img alt=\"" + html_escape(b.text) + "\" src=\"data:image/png;base64," + base64(png) +
             "\"><figcaption>" + html_inline(b.text) + "</figcaption></figure>\n";
        break;
      }
    }
  }
  return h + "</body>\n</html>\n";
}

std::string render_markdown(const std::string& title, const std::vector<Block>& blocks) {
  std::string m = "# " + title + "\n\n";
  for (const Block& b : blocks) {
    switch (b.kind) {
      case Block::kHeading: m += "## " + b.text + "\n\n"; break;
      case Block::kParagraph: m += b.text + "\n\n"; break;
      case Block::kList:
        for (const auto& item : b.rows) m += "- " + item[0] + "\n";
        m += "\n";
        break;
      case Block::kTable:
        for (std::size_t r = 0; r < b.rows.size(); ++r) {
          m += "|";
          for (const std::string& cell : b.rows[r]) m += " " + cell + " |";
          m += "\n";
          if (r == 0) {
            m += "|";
            for (std::size_t c = 0; c < b.rows[r].size(); ++c) m += c == 0 ? "---|" : "---:|";
            m += "\n";
          }
        }
        m += "\n";
        break;
      case Block::kImage: m += "![" + b.text + "](" + b.image + ")\n\n*" + b.text + "*\n\n"; break;
    }
  }
  return m;
}

// ------------------------------------------------------------------------------------------
// Feature-map grids

// maps (rows, cols, channels) -> one gray image: a grid of squares, one per channel, each map
// divided by scale[channel] (so a pooled map is drawn on its source map's scale).
Tensor grid_image(const Tensor& maps, const std::vector<float>& scale) {
  const std::int64_t rows = maps.dim(0), cols = maps.dim(1), channels = maps.dim(2);
  const std::int64_t factor = (kTile + std::max(rows, cols) - 1) / std::max(rows, cols);
  const std::int64_t tile_rows = rows * factor, tile_cols = cols * factor;
  const std::int64_t grid_cols = std::min(channels, kGridColumns);
  const std::int64_t grid_rows = (channels + grid_cols - 1) / grid_cols;
  const std::int64_t height = grid_rows * tile_rows + (grid_rows - 1) * kGap;
  const std::int64_t width = grid_cols * tile_cols + (grid_cols - 1) * kGap;
  Tensor image(Shape{height, width}, 1.0f);
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    const std::int64_t top = (ch / grid_cols) * (tile_rows + kGap), left = (ch % grid_cols) * (tile_cols + kGap);
    const float s = scale[static_cast<std::size_t>(ch)] > 0.0f ? scale[static_cast<std::size_t>(ch)] : 1.0f;
    for (std::int64_t y = 0; y < tile_rows; ++y) {
      for (std::int64_t x = 0; x < tile_cols; ++x) {
        const bool frame = y == 0 || x == 0 || y == tile_rows - 1 || x == tile_cols - 1;
        image[(top + y) * width + left + x] =
            frame ? kFrame : maps[((y / factor) * cols + x / factor) * channels + ch] / s;
      }
    }
  }
  return image;
}

// One scale for every channel: the largest absolute value of any of them, so that filters and
// pooling results can be compared by brightness (a global max is then not trivially white).
std::vector<float> common_scale(const Tensor& maps) {
  float largest = 0.0f;
  for (float v : maps.values()) largest = std::max(largest, std::fabs(v));
  return std::vector<float>(static_cast<std::size_t>(maps.dim(2)), largest);
}

Tensor drop_batch(const Tensor& t) {
  std::vector<std::int64_t> dims = t.shape().to_vector();
  dims.erase(dims.begin());
  return t.reshaped(Shape(dims));
}

void write_feature_maps(const FeatureMaps& maps, const std::string& out_dir) {
  const std::vector<float> conv_scale = common_scale(maps.conv);
  const Tensor* tensors[] = {&maps.image, &maps.conv, &maps.max_pooled, &maps.average_pooled,
                             &maps.global_max, &maps.global_average};
  for (std::size_t i = 0; i < std::size(kGrids); ++i) {
    const std::vector<float> scale = i == 0 ? std::vector<float>{1.0f} : conv_scale;
    io::write_gray_png((fs::path(out_dir) / kGrids[i].file).string(), grid_image(*tensors[i], scale));
  }
}

// ------------------------------------------------------------------------------------------
// Charts (gnuplot)

// Colour-blind-safe colours (Okabe-Ito), one per variant in order.
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string chart_data_files(const StudyResults& results, const std::string& data_dir) {
  std::string preamble;
  for (std::size_t i = 0; i < results.variants.size(); ++i) {
    const VariantResult& v = results.variants[i];
    std::string shift = "# shift_px accuracy same_class_fraction\n";
    for (const ShiftPoint& p : v.shifts) {
      shift += std::to_string(p.shift) + " " + fixed(p.accuracy, 6) + " " + fixed(p.consistency, 6) + "\n";
    }
    io::write_file_atomically((fs::path(data_dir) / (v.name + ".shift.dat")).string(), shift);
    std::string history = "# epoch loss accuracy val_loss val_accuracy (NaN: no validation)\n";
    for (const EpochLogs& e : v.history) {
      history += std::to_string(e.epoch) + " " + fixed(e.loss, 6) + " " + fixed(e.accuracy, 6) + " " +
                 (e.val_loss ? fixed(*e.val_loss, 6) : "NaN") + " " +
                 (e.val_accuracy ? fixed(*e.val_accuracy, 6) : "NaN") + "\n";
    }
    io::write_file_atomically((fs::path(data_dir) / (v.name + ".history.dat")).string(), history);
    preamble += "set linetype " + std::to_string(i + 1) + " lc rgb '" +
                kColours[i % std::size(kColours)] + "' lw 2 pt 7 ps 1.1\n";
  }
  return preamble;
}

// The gnuplot script; paths are relative to figures/data, where gnuplot runs.
std::string chart_script(const StudyResults& results, const std::string& preamble) {
  const std::int64_t sweep = results.variants.empty() ? 0 : results.variants.front().sweep_images;
  std::string s =
      "# Written by poolnet study; run in this directory: gnuplot figures.gp\n"
      "set terminal pngcairo size 960,600 font 'sans,11' noenhanced\n" + preamble +
      "set grid\nset xtics 1\nset xrange [-0.2:*]\nset xlabel 'shift (pixels; diagonal shifts move this far on both axes)'\n";
  auto plot_shift = [&](const char* file, const std::string& title, const char* ylabel, int column) {
    s += "set output '../." + std::string(fs::path(file).filename()) + ".tmp'\n";
    s += "set title '" + title + "'\nset ylabel '" + ylabel + "'\nset yrange [0:1.02]\nset key bottom left box opaque\n";
    s += "plot ";
    for (std::size_t i = 0; i < results.variants.size(); ++i) {
      const std::string& name = results.variants[i].name;
      s += (i ? ", \\\n     " : "") + ("'" + name + ".shift.dat' using 1:" + std::to_string(column) +
                                        " with linespoints lt " + std::to_string(i + 1) + " title '" + name + "'");
    }
    s += "\nunset output\n";
  };
  plot_shift(kAccuracyFigure,
             "Test accuracy of shifted test images (" + std::to_string(sweep) +
                 " images, mean of 8 directions, zero fill)",
             "accuracy", 2);
  plot_shift(kConsistencyFigure,
             "Predictions that keep their class when the image is shifted (" + std::to_string(sweep) + " images)",
             "fraction of images with the same predicted class", 3);

  s += "set output '../." + std::string(fs::path(kCurvesFigure).filename()) + ".tmp'\n";
  s += "set terminal pngcairo size 1200,520 font 'sans,11' noenhanced\n";
  s += "set multiplot layout 1,2 title 'Training curves (solid: training, running mean over the epoch with dropout; dashed: validation)'\n";
  s += "set xlabel 'epoch'\nset xtics 1\nset xrange [0.8:*]\nset yrange [*:*]\nset key top right box opaque\n";
  auto plot_curve = [&](const char* title, int train_col, int val_col) {
    s += std::string("set title '") + title + "'\nset ylabel '" + title + "'\nplot ";
    for (std::size_t i = 0; i < results.variants.size(); ++i) {
      const std::string& name = results.variants[i].name;
      const std::string lt = std::to_string(i + 1);
      s += (i ? ", \\\n     " : "") + ("'" + name + ".history.dat' using 1:" + std::to_string(train_col) +
                                        " with linespoints lt " + lt + " title '" + name + "', \\\n     '" +
                                        name + ".history.dat' using 1:" + std::to_string(val_col) +
                                        " with linespoints lt " + lt + " dt 2 notitle");
    }
    s += "\n";
  };
  plot_curve("loss", 2, 4);
  s += "set key bottom right box opaque\n";
  plot_curve("accuracy", 3, 5);
  s += "unset multiplot\nunset output\n";
  return s;
}

bool executable_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------
// Numbers

const ShiftPoint* at_shift(const VariantResult& v, int shift) {
  for (const ShiftPoint& p : v.shifts)
    if (p.shift == shift) return &p;
  return nullptr;
}

// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_text(const StudyResults& results) {
  const int max_shift = results.variants.empty() || results.variants.front().shifts.empty()
                            ? 0
                            : results.variants.front().shifts.back().shift;
  std::string csv =
      "variant,model_json,params,epochs,train_images,train_seconds,peak_rss_bytes,test_accuracy,test_loss,"
      "train_accuracy,train_loss,train_test_gap";
  for (int s = 0; s <= max_shift; ++s) csv += ",accuracy_shift_" + std::to_string(s);
  for (int s = 0; s <= max_shift; ++s) csv += ",same_class_shift_" + std::to_string(s);
  csv += "\n";
  for (const VariantResult& v : results.variants) {
    csv += csv_field(v.name) + "," + csv_field(v.json_path) + "," + std::to_string(v.params) + "," + std::to_string(v.epochs) + "," +
           std::to_string(v.train_images) + "," + fixed(v.train_seconds, 2) + "," +
           std::to_string(v.peak_rss_bytes) + "," + fixed(v.test_accuracy, 6) + "," + fixed(v.test_loss, 6) +
           "," + fixed(v.train_accuracy, 6) + "," + fixed(v.train_loss, 6) + "," + fixed(v.gap(), 6);
    for (int s = 0; s <= max_shift; ++s) {
      const ShiftPoint* p = at_shift(v, s);
      csv += "," + (p ? fixed(p->accuracy, 6) : std::string());
    }
    for (int s = 0; s <= max_shift; ++s) {
      const ShiftPoint* p = at_shift(v, s);
      csv += "," + (p ? fixed(p->consistency, 6) : std::string());
    }
    csv += "\n";
  }
  return csv;
}

const VariantResult* find_variant(const StudyResults& results, const std::string& name) {
  for (const VariantResult& v : results.variants)
    if (v.name == name) return &v;
  return nullptr;
}

// One standard error of an accuracy p measured on n images, in percentage points.
double standard_error_points(double p, std::int64_t n) {
  return n > 0 ? 100.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(n)) : 0.0;
}

std::string points(double difference) {
  return (difference >= 0 ? "+" : "") + fixed(100.0 * difference, 2) + " points";
}

// Two standard errors of the difference of two accuracies, each measured on n images, in points.
double noise_points(double a, double b, std::int64_t n) {
  return 2.0 * std::sqrt(std::pow(standard_error_points(a, n), 2) + std::pow(standard_error_points(b, n), 2));
}

bool beyond_noise(double a, double b, std::int64_t n) { return std::fabs(100.0 * (a - b)) > noise_points(a, b, n); }

std::string noise_note(double a, double b, std::int64_t n) {
  return std::string(beyond_noise(a, b, n) ? "more" : "less") + " than the sampling noise, \u00b1" +
         fixed(noise_points(a, b, n), 2) + " points";
}

// The report's first section: the three questions, answered from the numbers. Each
// verdict follows from the comparison stated next to it.
std::vector<Block> answers(const StudyResults& results) {
  std::vector<Block> blocks;
  std::vector<std::vector<std::string>> items;
  const VariantResult* max = find_variant(results, "max");
  const VariantResult* avg = find_variant(results, "average");
  const VariantResult* gap = find_variant(results, "gap-head");
  const VariantResult* gmp = find_variant(results, "gmp-head");
  const VariantResult* none = find_variant(results, "no-pooling");
  const int far = results.variants.empty() || results.variants.front().shifts.empty()
                      ? 0 : std::min(4, results.variants.front().shifts.back().shift);
  const std::string far_text = std::to_string(far) + " px";
  auto shifted = [&](const VariantResult& v) { return at_shift(v, far) ? at_shift(v, far)->accuracy : 0.0; };
  auto same = [&](const VariantResult& v) { return at_shift(v, far) ? at_shift(v, far)->consistency : 0.0; };
  if (max && avg) {
    const std::int64_t n = max->test_images, sweep = max->sweep_images;
    std::string verdict;
    if (!beyond_noise(max->test_accuracy, avg->test_accuracy, n)) {
      verdict = "**No measurable difference** on unshifted images";
    } else {
      verdict = "**" + std::string(max->test_accuracy > avg->test_accuracy ? "Max" : "Average") +
                " pooling is more accurate** on unshifted images";
    }
    verdict += beyond_noise(shifted(*max), shifted(*avg), sweep)
                   ? "; on images shifted by " + far_text + ", **" +
                         (shifted(*max) > shifted(*avg) ? std::string("max") : std::string("average")) +
                         "** holds up better"
                   : "; on shifted images they are equally robust";
    items.push_back({"**Max or average pooling?** " + verdict + ". Test accuracy: max " +
                     percent(max->test_accuracy, 2) + ", average " + percent(avg->test_accuracy, 2) + " (" +
                     points(max->test_accuracy - avg->test_accuracy) + " for max, " +
                     noise_note(max->test_accuracy, avg->test_accuracy, n) + "). Shifted by " + far_text +
                     ": max " + percent(shifted(*max)) + ", average " + percent(shifted(*avg)) +
                     "; predictions unchanged: max " + percent(same(*max)) + ", average " + percent(same(*avg)) +
                     ". Train/test gap: max " + points(max->gap()) + ", average " + points(avg->gap()) + "."});
  }
  for (const VariantResult* head : {gap, gmp}) {
    if (!head || !max) continue;
    const double behind = 100.0 * (max->test_accuracy - head->test_accuracy);
    std::string verdict =
        behind <= 1.0   ? "**Yes**: it is within 1 point of the Dense head (or better)"
        : behind <= 5.0 ? "**Nearly**: it is within 5 points of the Dense head"
                        : "**Not at this training length**: it is more than 5 points behind the Dense head "
                          "(see the training curves for whether it is still improving)";
    if (beyond_noise(shifted(*head), shifted(*max), head->sweep_images)) {
      verdict += shifted(*head) > shifted(*max) ? ", and **it holds up better on shifted images**"
                                                : ", and it holds up worse on shifted images";
    }
    items.push_back({"**Does a global " + std::string(head == gap ? "average" : "max") +
                     " pooling head work?** " + verdict + ". " + head->name + ": " + percent(head->test_accuracy, 2) +
                     " against " + percent(max->test_accuracy, 2) + " (" +
                     points(head->test_accuracy - max->test_accuracy) + ", " +
                     noise_note(head->test_accuracy, max->test_accuracy, max->test_images) + ") with " +
                     with_commas(head->params) + " parameters instead of " + with_commas(max->params) + " (" +
                     fixed(static_cast<double>(max->params) / static_cast<double>(std::max<std::int64_t>(head->params, 1)), 0) +
                     "x fewer). Train/test gap " + points(head->gap()) + " against " + points(max->gap()) +
                     (head->gap() < max->gap() ? " (it overfits less)" : " (it does not overfit less)") +
                     "; shifted by " + far_text + ": " + percent(shifted(*head)) + " against " +
                     percent(shifted(*max)) + ", predictions unchanged " + percent(same(*head)) + " against " +
                     percent(same(*max)) + "."});
  }
  if (none && max) {
    items.push_back({"**What does pooling save?** Without pooling the same convolutions feed a Dense layer: " +
                     with_commas(none->params) + " parameters in all (" +
                     fixed(static_cast<double>(none->params) / static_cast<double>(std::max<std::int64_t>(max->params, 1)), 1) +
                     "x the baseline's), " + fixed(none->train_seconds / std::max(max->train_seconds, 1e-9), 1) +
                     "x the training time (" + fixed(none->train_seconds, 0) + " s against " +
                     fixed(max->train_seconds, 0) + " s) and a peak of " + mib(none->peak_rss_bytes) + " against " +
                     mib(max->peak_rss_bytes) + ". Test accuracy " + percent(none->test_accuracy, 2) + " (" +
                     points(none->test_accuracy - max->test_accuracy) + ", " +
                     noise_note(none->test_accuracy, max->test_accuracy, max->test_images) + "); shifted by " +
                     far_text + ": " + percent(shifted(*none)) + " against " + percent(shifted(*max)) +
                     "; train/test gap " + points(none->gap()) + " against " + points(max->gap()) + "."});
  }
  if (!items.empty()) {
    blocks.push_back({Block::kHeading, "The answers, measured on this machine", {}, {}});
    blocks.push_back({Block::kList, "", items, {}});
    blocks.push_back({Block::kParagraph,
                      "Sampling noise is two standard errors of a difference of two accuracies, from the "
                      "number of test images used. It is not the noise of training: this is one run per "
                      "variant (one seed). The quick profile trains for a few epochs only; the full profile "
                      "(--profile full) trains to convergence.",
                      {}, {}});
  }
  return blocks;
}

std::vector<Block> document(const StudyResults& results, const FeatureMaps* maps) {
  std::vector<Block> doc;
  const Json& settings = results.settings;
  const Json profile = settings.value("profile", Json::object());
  const VariantResult* first = results.variants.empty() ? nullptr : &results.variants.front();
  doc.push_back({Block::kParagraph,
                 "What pooling does, measured: " + std::to_string(results.variants.size()) +
                     " variants of the Keras example ConvNet trained on " + settings.value("data_dir", std::string("?")) +
                     " with the '" + profile.value("name", std::string("?")) + "' profile (" +
                     std::to_string(profile.value("epochs", 0)) +
                     (profile.value("epochs", 0) == 1 ? " epoch on " : " epochs on ") +
                     with_commas(settings.value("training_images_used", std::int64_t{0})) +
                     " training images, seed " + std::to_string(settings.value("seed", 0)) + ", " +
                     std::to_string(settings.value("threads", 0)) + " threads, poolnet " +
                     settings.value("poolnet_version", std::string("?")) +
                     "). The method is described in docs/STUDY.md; every number below is also in "
                     "results.csv and results.json.",
                 {}, {}});
  for (Block& b : answers(results)) doc.push_back(std::move(b));

  doc.push_back({Block::kHeading, "Results", {}, {}});
  std::vector<std::vector<std::string>> table = {{"variant", "parameters", "training time", "peak memory",
                                                  "test accuracy", "training accuracy", "train/test gap",
                                                  "accuracy, 2 px shift", "accuracy, 4 px shift",
                                                  "accuracy, 6 px shift"}};
  for (const VariantResult& v : results.variants) {
    auto acc = [&](int s) { return at_shift(v, s) ? percent(at_shift(v, s)->accuracy) : std::string("-"); };
    table.push_back({v.name, with_commas(v.params), fixed(v.train_seconds, 0) + " s", mib(v.peak_rss_bytes),
                     percent(v.test_accuracy, 2), percent(v.train_accuracy, 2), points(v.gap()), acc(2), acc(4),
                     acc(6)});
  }
  doc.push_back({Block::kTable, "", table, {}});
  if (first) {
    doc.push_back({Block::kParagraph,
                   "Test accuracy is on all " + with_commas(first->test_images) +
                       " test images (one standard error is about " +
                       fixed(standard_error_points(first->test_accuracy, first->test_images), 2) +
                       " points). Training accuracy is measured like test accuracy (inference mode, no "
                       "dropout) on the first " + with_commas(first->train_eval_images) +
                       " training images; the gap is training minus test accuracy (larger: more "
                       "overfitting). Training time is the wall time of the epochs, validation passes "
                       "included. Peak memory: " + first->memory_method + ".",
                   {}, {}});
  }

  doc.push_back({Block::kHeading, "Translation robustness", {}, {}});
  doc.push_back({Block::kParagraph,
                 "Every test image of the sweep is shifted by 0 to 6 pixels in each of 8 directions (up, "
                 "down, left, right and the 4 diagonals, which move that far on both axes), the vacated "
                 "pixels set to 0 (the background). Accuracy is the mean over the 8 directions; "
                 "'same class' is the fraction of images whose predicted class does not change.",
                 {}, {}});
  doc.push_back({Block::kImage, "Accuracy against shift", {}, kAccuracyFigure});
  doc.push_back({Block::kImage, "Fraction of predictions unchanged by the shift", {}, kConsistencyFigure});
  std::vector<std::vector<std::string>> shift_table = {{"variant"}};
  if (first)
    for (const ShiftPoint& p : first->shifts) shift_table[0].push_back(std::to_string(p.shift) + " px");
  for (const VariantResult& v : results.variants) {
    std::vector<std::string> row = {v.name};
    for (const ShiftPoint& p : v.shifts) row.push_back(percent(p.accuracy) + " / " + percent(p.consistency, 0));
    shift_table.push_back(row);
  }
  doc.push_back({Block::kParagraph, "Accuracy / same class, per shift:", {}, {}});
  doc.push_back({Block::kTable, "", shift_table, {}});

  doc.push_back({Block::kHeading, "Training curves", {}, {}});
  doc.push_back({Block::kImage, "Loss and accuracy per epoch, training and validation", {}, kCurvesFigure});

  if (maps) {
    doc.push_back({Block::kHeading, "What each pooling makes of a feature map", {}, {}});
    const std::vector<std::string>& names = fashion_mnist_class_names();
    const std::string label = maps->label >= 0 && static_cast<std::size_t>(maps->label) < names.size()
                                  ? names[static_cast<std::size_t>(maps->label)]
                                  : "class " + std::to_string(maps->label);
    doc.push_back({Block::kParagraph,
                   "Test image " + std::to_string(maps->index) + " (" + label + ") through the trained first "
                   "convolution of '" + maps->variant + "', then through each pooling layer. Each square is "
                   "one filter's map (a gray frame marks its edge), all on one scale: black is 0, white the "
                   "largest activation of any filter, so brightness compares filters and pooling types.",
                   {}, {}});
    for (const GridFigure& g : kGrids) doc.push_back({Block::kImage, g.title, {}, g.file});
  }

  doc.push_back({Block::kHeading, "Settings", {}, {}});
  std::vector<std::vector<std::string>> settings_table = {{"setting", "value"}};
  for (const auto& [key, value] : profile.items()) settings_table.push_back({"profile." + key, value.dump()});
  for (const auto& [key, value] : settings.items()) {
    if (key != "profile") settings_table.push_back({key, value.is_string() ? value.get<std::string>() : value.dump()});
  }
  for (const VariantResult& v : results.variants) {
    settings_table.push_back({v.name + " model", v.json_path + (v.reused ? " (result reused)" : "")});
  }
  doc.push_back({Block::kTable, "", settings_table, {}});
  return doc;
}

}  // namespace

FeatureMaps compute_feature_maps(const Sequential& model, const std::string& variant, const Dataset& test,
                                 std::int64_t index) {
  if (model.size() == 0 || model.layer(0).class_name() != "Conv2D" ||
      model.layer(0).get_config().value("data_format", std::string("channels_last")) != "channels_last") {
    throw ArgumentError("feature maps: the first layer of '" + variant + "' must be a channels_last Conv2D");
  }
  if (index < 0 || index >= test.images.dim(0)) {
    throw ArgumentError("feature maps: test image " + std::to_string(index) + " does not exist");
  }
  const std::int64_t row = test.images.size() / test.images.dim(0);
  std::vector<std::int64_t> dims = test.images.shape().to_vector();
  dims[0] = 1;
  const Tensor x(Shape(dims), std::span<const float>(test.images.data() + index * row, static_cast<std::size_t>(row)));
  FeatureMaps maps;
  maps.variant = variant;
  maps.index = index;
  maps.label = static_cast<int>(test.labels[index]);
  maps.image = drop_batch(x);
  const Tensor conv = model.layer(0).forward(x);
  maps.conv = drop_batch(conv);
  maps.max_pooled = drop_batch(MaxPooling2D(2).forward(conv));
  maps.average_pooled = drop_batch(AveragePooling2D(2).forward(conv));
  maps.global_max = drop_batch(GlobalMaxPooling2D("channels_last", true).forward(conv));
  maps.global_average = drop_batch(GlobalAveragePooling2D("channels_last", true).forward(conv));
  return maps;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto v = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void run_gnuplot(const std::string& script_path) {
  if (!executable_on_path("gnuplot")) {
    throw FormatError("gnuplot is not installed (it draws the study's charts): install Debian's gnuplot-nox "
                      "(bash scripts/setup-deps.sh does)");
  }
  const fs::path script = fs::absolute(script_path);
  const std::string log = (script.parent_path() / "gnuplot.log").string();
  const pid_t pid = ::fork();
  if (pid < 0) throw FormatError("cannot start gnuplot: fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (::chdir(script.parent_path().c_str()) != 0) ::_exit(126);
    ::execlp("gnuplot", "gnuplot", script.filename().c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw FormatError("cannot wait for gnuplot");
  }
  std::string output;
  try {
    output = io::read_file(log, 1u << 20);
  } catch (const Error&) {
  }
  // gnuplot exits non-zero on an error in a script; its warnings (fonts, ...) are not failures.
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw FormatError(script.string() + ": gnuplot failed (exit status " +
                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "): " + output);
  }
}

std::vector<std::string> report_files(bool with_feature_maps) {
  std::vector<std::string> files = {"report.html", "report.md", "results.csv", "results.json",
                                    kAccuracyFigure, kConsistencyFigure, kCurvesFigure};
  if (with_feature_maps)
    for (const GridFigure& g : kGrids) files.push_back(g.file);
  return files;
}

void write_report(const StudyResults& results, const FeatureMaps* maps, const std::string& out_dir) {
  if (results.variants.empty()) throw ArgumentError("study report: no variants to report");
  const fs::path figures = fs::path(out_dir) / kFigures;
  const fs::path data = figures / "data";
  std::error_code ec;
  fs::create_directories(data, ec);
  if (ec) throw FormatError(data.string() + ": cannot create the report directory: " + ec.message());

  Json all = {{"settings", results.settings}, {"variants", Json::array()}};
  for (const VariantResult& v : results.variants) all["variants"].push_back(result_to_json(v));
  io::write_file_atomically((fs::path(out_dir) / "results.json").string(), all.dump(2) + "\n");
  io::write_file_atomically((fs::path(out_dir) / "results.csv").string(), csv_text(results));

  const std::string preamble = chart_data_files(results, data.string());
  const std::string script = (data / "figures.gp").string();
  io::write_file_atomically(script, chart_script(results, preamble));
  run_gnuplot(script);
  for (const char* chart : {kAccuracyFigure, kConsistencyFigure, kCurvesFigure}) {
    const fs::path target = fs::path(out_dir) / chart;
    fs::rename(target.parent_path() / ("." + target.filename().string() + ".tmp"), target, ec);
    if (ec) throw FormatError(target.string() + ": gnuplot did not write it: " + ec.message());
  }
  if (maps) write_feature_maps(*maps, out_dir);

  const std::string title = "poolnet study: what pooling does";
  const std::vector<Block> doc = document(results, maps);
  io::write_file_atomically((fs::path(out_dir) / "report.md").string(), render_markdown(title, doc));
  io::write_file_atomically((fs::path(out_dir) / "report.html").string(), render_html(title, doc, out_dir));
}

}  // namespace poolnet::study
