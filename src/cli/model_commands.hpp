// `poolnet summary | train | evaluate | predict`: the model subcommands, as library functions so
// that tests can drive them without a process.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace poolnet::cli {

struct TrainArgs {
  std::string model_path;  // Keras JSON, or a saved model to continue training
  std::string data_dir;    // MNIST-format directory ("" = Fashion-MNIST from Debian)
  int epochs = 10;
  std::int64_t batch_size = 128;
  std::string optimizer;   // "" = the model's compile_config, else adam
  std::optional<double> learning_rate;
  double validation_split = 0.0;  // Keras's default: train on everything
  std::uint64_t seed = 1;
  int threads = 0;         // 0 = all cores
  std::string out;         // "" = <model name>.pnet in the current directory
  std::optional<std::int64_t> limit;  // use only the first N training images (quick runs, tests)
  std::string checkpoint_dir;  // "" = none; else DIR/checkpoint.pnet after every epoch
  std::string resume_dir;      // continue the run checkpointed in DIR (its settings win)
  bool profile = false;        // print each layer's training time per step
};

// DIR/checkpoint.pnet.
std::string checkpoint_path(const std::string& directory);

// Sets the OpenMP and OpenBLAS thread counts (0 = leave the default). Returns the count in use.
int set_threads(int threads);

int run_summary(const std::string& model_path, std::ostream& out);
int run_train(const TrainArgs& args, std::ostream& out);
int run_evaluate(const std::string& model_path, const std::string& data_dir, std::ostream& out);
int run_predict(const std::string& model_path, const std::vector<std::string>& images, int top,
                std::ostream& out);

}  // namespace poolnet::cli
