// `poolnet study`: trains the model variants in a directory of Keras JSON files on an
// MNIST-format data set and measures what their pooling does (accuracy, overfitting, cost,
// robustness to translation). Finished variants are kept and skipped on a re-run; an interrupted
// variant continues from its last epoch. docs/STUDY.md describes the method.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/error.hpp"
#include "poolnet/model/sequential.hpp"

namespace poolnet::study {

// How much work a study does. The named profiles are "quick" (make demo) and "full".
struct Profile {
  std::string name;
  int epochs = 0;
  std::int64_t train_images = 0;      // the first N training images; 0 = all
  double validation_split = 0.0;      // the last fraction of those, held out (Keras's rule)
  std::int64_t batch_size = 128;
  std::int64_t sweep_images = 0;      // the first N test images for the shift sweep; 0 = all
  std::int64_t train_eval_images = 0; // training images re-evaluated for the train/test gap; 0 = all
  int max_shift = 6;                  // pixels
};

// ArgumentError naming the known profiles for another name.
Profile profile_named(const std::string& name);

// The profile's settings as JSON (part of every variant's key).
nlohmann::json profile_to_json(const Profile& p);

struct VariantSpec {
  std::string name;        // the file name without .json: "max", "gap-head"
  std::string path;
  std::string json_bytes;  // the file as read (its checksum is part of the key)
  std::vector<std::int64_t> input_shape;  // the model's, without the batch: (28, 28, 1)
};

// Every *.json in `directory`, the baseline first, then by name. Each file must parse and build
// for 28x28x1 inputs (or whatever it declares); FormatError / ArgumentError name the file.
std::vector<VariantSpec> discover_variants(const std::string& directory, const std::string& baseline);

// Parses and builds a variant's model (compiled with Adam and sparse categorical crossentropy
// when its JSON has no compile_config). Errors name the file.
Sequential model_of(const VariantSpec& spec, std::uint64_t seed);

// CRC-32 (zlib) of a file's bytes, read in chunks. FormatError naming the file when unreadable.
std::uint32_t file_crc32(const std::string& path);
std::string hex32(std::uint32_t v);

// What a finished variant's numbers depend on: the model JSON's bytes, the data files' contents,
// the profile, seed, threads and poolnet's version. A re-run reuses a result only when its key is
// equal; a checkpoint is resumed only when its key is equal.
struct StudyInputs {
  nlohmann::json data;      // {file name: {"crc32", "bytes"}} for the data directory's files
  Profile profile;
  std::uint64_t seed = 1;
  int threads = 1;
};
nlohmann::json variant_key(const VariantSpec& spec, const StudyInputs& inputs);
nlohmann::json data_fingerprint(const std::string& data_dir);

struct ShiftPoint {
  int shift = 0;                     // pixels
  double accuracy = 0.0;             // mean over the 8 directions (one value for shift 0)
  double consistency = 0.0;          // fraction of images whose predicted class is unchanged
  std::vector<double> accuracy_by_direction;     // in shift_directions() order; empty for 0
  std::vector<double> consistency_by_direction;
};

struct VariantResult {
  std::string name;
  std::string model_name;
  std::string json_path;
  nlohmann::json key;
  std::int64_t params = 0;
  int epochs = 0;
  std::int64_t train_images = 0;     // used for training (after the validation split)
  double train_seconds = 0.0;        // sum of the epochs' times, over resumed runs too
  std::int64_t peak_rss_bytes = 0;   // see memory_method
  std::int64_t start_rss_bytes = 0;  // resident memory when the variant's training began
  std::string memory_method;
  double test_loss = 0.0;
  double test_accuracy = 0.0;
  std::int64_t test_images = 0;
  double train_loss = 0.0;           // inference mode (no dropout), on train_eval_images
  double train_accuracy = 0.0;
  std::int64_t train_eval_images = 0;
  std::int64_t sweep_images = 0;
  std::vector<EpochLogs> history;
  std::vector<ShiftPoint> shifts;
  bool resumed = false;              // continued from a checkpoint (not saved)
  bool reused = false;               // read back from an earlier run (not saved)

  double gap() const { return train_accuracy - test_accuracy; }
};

nlohmann::json result_to_json(const VariantResult& r);
// FormatError naming `where` for a malformed object.
VariantResult result_from_json(const nlohmann::json& j, const std::string& where);

struct StudyOptions {
  Profile profile;
  std::string data_dir;      // "" = Fashion-MNIST from Debian
  std::string variants_dir = "examples/study";
  std::string baseline = "max";
  std::string out_dir = "poolnet-study";
  std::uint64_t seed = 1;
  int threads = 0;           // 0 = all cores
  std::ostream* out = nullptr;  // progress and the table; nullptr = std::cout
  // Called after each epoch's checkpoint is saved; returning false stops the study there
  // (run_study throws StudyInterrupted), as an interruption would.
  std::function<bool(const std::string& variant, int epoch)> keep_going;
};

class StudyInterrupted : public Error {
 public:
  using Error::Error;
};

struct StudyResults {
  std::vector<VariantResult> variants;
  nlohmann::json settings;   // profile, seed, threads, data directory, machine
};

// Runs (or resumes, or reuses) every variant, then writes the report into options.out_dir.
StudyResults run_study(const StudyOptions& options);

// The terminal table.
std::string results_table(const StudyResults& results);

// <out>/variants/<name>/: checkpoint.pnet while training, model.pnet and result.json once done.
std::string variant_dir(const std::string& out_dir, const std::string& name);

}  // namespace poolnet::study
