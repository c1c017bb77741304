// The study's report writer: every file exists and parses (JSON, CSV, PNG), the HTML embeds each
// figure, the Markdown links each one, and a missing gnuplot is a clear error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "io/image.hpp"
#include "poolnet/layers/conv.hpp"
#include "study/report.hpp"
#include "test_util.hpp"

namespace poolnet::study {
namespace {

using testing::TempDir;

// Inverse of base64(), for checking what the HTML embeds.
std::string unbase64(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const std::size_t v = alphabet.find(c);
    if (v == std::string::npos) break;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

VariantResult fake_variant(const std::string& name, std::int64_t params, double test_accuracy) {
  VariantResult v;
  v.name = name;
  v.model_name = name;
  v.json_path = "examples/study/" + name + ".json";
  v.key = {{"seed", 1}};
  v.params = params;
  v.epochs = 3;
  v.train_images = 900;
  v.train_seconds = 12.5;
  v.peak_rss_bytes = 300 << 20;
  v.start_rss_bytes = 250 << 20;
  v.memory_method = "test";
  v.test_accuracy = test_accuracy;
  v.test_loss = 0.4;
  v.test_images = 1000;
  v.train_accuracy = test_accuracy + 0.02;
  v.train_loss = 0.3;
  v.train_eval_images = 500;
  v.sweep_images = 200;
  for (int e = 1; e <= 3; ++e) {
    EpochLogs logs;
    logs.epoch = e;
    logs.loss = 1.0 / e;
    logs.accuracy = 0.6 + 0.1 * e;
    logs.val_loss = 1.1 / e;
    logs.val_accuracy = 0.55 + 0.1 * e;
    logs.seconds = 4.0;
    v.history.push_back(logs);
  }
  for (int s = 0; s <= 6; ++s) {
    ShiftPoint p;
    p.shift = s;
    p.accuracy = test_accuracy * (1.0 - 0.1 * s);
    p.consistency = 1.0 - 0.1 * s;
    if (s > 0) {
      p.accuracy_by_direction.assign(8, p.accuracy);
      p.consistency_by_direction.assign(8, p.consistency);
    }
    v.shifts.push_back(p);
  }
  return v;
}

StudyResults fake_results() {
  StudyResults results;
  results.settings = {{"profile", {{"name", "quick"}, {"epochs", 3}}}, {"seed", 1}, {"threads", 2},
                      {"data_dir", "/data"}, {"training_images_used", 900}, {"poolnet_version", "0.1.0"}};
  results.variants = {fake_variant("max", 431242, 0.90), fake_variant("average", 431242, 0.89),
                      fake_variant("gap-head", 24586, 0.85), fake_variant("gmp-head", 24586, 0.84),
                      fake_variant("no-pooling", 9456490, 0.91)};
  return results;
}

FeatureMaps fake_maps() {
  Sequential model("m");
  model.set_input_shape({28, 28, 1});
  model.emplace<Conv2D>(8, 3, 1, "valid", "channels_last", 1, "relu");
  model.build(3);
  Dataset test;
  test.images = testing::random_tensor(Shape{2, 28, 28, 1}, 5, 0.0f, 1.0f);
  test.labels = Tensor(Shape{2}, std::vector<float>{9.0f, 2.0f});
  return compute_feature_maps(model, "max", test, 1);
}

TEST(StudyReport, WritesEveryFileAndEachParses) {
  TempDir dir;
  const std::string out = dir.path("report");
  const StudyResults results = fake_results();
  const FeatureMaps maps = fake_maps();
  write_report(results, &maps, out);

  for (const std::string& file : report_files(true)) {
    EXPECT_TRUE(std::filesystem::is_regular_file(out + "/" + file)) << file;
  }
  // No temporary files are left behind.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }

  const nlohmann::json json = nlohmann::json::parse(testing::read_bytes(out + "/results.json"));
  ASSERT_EQ(json.at("variants").size(), 5u);
  EXPECT_EQ(json["variants"][2]["name"], "gap-head");
  const VariantResult back = result_from_json(json["variants"][2], "results.json");
  EXPECT_EQ(back.params, 24586);
  EXPECT_EQ(back.shifts.size(), 7u);
  EXPECT_DOUBLE_EQ(back.history[1].val_accuracy.value(), 0.75);
  EXPECT_EQ(json["settings"]["threads"], 2);

  std::istringstream csv(testing::read_bytes(out + "/results.csv"));
  std::string line;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    std::stringstream cell_stream(line);
    std::string cell;
    while (std::getline(cell_stream, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0][0], "variant");
  EXPECT_EQ(rows[0].size(), 12u + 7u + 7u);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    ASSERT_EQ(rows[r].size(), rows[0].size()) << line;
    for (std::size_t c = 2; c < rows[r].size(); ++c) {
      char* end = nullptr;
      std::strtod(rows[r][c].c_str(), &end);
      EXPECT_EQ(*end, '\0') << "row " << r << " column " << rows[0][c] << ": " << rows[r][c];
    }
  }
  EXPECT_EQ(rows[5][0], "no-pooling");
  EXPECT_EQ(rows[5][2], "9456490");

  // Charts: PNGs of the size the script asks for. Grids: 8 columns of 104-pixel squares.
  for (const char* chart : {"figures/accuracy_vs_shift.png", "figures/consistency_vs_shift.png"}) {
    const Tensor image = io::read_gray_image(out + "/" + chart);
    EXPECT_EQ(image.dim(0), 600) << chart;
    EXPECT_EQ(image.dim(1), 960) << chart;
  }
  EXPECT_EQ(io::read_gray_image(out + "/figures/training_curves.png").dim(1), 1200);
  const Tensor conv = io::read_gray_image(out + "/figures/fm_conv.png");
  EXPECT_EQ(conv.dim(1), 8 * 104 + 7 * 6);
  EXPECT_EQ(conv.dim(0), 104);  // 8 filters: one row
  const Tensor input = io::read_gray_image(out + "/figures/fm_input.png");
  EXPECT_EQ(input.dim(0), 112);  // 28 pixels, 4x each
  EXPECT_EQ(input.dim(1), 112);

  // The HTML embeds every figure as a PNG data URI; the Markdown links every figure.
  const std::string html = testing::read_bytes(out + "/report.html");
  const std::string md = testing::read_bytes(out + "/report.md");
  const std::string marker = "src=\"data:image/png;base64,";
  std::size_t embedded = 0;
  for (std::size_t at = html.find(marker); at != std::string::npos; at = html.find(marker, at + 1)) {
    const std::size_t begin = at + marker.size();
    const std::string png = unbase64(html.substr(begin, html.find('"', begin) - begin));
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    ++embedded;
  }
  EXPECT_EQ(embedded, report_files(true).size() - 4);
  EXPECT_EQ(html.find("figures/"), std::string::npos) << "the HTML must not depend on files beside it";
  for (const std::string& file : report_files(true)) {
    if (file.rfind("figures/", 0) == 0) {
      EXPECT_TRUE(testing::contains(md, "](" + file + ")")) << file;
    }
  }
  EXPECT_TRUE(testing::contains(html, "</html>"));
  EXPECT_TRUE(testing::contains(md, "| gap-head | 24,586 |")) << md;
  EXPECT_TRUE(testing::contains(md, "Does a global average pooling head work?"));
}

TEST(StudyReport, FeatureMapsArePooledFromTheFirstConvolution) {
  const FeatureMaps maps = fake_maps();
  EXPECT_EQ(maps.label, 2);
  EXPECT_EQ(maps.conv.shape(), (Shape{26, 26, 8}));
  EXPECT_EQ(maps.max_pooled.shape(), (Shape{13, 13, 8}));
  EXPECT_EQ(maps.global_average.shape(), (Shape{1, 1, 8}));
  // Spot checks against the definitions.
  const float window[] = {maps.conv.at({2, 4, 3}), maps.conv.at({2, 5, 3}), maps.conv.at({3, 4, 3}),
                          maps.conv.at({3, 5, 3})};
  EXPECT_EQ(maps.max_pooled.at({1, 2, 3}), *std::max_element(std::begin(window), std::end(window)));
  EXPECT_NEAR(maps.average_pooled.at({1, 2, 3}), (window[0] + window[1] + window[2] + window[3]) / 4, 1e-6);
  float largest = 0.0f;
  for (std::int64_t r = 0; r < 26; ++r)
    for (std::int64_t c = 0; c < 26; ++c) largest = std::max(largest, maps.conv.at({r, c, 5}));
  EXPECT_EQ(maps.global_max.at({0, 0, 5}), largest);
}

TEST(StudyReport, Base64MatchesRfc4648) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(StudyReport, MissingGnuplotIsAClearError) {
  TempDir dir;
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", dir.path("empty").c_str(), 1);
  const StudyResults results = fake_results();
  const std::string message = testing::error_of([&] { write_report(results, nullptr, dir.path("out")); });
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_TRUE(testing::contains(message, "gnuplot is not installed")) << message;
  EXPECT_TRUE(testing::contains(message, "gnuplot-nox")) << message;
}

}  // namespace
}  // namespace poolnet::study

namespace poolnet::study {
namespace {

TEST(StudyReport, AFailingGnuplotScriptIsAnErrorWithGnuplotsOutput) {
  testing::TempDir dir;
  const std::string script = dir.file("bad.gp", "set terminal pngcairo\nset output 'x.png'\nplot 'missing.dat'\n");
  testing::expect_throws<FormatError>([&] { run_gnuplot(script); }, {"bad.gp", "gnuplot failed", "No data in plot"});
}

}  // namespace
}  // namespace poolnet::study
