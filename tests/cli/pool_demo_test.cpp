// `poolnet pool`: the demo text, its argument parsing, and the program's exit codes.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/pool_demo.hpp"
#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::contains;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(PoolDemo, DefaultFeatureMapIsTheDocumented4x4) {
  const Tensor m = cli::default_feature_map();
  ASSERT_EQ(m.shape(), (Shape{4, 4}));
  EXPECT_EQ(m.at({0, 3}), 4.0f);
  EXPECT_EQ(m.at({2, 2}), 9.0f);
  EXPECT_EQ(m.at({3, 1}), 8.0f);
}

TEST(PoolDemo, Pool2ValidShowsTheFourPanelsExactly) {
  const std::string text =
      cli::render_pool_demo(cli::default_feature_map(), 2, std::nullopt, "valid");
  const std::vector<std::string> lines = lines_of(text);
  ASSERT_GE(lines.size(), 4u) << text;
  const std::vector<std::string> panels(lines.end() - 4, lines.end());
  EXPECT_EQ(panels[0],
            "MaxPooling2D    AveragePooling2D    GlobalMaxPooling2D    GlobalAveragePooling2D")
      << text;
  EXPECT_EQ(panels[1],
            "------------    ----------------    ------------------    ----------------------")
      << text;
  // Max 2x2 blocks: 6 4 / 8 9; averages 3.75 2.25 / 5 3.5; global max 9, global mean 58/16.
  EXPECT_EQ(panels[2], "6  4            3.75  2.25          9                     3.625") << text;
  EXPECT_EQ(panels[3], "8  9               5   3.5") << text;

  EXPECT_TRUE(contains(text, "Input feature map: 4x4")) << text;
  EXPECT_TRUE(contains(text, "  1  3  2  4\n")) << text;
  EXPECT_TRUE(contains(text, "pool_size (2, 2), strides (2, 2), padding 'valid'")) << text;
  EXPECT_TRUE(contains(text, "rows: out = floor((4 - 2) / 2) + 1 = 2")) << text;
}

TEST(PoolDemo, SamePaddingExplainsWherePaddingGoes) {
  const std::string text =
      cli::render_pool_demo(cli::default_feature_map(), 3, IntOrTuple(2), "same");
  EXPECT_TRUE(contains(text, "pool_size (3, 3), strides (2, 2), padding 'same'")) << text;
  EXPECT_TRUE(contains(text, "rows: out = ceil(4 / 2) = 2; padding 0 before, 1 after")) << text;
  EXPECT_TRUE(contains(text, "cols: out = ceil(4 / 2) = 2; padding 0 before, 1 after")) << text;
  // Windows rows/cols [0..2] and [2..3]: every max is 9; averages 36/9, 18/6, 33/6, 14/4.
  const std::vector<std::string> lines = lines_of(text);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[lines.size() - 2], "9  9              4    3            9                     3.625")
      << text;
  EXPECT_EQ(lines[lines.size() - 1], "9  9            5.5  3.5") << text;
}

TEST(PoolDemo, ValidWithTheIgnoredTailSaysSo) {
  const std::string text =
      cli::render_pool_demo(cli::default_feature_map(), 3, std::nullopt, "valid");
  EXPECT_TRUE(contains(text, "out = floor((4 - 3) / 3) + 1 = 1; the last 1 ignored")) << text;
}

TEST(PoolDemo, PoolLargerThanTheInputWithValidThrowsShapeError) {
  try {
    (void)cli::render_pool_demo(cli::default_feature_map(), 5, std::nullopt, "valid");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_TRUE(contains(e.what(), "MaxPooling2D")) << e.what();
    EXPECT_TRUE(contains(e.what(), "(1, 4, 4, 1)")) << e.what();
  }
  // The same window with 'same' padding works.
  EXPECT_NO_THROW((void)cli::render_pool_demo(cli::default_feature_map(), 5, std::nullopt, "same"));
  EXPECT_THROW((void)cli::render_pool_demo(cli::default_feature_map(), 2, std::nullopt, "full"),
               ArgumentError);
}

TEST(PoolDemo, ParseIntOrTupleReadsIntAndCommaList) {
  const IntOrTuple one = cli::parse_int_or_tuple("2", "pool_size");
  EXPECT_TRUE(one.is_int());
  EXPECT_EQ(one.values(), (std::vector<std::int64_t>{2}));
  const IntOrTuple two = cli::parse_int_or_tuple("2,3", "pool_size");
  EXPECT_FALSE(two.is_int());
  EXPECT_EQ(two.values(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(cli::parse_int_or_tuple("4, 1", "strides").values(), (std::vector<std::int64_t>{4, 1}));
}

TEST(PoolDemo, ParseIntOrTupleRejectsNonIntegers) {
  for (const char* text : {"", "a", "2,x", "2.5", ",2", "2 3", "3,2,", "2,,3"}) {
    SCOPED_TRACE(text);
    try {
      (void)cli::parse_int_or_tuple(text, "strides");
      ADD_FAILURE() << "no error for '" << text << "'";
    } catch (const ArgumentError& e) {
      EXPECT_TRUE(contains(e.what(), "strides")) << e.what();
    }
  }
  try {
    (void)cli::parse_int_or_tuple("2,x", "pool_size");
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "'2,x'")) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The program.

// testing::run_command runs the poolnet program and keeps stdout and stderr apart.
using testing::CommandResult;
using testing::run_command;
using testing::TempDir;

TEST(PoolDemoCli, DefaultRunPrintsThePanelsAndExitsZero) {
  const CommandResult r = run_command("pool");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, cli::render_pool_demo(cli::default_feature_map(), 2, std::nullopt, "valid"));
  EXPECT_EQ(r.err, "");
}

TEST(PoolDemoCli, PoolLargerThanTheInputExitsWithStatus2AndNamesTheLayer) {
  const CommandResult r = run_command("pool --pool-size 5");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "MaxPooling2D")) << r.err;
  EXPECT_TRUE(contains(r.err, "pool_size")) << r.err;
  EXPECT_FALSE(contains(r.out, "MaxPooling2D")) << r.out;
}

TEST(PoolDemoCli, BadArgumentsExitWithStatus2) {
  const TempDir dir;
  const CommandResult bad_size = run_command("pool --pool-size 2,x");
  EXPECT_EQ(bad_size.exit_code, 2);
  EXPECT_TRUE(contains(bad_size.err, "pool_size")) << bad_size.err;
  const CommandResult bad_padding = run_command("pool --padding full");
  EXPECT_EQ(bad_padding.exit_code, 2);
  EXPECT_TRUE(contains(bad_padding.err, "'full'")) << bad_padding.err;
  const CommandResult missing = run_command("pool --input '" + dir.path("missing.csv") + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "missing.csv")) << missing.err;
}

TEST(PoolDemoCli, InputCsvFileIsPooled) {
  const TempDir dir;
  const std::string csv = dir.file("features.csv",
                                   "# a 2x4 map\n"
                                   "1, 2, 3, 4\n"
                                   "5, 6, 7, 8\n");
  const CommandResult r = run_command("pool --input '" + csv + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Input feature map: 2x4")) << r.out;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 1u);
  // Max: 6 8; average: 3.5 5.5; global max 8; global average 4.5.
  EXPECT_EQ(lines.back(), "6  8            3.5  5.5            8                     4.5") << r.out;

  const CommandResult bad = run_command("pool --input '" + dir.file("bad.csv", "1,2\n3\n") + "'");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "bad.csv:2")) << bad.err;
}

}  // namespace
}  // namespace poolnet
