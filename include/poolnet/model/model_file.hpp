// Saved models: one file holding the architecture (Keras JSON) and the weights.
//
// Format (version 1, all integers little-endian; see docs/MODEL_FORMAT.md):
//   8 bytes   magic "PNMODEL\0"
//   u32       format version (1)
//   u32       header length H
//   H bytes   header, UTF-8 JSON: {"model": <model.to_json()>, "weights": [{"layer", "name",
//             "shape", "offset"}...], "data_bytes": N, "dtype": "float32", "byte_order": "little"}
//   N bytes   weights, float32 little-endian, at the header's offsets (relative to the data start)
//   u32       CRC-32 (zlib) of every preceding byte
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "poolnet/model/sequential.hpp"

namespace poolnet {

inline constexpr std::uint32_t kModelFormatVersion = 1;
inline constexpr std::size_t kMaxModelFileBytes = std::size_t{4} << 30;
inline constexpr std::size_t kMaxModelJsonBytes = std::size_t{64} << 20;

// Where a training run stands: saved with the model in a checkpoint.
struct TrainingState {
  int epochs_done = 0;
  nlohmann::json settings = nlohmann::json::object();  // the run's settings (seed, batch size, ...)
};

// Atomic: a crash mid-save leaves the previous file (or none), never a broken one.
void save_model(const Sequential& model, const std::string& path);

// A saved model, with bit-identical weights. FormatError naming the file and the field for a
// wrong magic, unknown version, truncated or corrupt file (checksum), weights that do not match
// the architecture, or non-finite weights.
Sequential load_model(const std::string& path);

// A model file that also holds the optimizer's slots and iteration count and `state` (header keys
// "optimizer" and "training"): everything fit() needs to continue bit-identically, since the
// per-epoch random streams derive from the seed and the epoch. Atomic like save_model.
void save_checkpoint(Sequential& model, const TrainingState& state, const std::string& path);

// The model (compiled, optimizer state restored) and the training state. FormatError as for
// load_model, and for a file without a checkpoint section.
std::pair<Sequential, TrainingState> load_checkpoint(const std::string& path);

// A Keras JSON architecture file (no weights: build() initialises them). ArgumentError for an
// unknown layer type or argument, FormatError for malformed JSON (with line and column).
Sequential load_model_json(const std::string& path);

// The same readers on bytes already in memory; `source` names them in errors (fuzzing, tests).
Sequential read_model(std::string_view bytes, const std::string& source);
std::pair<Sequential, TrainingState> read_checkpoint(std::string_view bytes, const std::string& source);
Sequential read_model_json(std::string_view text, const std::string& source);

// Either of the two, told apart by content.
Sequential load_model_any(const std::string& path);

// The model's JSON (model.to_json()), pretty-printed, written atomically.
void save_model_json(const Sequential& model, const std::string& path);

}  // namespace poolnet
