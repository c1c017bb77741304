// Runs conformance cases (format: tests/conformance/FORMAT.md, contract: docs/SEMANTICS.md)
// against poolnet's layers.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "poolnet/pooling.hpp"

namespace poolnet {

struct ConformanceFailure {
  std::string id;      // the case's id, or "line N" when the line has no usable id
  std::string layer;   // Keras class name, or "?" when the line could not be read
  std::string what;    // what differed, with the first differing index and values
  double max_difference = 0.0;  // largest |got - expected| over the compared array (inf: non-finite mismatch)
};

struct ConformanceReport {
  int passed = 0;
  int failed = 0;
  std::vector<ConformanceFailure> failures;
};

// Checks one case line (JSON object). Never throws: any problem is a failure.
// Returns true when the case passed; on failure appends to report.failures.
bool check_conformance_case(const std::string& line, int line_number, ConformanceReport& report,
                            PoolBackend backend = PoolBackend::kAuto);

// Every non-empty line of `in`. A stream without a single case is reported as one failure
// ("no cases"), so an empty or truncated file can never pass.
ConformanceReport run_conformance(std::istream& in, PoolBackend backend = PoolBackend::kAuto);

// Throws FormatError when the file cannot be opened.
ConformanceReport run_conformance_file(const std::string& path,
                                       PoolBackend backend = PoolBackend::kAuto);

// "FAIL pub-0007 MaxPooling2D: output[3] = 0.5, expected 0.25 (largest difference 0.25)"
std::string format_failure(const ConformanceFailure& failure);

}  // namespace poolnet
