// The poolnet command-line program.
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

#include "cli/pool_demo.hpp"
#include "io/csv.hpp"
#include "poolnet/conformance.hpp"
#include "poolnet/error.hpp"

namespace {

constexpr int kExitFailure = 1;  // the command ran and found failures
constexpr int kExitUsage = 2;    // bad arguments or unreadable input

int run_conform(const std::string& path, bool reference_only) {
  const poolnet::ConformanceReport report = poolnet::run_conformance_file(
      path, reference_only ? poolnet::PoolBackend::kReference : poolnet::PoolBackend::kAuto);
  for (const poolnet::ConformanceFailure& failure : report.failures) {
    std::cout << poolnet::format_failure(failure) << '\n';
  }
  std::cout << "conformance: " << report.passed << " passed, " << report.failed << " failed"
            << std::endl;
  return report.failed == 0 ? 0 : kExitFailure;
}

int run_pool(const std::string& input_path, const std::string& pool_size,
             const std::string& strides, const std::string& padding) {
  const poolnet::Tensor matrix = input_path.empty() ? poolnet::cli::default_feature_map()
                                                    : poolnet::io::read_csv_matrix_file(input_path);
  std::optional<poolnet::IntOrTuple> stride_arg;
  if (!strides.empty()) stride_arg = poolnet::cli::parse_int_or_tuple(strides, "strides");
  std::cout << poolnet::cli::render_pool_demo(
      matrix, poolnet::cli::parse_int_or_tuple(pool_size, "pool_size"), stride_arg, padding);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"poolnet: Keras's pooling layers, exactly, in C++"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "poolnet 0.1.0");

  std::string conform_file;
  bool reference_only = false;
  CLI::App* conform = app.add_subcommand(
      "conform", "Run pooling conformance cases (JSON lines) and report every failing case");
  conform->add_option("file", conform_file, "Case file, e.g. tests/conformance/public.jsonl")
      ->required();
  conform->add_flag("--reference", reference_only, "Use only the reference kernels");

  std::string input_path, pool_size = "2", strides, padding = "valid";
  CLI::App* pool = app.add_subcommand(
      "pool", "Show what max, average and global pooling make of a small feature map");
  pool->add_option("--input", input_path, "CSV matrix (default: a 4x4 example)");
  pool->add_option("--pool-size", pool_size, "Window: N or ROWS,COLS")->capture_default_str();
  pool->add_option("--strides", strides, "Strides: N or ROWS,COLS (default: the pool size)");
  pool->add_option("--padding", padding, "valid or same")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    if (conform->parsed()) return run_conform(conform_file, reference_only);
    if (pool->parsed()) return run_pool(input_path, pool_size, strides, padding);
  } catch (const poolnet::Error& e) {
    std::cerr << "poolnet " << app.get_subcommands().front()->get_name() << ": " << e.what()
              << std::endl;
    return kExitUsage;
  }
  return 0;
}
