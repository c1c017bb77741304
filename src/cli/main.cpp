// The poolnet command-line program.
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string_view>

#include "cli/bench_command.hpp"
#include "cli/model_commands.hpp"
#include "cli/pool_demo.hpp"
#include "cli/study_command.hpp"
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
  // `poolnet bench ...` hands all its arguments to the poolnet-bench program.
  if (argc >= 2 && std::string_view(argv[1]) == "bench") {
    argv[1] = argv[0];
    return poolnet::cli::exec_bench(argv + 1);
  }
  CLI::App app{"poolnet: Keras's pooling layers, exactly, in C++"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "poolnet 0.3.0");

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

  std::string summary_model;
  CLI::App* summary = app.add_subcommand("summary", "Print a model's Keras-style summary");
  summary->add_option("model", summary_model, "Keras JSON architecture or saved model (.pnet)")
      ->required();

  poolnet::cli::TrainArgs train_args;
  std::int64_t limit = 0;
  CLI::App* train = app.add_subcommand(
      "train", "Train a model on an MNIST-format data set (default: Fashion-MNIST), evaluate it on "
               "the test split and save it");
  train->add_option("model", train_args.model_path, "Keras JSON architecture, or a saved model to train further");
  train->add_option("--data-dir", train_args.data_dir,
                    "MNIST-format directory (default: /usr/share/datasets/fashion-mnist)");
  train->add_option("--epochs", train_args.epochs, "Epochs")->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--batch-size", train_args.batch_size, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--optimizer", train_args.optimizer, "adam, sgd or rmsprop (default: the model's compile_config, else adam)");
  train->add_option("--learning-rate", train_args.learning_rate, "Learning rate (default: the optimizer's Keras default)");
  train->add_option("--validation-split", train_args.validation_split, "Fraction held out for validation")
      ->capture_default_str()->check(CLI::Range(0.0, 0.99));
  train->add_option("--seed", train_args.seed, "Seed for weights, shuffling and dropout")->capture_default_str();
  train->add_option("--threads", train_args.threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  train->add_option("--out", train_args.out, "Where to save the trained model (default: <model name>.pnet)");
  train->add_option("--limit", limit, "Use only the first N training images (quick runs)")->check(CLI::PositiveNumber);
  train->add_option("--checkpoint", train_args.checkpoint_dir,
                    "Write DIR/checkpoint.pnet (weights, optimizer state, epoch) after every epoch");
  train->add_flag("--profile", train_args.profile, "Print each layer's training time per step (forward, backward)");
  train->add_option("--resume", train_args.resume_dir,
                    "Continue the run checkpointed in DIR with its settings; the final weights equal an uninterrupted run's");

  std::string evaluate_model, evaluate_data;
  CLI::App* evaluate = app.add_subcommand("evaluate", "Print a saved model's test loss and accuracy");
  evaluate->add_option("model", evaluate_model, "Saved model (.pnet)")->required();
  evaluate->add_option("--data-dir", evaluate_data, "MNIST-format directory (default: Fashion-MNIST)");

  std::string predict_model;
  std::vector<std::string> predict_images;
  int predict_top = 3;
  CLI::App* predict = app.add_subcommand(
      "predict", "Classify images (PNG or PGM, grayscale or converted; resized to the model's input)");
  predict->add_option("model", predict_model, "Saved model (.pnet)")->required();
  predict->add_option("images", predict_images, "Image files")->required();
  predict->add_option("--top", predict_top, "How many classes to show")->capture_default_str();

  // Listed for --help; main() hands it to poolnet-bench before parsing.
  app.add_subcommand("bench", "Pooling benchmark: poolnet's kernels vs oneDNN vs a memory copy "
                              "(runs poolnet-bench; `poolnet bench --help`)")
      ->allow_extras();
  poolnet::cli::StudyArgs study_args;
  CLI::App* study = poolnet::cli::add_study_subcommand(app, study_args);

  CLI11_PARSE(app, argc, argv);

  try {
    if (conform->parsed()) return run_conform(conform_file, reference_only);
    if (pool->parsed()) return run_pool(input_path, pool_size, strides, padding);
    if (summary->parsed()) return poolnet::cli::run_summary(summary_model, std::cout);
    if (train->parsed()) {
      if (limit > 0) train_args.limit = limit;
      if (train_args.model_path.empty() == train_args.resume_dir.empty()) {
        throw poolnet::ArgumentError("give either a model file or --resume DIR (not both)");
      }
      return poolnet::cli::run_train(train_args, std::cout);
    }
    if (evaluate->parsed()) return poolnet::cli::run_evaluate(evaluate_model, evaluate_data, std::cout);
    if (study->parsed()) return poolnet::cli::run_study(study_args, std::cout);
    if (predict->parsed()) return poolnet::cli::run_predict(predict_model, predict_images, predict_top, std::cout);
  } catch (const poolnet::Error& e) {
    std::cerr << "poolnet " << app.get_subcommands().front()->get_name() << ": " << e.what()
              << std::endl;
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << "poolnet " << app.get_subcommands().front()->get_name()
              << ": out of memory" << std::endl;
    return kExitUsage;
  }
  return 0;
}
