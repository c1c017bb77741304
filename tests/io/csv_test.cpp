// read_csv_matrix: numeric CSV matrices, and FormatError with "source:line:column" otherwise.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "io/csv.hpp"
#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

Tensor read(const std::string& text, std::string_view source = "test.csv") {
  std::istringstream in(text);
  return io::read_csv_matrix(in, source);
}

// Expects FormatError from reading `text` whose message contains every piece.
void expect_format_error(const std::string& text, std::initializer_list<std::string_view> pieces) {
  testing::expect_throws<FormatError>([&] { (void)read(text); }, pieces,
                                      " (input \"" + text + "\")");
}

TEST(CsvMatrix, ReadsRowsWithSpacesBlankLinesAndComments) {
  const Tensor t = read(
      "# a 2x3 matrix\n"
      "1, 2 ,3\n"
      "\n"
      "   \n"
      "  # indented comment\n"
      " -4.5,\t5e-1 ,+6\r\n");
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  const float expected[] = {1, 2, 3, -4.5f, 0.5f, 6};
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(t[i], expected[i]) << i;
}

TEST(CsvMatrix, ReadsASingleCellAndASingleColumn) {
  EXPECT_EQ(read("7").shape(), (Shape{1, 1}));
  EXPECT_EQ(read("7")[0], 7.0f);
  const Tensor column = read("1\n2\n3\n");
  ASSERT_EQ(column.shape(), (Shape{3, 1}));
  EXPECT_EQ(column[2], 3.0f);
  EXPECT_EQ(read("1,2\n3,4").shape(), (Shape{2, 2}));  // no final newline
}

TEST(CsvMatrix, ReadsNanAndInfinities) {
  const Tensor t = read("nan, inf, -inf\n1, NaN, +inf\n");
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_TRUE(std::isnan(t[0]));
  EXPECT_EQ(t[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(t[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(t[3], 1.0f);
  EXPECT_TRUE(std::isnan(t[4]));
  EXPECT_EQ(t[5], std::numeric_limits<float>::infinity());
  const Tensor upper = read("Inf, -INF, NAN\n");
  EXPECT_EQ(upper[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(upper[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(upper[2]));
}

TEST(CsvMatrix, NonNumberCellsNameSourceLineAndColumn) {
  expect_format_error("1,2,3\n4,5,abc\n", {"test.csv:2:3", "'abc'", "not a number"});
  expect_format_error("1.2.3\n", {"test.csv:1:1", "'1.2.3'"});
  expect_format_error("# hex is not accepted\n1, 0x10\n", {"test.csv:2:2", "'0x10'"});
  expect_format_error("infinity,1\n", {"test.csv:1:1", "'infinity'"});
  expect_format_error("1,2\n\n3,nan(1)\n", {"test.csv:3:2", "'nan(1)'"});
  expect_format_error("1,,2\n", {"test.csv:1:2", "not a number"});
  expect_format_error("1,2,\n", {"test.csv:1:3"});
  expect_format_error("1;2\n", {"test.csv:1:1", "'1;2'"});
  expect_format_error("1e\n", {"test.csv:1:1", "'1e'"});
}

TEST(CsvMatrix, RaggedRowNamesLineAndBothCounts) {
  expect_format_error("1,2,3\n4,5\n", {"test.csv:2", "2 values", "3"});
  expect_format_error("1\n# c\n2,3\n", {"test.csv:3", "2 values", "1"});
}

TEST(CsvMatrix, EmptyInputIsAnError) {
  expect_format_error("", {"test.csv", "no data"});
  expect_format_error("# only a comment\n\n   \n", {"test.csv", "no data"});
}

TEST(CsvMatrix, OutOfFloatRangeIsAnError) {
  expect_format_error("1, 1e99\n", {"test.csv:1:2", "'1e99'", "range"});
  expect_format_error("-1e39\n", {"test.csv:1:1", "'-1e39'", "range"});
  EXPECT_EQ(read("3.4e38")[0], 3.4e38f);
}

TEST(CsvMatrix, ErrorsUseTheGivenSourceName) {
  try {
    std::istringstream in("x\n");
    (void)io::read_csv_matrix(in, "features.csv");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("features.csv:1:1: ", 0), 0u) << e.what();
  }
}

TEST(CsvMatrix, MissingFileThrowsFormatErrorNamingThePath) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "poolnet_csv_test_no_such_file.csv").string();
  try {
    (void)io::read_csv_matrix_file(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace poolnet
