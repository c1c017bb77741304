#include "io/csv.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <vector>

#include "poolnet/error.hpp"

namespace poolnet::io {
namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

float parse_cell(std::string_view cell, std::string_view where) {
  std::string lowered(cell);
  for (char& ch : lowered) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lowered == "nan") return std::numeric_limits<float>::quiet_NaN();
  if (lowered == "inf" || lowered == "+inf") return std::numeric_limits<float>::infinity();
  if (lowered == "-inf") return -std::numeric_limits<float>::infinity();
  const std::string text(cell);
  char* end = nullptr;
  errno = 0;
  const float value = text.empty() ? 0.0f : std::strtof(text.c_str(), &end);
  // strtof also accepts "nan(...)", "infinity" and hex floats; only plain decimals (and the
  // spellings above) are accepted, so a typo never becomes a value.
  const bool plain = !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos;
  if (text.empty() || !plain || end != text.c_str() + text.size()) {
    throw FormatError(std::string(where) + ": '" + text + "' is not a number");
  }
  if (errno == ERANGE && std::isinf(value)) {
    throw FormatError(std::string(where) + ": '" + text + "' is out of float32 range");
  }
  return value;
}

}  // namespace

Tensor read_csv_matrix(std::istream& in, std::string_view source) {
  std::vector<float> values;
  std::int64_t cols = -1;
  std::int64_t rows = 0;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '#') continue;
    std::int64_t count = 0;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = content.find(',', start);
      const std::string_view cell = trim(content.substr(start, comma - start));
      const std::string where = std::string(source) + ":" + std::to_string(line_number) + ":" +
                                std::to_string(count + 1);
      if (static_cast<std::int64_t>(values.size()) >= kMaxCsvCells) {
        throw FormatError(where + ": more than " + std::to_string(kMaxCsvCells) + " cells");
      }
      values.push_back(parse_cell(cell, where));
      ++count;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (cols >= 0 && count != cols) {
      throw FormatError(std::string(source) + ":" + std::to_string(line_number) + ": row has " +
                        std::to_string(count) + " values, earlier rows have " +
                        std::to_string(cols));
    }
    cols = count;
    ++rows;
  }
  if (in.bad()) throw FormatError(std::string(source) + ": read error");
  if (rows == 0) throw FormatError(std::string(source) + ": no data (expected rows of comma-separated numbers)");
  return Tensor(Shape{rows, cols}, values);
}

Tensor read_csv_matrix_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError("cannot open CSV file '" + path + "'");
  return read_csv_matrix(in, path);
}

}  // namespace poolnet::io
