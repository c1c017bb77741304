// `poolnet study`: the pooling study (src/study/) from the command line.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace poolnet::cli {

struct StudyArgs {
  std::string data_dir;                 // "" = Fashion-MNIST from Debian
  std::string profile = "quick";
  std::string out = "poolnet-study";
  std::string variants = "examples/study";
  std::string baseline = "max";
  std::uint64_t seed = 1;
  int threads = 0;                      // 0 = all cores
  // Overrides of the profile's values (small runs, tests).
  std::optional<int> epochs;
  std::optional<std::int64_t> train_images;
  std::optional<std::int64_t> sweep_images;
};

// Adds the subcommand and its options to `app`, bound to `args`.
CLI::App* add_study_subcommand(CLI::App& app, StudyArgs& args);

int run_study(const StudyArgs& args, std::ostream& out);

}  // namespace poolnet::cli
