#include "poolnet/conformance.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <istream>
#include <limits>
#include <optional>
#include <sstream>

#include "io/json_numbers.hpp"
#include "io/json_parse.hpp"
#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"
#include "poolnet/layers/registry.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

// Thrown inside a case check to stop it with a failure description.
struct CaseFailed {
  std::string what;
  double max_difference;
};

std::string fmt(double v) {
  std::ostringstream out;
  out << std::setprecision(9) << v;
  return out.str();
}

bool is_max_layer(std::string_view class_name) {
  return class_name.find("Max") != std::string_view::npos;
}

// Compares arrays. exact: bitwise-equal floats (max pooling copies values); otherwise
// |a - b| <= 1e-5 * max(1, |b|). Non-finite expected values must match exactly; NaN matches NaN.
// Throws CaseFailed naming the first mismatch and the largest difference.
void compare(std::string_view what, std::span<const float> got, const std::vector<float>& expected,
             bool exact) {
  if (got.size() != expected.size()) {
    throw CaseFailed{std::string(what) + " has " + std::to_string(got.size()) +
                         " values, expected " + std::to_string(expected.size()),
                     std::numeric_limits<double>::infinity()};
  }
  double largest = 0.0;
  std::optional<std::size_t> first_bad;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double a = got[i];
    const double b = expected[i];
    bool ok;
    double diff;
    if (std::isnan(b) || std::isinf(b) || std::isnan(a) || std::isinf(a)) {
      ok = (std::isnan(a) && std::isnan(b)) || a == b;
      diff = ok ? 0.0 : std::numeric_limits<double>::infinity();
    } else {
      diff = std::fabs(a - b);
      ok = exact ? a == b : diff <= 1e-5 * std::max(1.0, std::fabs(b));
    }
    largest = std::max(largest, diff);
    if (!ok && !first_bad) first_bad = i;
  }
  if (first_bad) {
    const std::size_t i = *first_bad;
    throw CaseFailed{std::string(what) + "[" + std::to_string(i) + "] = " + fmt(got[i]) +
                         ", expected " + fmt(expected[i]) + (exact ? " (exact)" : ""),
                     largest};
  }
}

const Json& require(const Json& c, const char* key, const std::string& id) {
  if (!c.contains(key)) throw FormatError("case " + id + ": missing key '" + key + "'");
  return c[key];
}

void check_valid_case(const Json& c, const std::string& id, const std::string& layer_name,
                      PoolBackend backend) {
  const Shape input_shape(io::json_to_dims(require(c, "input_shape", id), "input_shape"));
  const Tensor input(input_shape, io::json_to_floats(require(c, "input", id), "input"));
  const Shape expected_shape(io::json_to_dims(require(c, "output_shape", id), "output_shape"));

  std::unique_ptr<Layer> layer;
  try {
    layer = make_layer(layer_name, require(c, "config", id));
  } catch (const Error& e) {
    throw CaseFailed{std::string("rejected a valid case: ") + e.what(), 0.0};
  }
  if (auto* pooling = dynamic_cast<PoolingLayer*>(layer.get())) pooling->set_backend(backend);

  Shape shape;
  try {
    shape = layer->compute_output_shape(input_shape);
  } catch (const Error& e) {
    throw CaseFailed{std::string("rejected a valid input: ") + e.what(), 0.0};
  }
  if (!(shape == expected_shape)) {
    throw CaseFailed{"output shape " + shape.to_string() + ", expected " +
                         expected_shape.to_string(),
                     std::numeric_limits<double>::infinity()};
  }
  const Tensor output = layer->forward(input);
  if (!(output.shape() == expected_shape)) {
    throw CaseFailed{"forward output shape " + output.shape().to_string() + ", expected " +
                         expected_shape.to_string(),
                     std::numeric_limits<double>::infinity()};
  }
  compare("output", output.values(), io::json_to_floats(require(c, "output", id), "output"),
          is_max_layer(layer_name));

  const Json& grad = require(c, "grad_input", id);
  if (grad.is_null()) return;  // unspecified (max pooling of NaN)
  const Tensor upstream(expected_shape, io::json_to_floats(require(c, "upstream", id), "upstream"));
  const Tensor grad_input = layer->backward(input, upstream);
  compare("grad_input", grad_input.values(), io::json_to_floats(grad, "grad_input"), false);
}

void check_invalid_case(const Json& c, const std::string& id, const std::string& layer_name) {
  // The case itself must be readable and name a real layer: a runner error or an unknown class
  // is not the layer rejecting the case.
  const std::vector<std::int64_t> dims = io::json_to_dims(require(c, "input_shape", id), "input_shape");
  const Json& config = require(c, "config", id);
  const auto known = known_layer_classes();
  if (std::find(known.begin(), known.end(), layer_name) == known.end()) {
    throw CaseFailed{"unknown layer type '" + layer_name + "'", 0.0};
  }
  // Must be rejected no later than the first call with an input of input_shape.
  try {
    const Shape input_shape(dims);
    const std::unique_ptr<Layer> layer = make_layer(layer_name, config);
    layer->compute_output_shape(input_shape);
    constexpr std::int64_t kMaxProbeElements = std::int64_t{1} << 24;
    if (input_shape.elements() <= kMaxProbeElements) layer->forward(Tensor(input_shape));
  } catch (const Error&) {
    return;  // rejected, as it should be
  }
  throw CaseFailed{"accepted an invalid case (expected an error: " +
                       c.value("error", std::string("?")) + ")",
                   0.0};
}

}  // namespace

bool check_conformance_case(const std::string& line, int line_number, ConformanceReport& report,
                            PoolBackend backend) {
  ConformanceFailure failure{"line " + std::to_string(line_number), "?", "", 0.0};
  try {
    const Json c = io::parse_json(line, "malformed case");
    if (!c.is_object()) throw FormatError("a case must be a JSON object");
    if (c.contains("id") && c["id"].is_string()) failure.id = c["id"].get<std::string>();
    const Json& layer = require(c, "layer", failure.id);
    if (!layer.is_string()) throw FormatError("'layer' must be a string");
    failure.layer = layer.get<std::string>();
    if (c.contains("error")) {
      check_invalid_case(c, failure.id, failure.layer);
    } else {
      check_valid_case(c, failure.id, failure.layer, backend);
    }
    ++report.passed;
    return true;
  } catch (const CaseFailed& f) {
    failure.what = f.what;
    failure.max_difference = f.max_difference;
  } catch (const Json::exception& e) {
    failure.what = std::string("malformed case: ") + e.what();
  } catch (const std::exception& e) {
    failure.what = std::string("error: ") + e.what();
  }
  ++report.failed;
  report.failures.push_back(std::move(failure));
  return false;
}

ConformanceReport run_conformance(std::istream& in, PoolBackend backend) {
  ConformanceReport report;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    check_conformance_case(line, line_number, report, backend);
  }
  if (report.passed + report.failed == 0) {
    report.failed = 1;
    report.failures.push_back({"-", "-", "no cases: the file holds no case lines", 0.0});
  }
  return report;
}

ConformanceReport run_conformance_file(const std::string& path, PoolBackend backend) {
  std::ifstream in(path);
  if (!in) throw FormatError("cannot open conformance file '" + path + "'");
  return run_conformance(in, backend);
}

std::string format_failure(const ConformanceFailure& failure) {
  return "FAIL " + failure.id + " " + failure.layer + ": " + failure.what +
         " (largest difference " + fmt(failure.max_difference) + ")";
}

}  // namespace poolnet
