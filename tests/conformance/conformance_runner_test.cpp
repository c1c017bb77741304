// The conformance runner must be able to fail: every kind of wrong case is reported, with the id,
// the layer and what differed; the public cases pass with both backends; the command line program
// reports failures and exits non-zero.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/conformance.hpp"
#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

constexpr int kPublicCases = 310;

std::string public_path() { return std::string(POOLNET_SOURCE_DIR) + "/tests/conformance/public.jsonl"; }

const std::vector<Json>& public_cases() {
  static const std::vector<Json> cases = [] {
    std::vector<Json> result;
    std::istringstream in(testing::read_bytes(public_path()));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) result.push_back(Json::parse(line));
    }
    return result;
  }();
  return cases;
}

// The first public case of `layer` in `group`.
Json public_case(const std::string& layer, const std::string& group = "normal") {
  for (const Json& c : public_cases()) {
    if (c["layer"] == layer && c["group"] == group) return c;
  }
  ADD_FAILURE() << "no " << group << " case for " << layer << " in " << public_path();
  return Json::object();
}

ConformanceReport run_lines(const std::vector<std::string>& lines,
                            PoolBackend backend = PoolBackend::kAuto) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  std::istringstream in(text);
  return run_conformance(in, backend);
}

ConformanceReport run_cases(const std::vector<Json>& cases) {
  std::vector<std::string> lines;
  for (const Json& c : cases) lines.push_back(c.dump());
  return run_lines(lines);
}

std::string describe(const ConformanceReport& report) {
  std::string text = std::to_string(report.passed) + " passed, " + std::to_string(report.failed) +
                     " failed";
  for (const ConformanceFailure& f : report.failures) text += "\n  " + format_failure(f);
  return text;
}

using testing::contains;

// Expects exactly one case, failed, and returns its failure.
ConformanceFailure single_failure(const ConformanceReport& report) {
  EXPECT_EQ(report.passed, 0) << describe(report);
  EXPECT_EQ(report.failed, 1) << describe(report);
  if (report.failures.size() != 1) {
    ADD_FAILURE() << "expected one failure: " << describe(report);
    return {};
  }
  return report.failures[0];
}

// ---------------------------------------------------------------------------------------------
// The public cases pass.

TEST(ConformanceRunner, PublicCasesAllPassWithBothBackends) {
  const std::string text = testing::read_bytes(public_path());
  for (PoolBackend backend : {PoolBackend::kAuto, PoolBackend::kReference}) {
    std::istringstream in(text);
    const ConformanceReport report = run_conformance(in, backend);
    EXPECT_EQ(report.passed, kPublicCases) << describe(report);
    EXPECT_EQ(report.failed, 0) << describe(report);
    EXPECT_TRUE(report.failures.empty());
  }
  const ConformanceReport from_file = run_conformance_file(public_path());
  EXPECT_EQ(from_file.passed, kPublicCases) << describe(from_file);
  EXPECT_EQ(from_file.failed, 0);
}

TEST(ConformanceRunner, UnchangedCopiesOfCasesPass) {
  // The tests below change one thing in these cases; unchanged, they pass.
  const ConformanceReport report =
      run_cases({public_case("MaxPooling2D"), public_case("AveragePooling2D"),
                 public_case("GlobalMaxPooling3D"), public_case("MaxPooling2D", "invalid")});
  EXPECT_EQ(report.passed, 4) << describe(report);
  EXPECT_EQ(report.failed, 0) << describe(report);
}

// ---------------------------------------------------------------------------------------------
// Valid cases with a wrong expectation fail.

TEST(ConformanceRunner, ChangedOutputValueFailsNamingIdLayerIndexAndDifference) {
  Json c = public_case("MaxPooling2D");
  const std::string id = c["id"].get<std::string>();
  c["output"][3] = c["output"][3].get<double>() + 0.25;
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.id, id);
  EXPECT_EQ(f.layer, "MaxPooling2D");
  EXPECT_TRUE(contains(f.what, "output[3]")) << f.what;
  EXPECT_GT(f.max_difference, 0.2);
  EXPECT_LT(f.max_difference, 0.3);
  const std::string line = format_failure(f);
  EXPECT_EQ(line.rfind("FAIL " + id + " MaxPooling2D: output[3]", 0), 0u) << line;
  EXPECT_TRUE(contains(line, "largest difference")) << line;
}

TEST(ConformanceRunner, OneBadCaseAmongGoodOnesIsCountedAlone) {
  Json bad = public_case("GlobalAveragePooling1D");
  bad["output"][0] = bad["output"][0].get<double>() - 1.0;
  const ConformanceReport report =
      run_cases({public_case("MaxPooling1D"), bad, public_case("AveragePooling3D")});
  EXPECT_EQ(report.passed, 2) << describe(report);
  EXPECT_EQ(report.failed, 1) << describe(report);
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_EQ(report.failures[0].id, bad["id"].get<std::string>());
  EXPECT_EQ(report.failures[0].layer, "GlobalAveragePooling1D");
  EXPECT_TRUE(contains(report.failures[0].what, "output[0]")) << report.failures[0].what;
}

TEST(ConformanceRunner, ChangedGradInputValueFailsNamingGradInput) {
  Json c = public_case("AveragePooling2D");
  c["grad_input"][0] = c["grad_input"][0].get<double>() + 0.5;
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.id, c["id"].get<std::string>());
  EXPECT_EQ(f.layer, "AveragePooling2D");
  EXPECT_TRUE(contains(f.what, "grad_input[0]")) << f.what;
  EXPECT_NEAR(f.max_difference, 0.5, 1e-5);

  Json m = public_case("MaxPooling3D");
  m["grad_input"][0] = m["grad_input"][0].get<double>() + 1.0;
  EXPECT_TRUE(contains(single_failure(run_cases({m})).what, "grad_input[0]"));
}

TEST(ConformanceRunner, ChangedUpstreamFailsTheGradientCheck) {
  Json c = public_case("GlobalMaxPooling2D");
  c["upstream"][0] = c["upstream"][0].get<double>() + 1.0;
  EXPECT_TRUE(contains(single_failure(run_cases({c})).what, "grad_input"));
}

TEST(ConformanceRunner, WrongOutputShapeFails) {
  Json c = public_case("MaxPooling2D");
  c["output_shape"][1] = c["output_shape"][1].get<int>() + 1;
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.id, c["id"].get<std::string>());
  EXPECT_TRUE(contains(f.what, "output shape")) << f.what;

  Json g = public_case("GlobalAveragePooling3D");  // keepdims false: (batch, channels)
  g["output_shape"].push_back(1);
  EXPECT_TRUE(contains(single_failure(run_cases({g})).what, "output shape"));
}

TEST(ConformanceRunner, WrongNumberOfOutputValuesFails) {
  Json c = public_case("AveragePooling1D");
  c["output"].erase(c["output"].size() - 1);
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_TRUE(contains(f.what, "output")) << f.what;
}

TEST(ConformanceRunner, CaseWithMissingKeyFails) {
  Json c = public_case("AveragePooling2D");
  c.erase("output");
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.id, c["id"].get<std::string>());
  EXPECT_TRUE(contains(f.what, "output")) << f.what;
}

TEST(ConformanceRunner, ValidCaseForAnUnknownLayerFails) {
  Json c = public_case("MaxPooling2D");
  c["layer"] = "MaxPooling4D";
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.layer, "MaxPooling4D");
  EXPECT_TRUE(contains(f.what, "MaxPooling4D")) << f.what;
}

// ---------------------------------------------------------------------------------------------
// Invalid cases.

TEST(ConformanceRunner, InvalidCaseWithAValidConfigFailsAsAccepted) {
  Json c = public_case("AveragePooling3D");
  c["error"] = "pretend this is invalid";
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_EQ(f.id, c["id"].get<std::string>());
  EXPECT_EQ(f.layer, "AveragePooling3D");
  EXPECT_TRUE(contains(f.what, "accepted an invalid case")) << f.what;
  EXPECT_TRUE(contains(f.what, "pretend this is invalid")) << f.what;

  // A public invalid case made valid: the 'valid' window now fits the input.
  Json v = public_case("MaxPooling2D", "invalid");
  v["config"]["padding"] = "same";
  EXPECT_TRUE(contains(single_failure(run_cases({v})).what, "accepted an invalid case"));
}

TEST(ConformanceRunner, InvalidCaseThatCannotBeReadIsAFailureNotARejection) {
  // An invalid case passes when the layer rejects it; a case the runner cannot even read (no
  // config, no input_shape, a layer that does not exist) says nothing about the layer and must
  // not pass, or a truncated or misspelled case file would pass silently.
  Json no_config = public_case("MaxPooling2D", "invalid");
  no_config.erase("config");
  Json no_shape = public_case("MaxPooling2D", "invalid");
  no_shape.erase("input_shape");
  Json unknown_layer = public_case("MaxPooling2D", "invalid");
  unknown_layer["layer"] = "MaxPoling2D";
  for (const Json& c : {no_config, no_shape, unknown_layer}) {
    SCOPED_TRACE(c.dump());
    const ConformanceReport report = run_cases({c});
    EXPECT_EQ(report.passed, 0) << describe(report);
    EXPECT_EQ(report.failed, 1) << describe(report);
  }
}

// ---------------------------------------------------------------------------------------------
// Unreadable input.

TEST(ConformanceRunner, MalformedJsonLineFailsWithItsLineNumber) {
  const std::string good = public_case("MaxPooling1D").dump();
  const ConformanceReport report =
      run_lines({good, "{\"id\": \"pub-9999\", \"layer\": ", good, "[1, 2, 3]"});
  EXPECT_EQ(report.passed, 2) << describe(report);
  EXPECT_EQ(report.failed, 2) << describe(report);
  ASSERT_EQ(report.failures.size(), 2u);
  EXPECT_EQ(report.failures[0].id, "line 2");
  EXPECT_EQ(report.failures[0].layer, "?");
  EXPECT_TRUE(contains(report.failures[0].what, "malformed")) << report.failures[0].what;
  EXPECT_EQ(report.failures[1].id, "line 4");  // valid JSON, but not an object
}

TEST(ConformanceRunner, BlankLinesAreSkippedButCountForLineNumbers) {
  const ConformanceReport report = run_lines({"", "   ", "not json"});
  ASSERT_EQ(report.failures.size(), 1u) << describe(report);
  EXPECT_EQ(report.failures[0].id, "line 3");
  EXPECT_EQ(report.passed, 0);
}

TEST(ConformanceRunner, EmptyStreamIsOneFailureNotASilentPass) {
  std::istringstream empty("");
  const ConformanceReport report = run_conformance(empty);
  EXPECT_EQ(report.passed, 0);
  EXPECT_EQ(report.failed, 1);
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_TRUE(contains(report.failures[0].what, "no cases")) << report.failures[0].what;

  std::istringstream blank("\n  \n\t\n");
  const ConformanceReport blank_report = run_conformance(blank);
  EXPECT_EQ(blank_report.passed, 0);
  EXPECT_EQ(blank_report.failed, 1);
}

TEST(ConformanceRunner, MissingFileThrowsFormatError) {
  const std::string path = std::string(POOLNET_SOURCE_DIR) + "/tests/conformance/no_such_file.jsonl";
  try {
    (void)run_conformance_file(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), "no_such_file.jsonl")) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Tolerances and non-finite values.

TEST(ConformanceRunner, MaxOutputOneUlpOffFailsBecauseMaxIsComparedExactly) {
  Json c = public_case("MaxPooling2D");
  const auto v = static_cast<float>(c["output"][0].get<double>());
  c["output"][0] = static_cast<double>(std::nextafter(v, std::numeric_limits<float>::infinity()));
  const ConformanceFailure f = single_failure(run_cases({c}));
  EXPECT_TRUE(contains(f.what, "output[0]")) << f.what;
  EXPECT_TRUE(contains(f.what, "exact")) << f.what;
  EXPECT_GT(f.max_difference, 0.0);
  EXPECT_LT(f.max_difference, 1e-6);

  Json g = public_case("GlobalMaxPooling1D");
  const auto w = static_cast<float>(g["output"][0].get<double>());
  g["output"][0] = static_cast<double>(std::nextafter(w, -std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(contains(single_failure(run_cases({g})).what, "output[0]"));
}

TEST(ConformanceRunner, AverageOutputWithinToleranceOfTheSumsPasses) {
  Json near = public_case("AveragePooling2D");
  near["output"][0] = near["output"][0].get<double>() + 5e-7;
  near["grad_input"][1] = near["grad_input"][1].get<double>() - 5e-7;
  const ConformanceReport report = run_cases({near});
  EXPECT_EQ(report.passed, 1) << describe(report);
  EXPECT_EQ(report.failed, 0) << describe(report);

  // ... but not far outside it.
  Json far = public_case("AveragePooling2D");
  far["output"][0] = far["output"][0].get<double>() + 1e-3;
  EXPECT_TRUE(contains(single_failure(run_cases({far})).what, "output[0]"));
}

// A hand-written MaxPooling1D case: input (1, 2, 1) = [nan, 1], pool 2 -> output [nan].
Json nan_case() {
  return {{"id", "nan-1"},
          {"group", "special"},
          {"layer", "MaxPooling1D"},
          {"config",
           {{"pool_size", 2}, {"strides", nullptr}, {"padding", "valid"}, {"data_format", "channels_last"}}},
          {"input_shape", {1, 2, 1}},
          {"input", {"nan", 1.0}},
          {"output_shape", {1, 1, 1}},
          {"output", {"nan"}},
          {"upstream", {1.0}},
          {"grad_input", nullptr}};
}

TEST(ConformanceRunner, NanExpectedMatchesNanGot) {
  const ConformanceReport report = run_cases({nan_case(), public_case("AveragePooling1D", "special")});
  EXPECT_EQ(report.passed, 2) << describe(report);
  EXPECT_EQ(report.failed, 0) << describe(report);
}

TEST(ConformanceRunner, NonFiniteMismatchesFail) {
  Json finite_expected = nan_case();
  finite_expected["output"][0] = 1.0;  // got NaN, expected 1
  const ConformanceFailure f = single_failure(run_cases({finite_expected}));
  EXPECT_TRUE(contains(f.what, "output[0]")) << f.what;
  EXPECT_TRUE(std::isinf(f.max_difference));

  Json nan_expected = nan_case();
  nan_expected["input"][0] = 0.5;  // got 1, expected NaN
  EXPECT_TRUE(contains(single_failure(run_cases({nan_expected})).what, "output[0]"));

  Json inf_expected = nan_case();
  inf_expected["input"][0] = "inf";
  inf_expected["output"][0] = "-inf";  // got +inf, expected -inf
  EXPECT_TRUE(contains(single_failure(run_cases({inf_expected})).what, "output[0]"));
  inf_expected["output"][0] = "inf";
  inf_expected["grad_input"] = {1.0, 0.0};
  const ConformanceReport ok = run_cases({inf_expected});
  EXPECT_EQ(ok.passed, 1) << describe(ok);
}

// ---------------------------------------------------------------------------------------------
// The command-line program.

using testing::CommandResult;
using testing::TempDir;

// Runs `args` after the poolnet program; stdout and stderr together in `out`.
CommandResult run_cli(const std::string& args) {
  return testing::run_command(args, testing::StderrTo::kStdout);
}

TEST(ConformanceCli, MissingFileExitsNonZero) {
  const TempDir dir;
  const CommandResult r = run_cli("conform '" + dir.path("missing.jsonl") + "'");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.exit_code, 2) << r.out;  // unreadable input
  EXPECT_TRUE(contains(r.out, "missing.jsonl")) << r.out;
}

TEST(ConformanceCli, BrokenCasePrintsFailLineAndSummaryAndExitsNonZero) {
  const TempDir dir;
  Json c = public_case("AveragePooling2D");
  c["output"][1] = c["output"][1].get<double>() + 1.0;
  const std::string path = dir.file("broken.jsonl", c.dump() + "\n");
  const CommandResult r = run_cli("conform '" + path + "'");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.exit_code, 1) << r.out;  // ran, found failures
  EXPECT_EQ(r.out.rfind("FAIL " + c["id"].get<std::string>() + " AveragePooling2D: output[1]", 0), 0u)
      << r.out;
  EXPECT_TRUE(contains(r.out, "\nconformance: 0 passed, 1 failed\n")) << r.out;
}

TEST(ConformanceCli, EmptyFileFails) {
  const TempDir dir;
  const CommandResult r = run_cli("conform '" + dir.file("empty.jsonl", "") + "'");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "conformance: 0 passed, 1 failed")) << r.out;
}

TEST(ConformanceCli, PublicCasesPassAndExitZero) {
  for (const std::string flag : {"", "--reference "}) {
    const CommandResult r = run_cli("conform " + flag + "'" + public_path() + "'");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_FALSE(contains(r.out, "FAIL ")) << r.out;
    const std::string summary = "conformance: 310 passed, 0 failed\n";
    ASSERT_GE(r.out.size(), summary.size()) << r.out;
    EXPECT_EQ(r.out.substr(r.out.size() - summary.size()), summary) << r.out;
  }
}

}  // namespace
}  // namespace poolnet
