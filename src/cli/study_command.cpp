#include "cli/study_command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/model_commands.hpp"
#include "study/study.hpp"

namespace poolnet::cli {

CLI::App* add_study_subcommand(CLI::App& app, StudyArgs& args) {
  CLI::App* study = app.add_subcommand(
      "study", "Train the pooling variants in examples/study on Fashion-MNIST, measure accuracy, "
               "overfitting, cost and translation robustness, and write a report (HTML, Markdown, "
               "CSV, JSON, PNG figures)");
  study->add_option("--data-dir", args.data_dir,
                    "MNIST-format directory (default: /usr/share/datasets/fashion-mnist)");
  study->add_option("--profile", args.profile, "quick (make demo, minutes) or full (to convergence)")
      ->capture_default_str()->check(CLI::IsMember({"quick", "full"}));
  study->add_option("--out", args.out, "Report directory; finished variants there are reused")->capture_default_str();
  study->add_option("--variants", args.variants, "Directory of Keras model JSON files, one per variant")
      ->capture_default_str();
  study->add_option("--baseline", args.baseline, "The variant listed first and compared against")
      ->capture_default_str();
  study->add_option("--seed", args.seed, "Seed for weights, shuffling and dropout")->capture_default_str();
  study->add_option("--threads", args.threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  study->add_option("--epochs", args.epochs, "Override the profile's epochs")->check(CLI::PositiveNumber);
  study->add_option("--train-images", args.train_images,
                    "Override the profile's training images (validation split included)")
      ->check(CLI::PositiveNumber);
  study->add_option("--sweep-images", args.sweep_images, "Override the profile's test images for the shift sweep")
      ->check(CLI::PositiveNumber);
  return study;
}

int run_study(const StudyArgs& args, std::ostream& out) {
  study::StudyOptions options;
  options.profile = study::profile_named(args.profile);
  if (args.epochs) options.profile.epochs = *args.epochs;
  if (args.train_images) options.profile.train_images = *args.train_images;
  if (args.sweep_images) options.profile.sweep_images = *args.sweep_images;
  options.data_dir = args.data_dir;
  options.variants_dir = args.variants;
  options.baseline = args.baseline;
  options.out_dir = args.out;
  options.seed = args.seed;
  options.threads = set_threads(args.threads);
  options.out = &out;
  study::run_study(options);
  return 0;
}

}  // namespace poolnet::cli
