// A numeric CSV matrix reader (comma-separated; blank lines and lines starting with '#' skipped).
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "poolnet/tensor.hpp"

namespace poolnet::io {

inline constexpr std::int64_t kMaxCsvCells = std::int64_t{1} << 24;

// A rows x cols tensor. Cells are decimal numbers or nan, inf, -inf (any case). Throws FormatError with
// "<source>:<line>:<column>: ..." for a cell that is not a number, a ragged row, no data, or more
// than kMaxCsvCells cells.
Tensor read_csv_matrix(std::istream& in, std::string_view source);
Tensor read_csv_matrix_file(const std::string& path);

}  // namespace poolnet::io
