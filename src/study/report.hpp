// The study's report: results.csv and results.json, figures (gnuplot charts and feature-map
// grids written with libpng), report.html with the figures embedded, and report.md beside it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "poolnet/data/idx.hpp"
#include "poolnet/model/sequential.hpp"
#include "study/study.hpp"

namespace poolnet::study {

// One test image through a trained model's first layer (a Conv2D) and then through each of the
// four 2D pooling layers (2x2 windows and global), all channels_last.
struct FeatureMaps {
  std::string variant;     // whose convolution
  int label = 0;           // the image's class
  std::int64_t index = 0;  // in the test set
  Tensor image;            // (rows, cols, 1)
  Tensor conv;             // (rows', cols', filters)
  Tensor max_pooled;       // MaxPooling2D(2)
  Tensor average_pooled;   // AveragePooling2D(2)
  Tensor global_max;       // (1, 1, filters)
  Tensor global_average;
};

// ArgumentError when the model's first layer is not a channels_last Conv2D.
FeatureMaps compute_feature_maps(const Sequential& model, const std::string& variant,
                                 const Dataset& test, std::int64_t index);

// Writes everything into out_dir (created); files are written atomically. `maps` may be null
// (no feature-map section). FormatError when gnuplot is missing or fails.
void write_report(const StudyResults& results, const FeatureMaps* maps, const std::string& out_dir);

// The files write_report creates, relative to out_dir.
std::vector<std::string> report_files(bool with_feature_maps);

// Standard base64 (RFC 4648, with '=' padding), for data: URIs.
std::string base64(std::string_view bytes);

// Runs `gnuplot script_path`; FormatError with gnuplot's output when it fails, and a hint to
// install gnuplot-nox when it is not installed.
void run_gnuplot(const std::string& script_path);

}  // namespace poolnet::study
