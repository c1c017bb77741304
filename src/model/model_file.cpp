#include "poolnet/model/model_file.hpp"

#include <zlib.h>

#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/atomic_file.hpp"
#include "io/json_parse.hpp"
#include "io/json_numbers.hpp"
#include "poolnet/error.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

constexpr char kMagic[8] = {'P', 'N', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr std::size_t kPreamble = 16;  // magic + version + header length
constexpr std::size_t kTrailer = 4;    // CRC-32
constexpr std::uint32_t kMaxHeaderBytes = 64u << 20;

static_assert(std::endian::native == std::endian::little,
              "model files are little-endian; add byte swapping for this platform");

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

std::uint32_t get_u32(std::string_view bytes, std::size_t offset) {
  std::uint32_t v;
  std::memcpy(&v, bytes.data() + offset, 4);
  return v;
}

std::uint32_t crc32_of(const char* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace

namespace {

// Appends `t` to `data` and returns its header entry (shape and offset).
Json append_tensor(const Tensor& t, std::string& data) {
  Json entry = {{"shape", t.shape().to_vector()}, {"offset", data.size()}};
  data.append(reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.size()) * sizeof(float));
  return entry;
}

// The whole file. With `optimizer` and `state`, a checkpoint: the optimizer's slots follow the
// weights in the data section, and the header gains "optimizer" and "training".
void write_model_file(const Sequential& model, Optimizer* optimizer, const TrainingState* state,
                      const std::string& path) {
  if (!model.built()) throw ArgumentError("save_model: the model has no weights yet (build or fit it first)");
  Json weights = Json::array();
  std::string data;
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& layer = model.layer(i);
    for (const Parameter* p : layer.parameters()) {
      Json entry = append_tensor(p->value, data);
      entry["layer"] = layer.name();
      entry["name"] = p->name;
      weights.push_back(entry);
    }
  }
  Json header = {{"model", model.to_json()}, {"weights", weights}};
  if (optimizer != nullptr && state != nullptr) {
    Json slots = Json::array();
    for (const Tensor* slot : optimizer->slots()) slots.push_back(append_tensor(*slot, data));
    header["optimizer"] = {{"iterations", optimizer->iterations()}, {"slots", slots}};
    header["training"] = {{"epochs_done", state->epochs_done}, {"settings", state->settings}};
  }
  header["data_bytes"] = data.size();
  header["dtype"] = "float32";
  header["byte_order"] = "little";
  const std::string header_text = header.dump();
  std::string bytes(kMagic, sizeof kMagic);
  put_u32(bytes, kModelFormatVersion);
  put_u32(bytes, static_cast<std::uint32_t>(header_text.size()));
  bytes += header_text;
  bytes += data;
  put_u32(bytes, crc32_of(bytes.data(), bytes.size()));
  io::write_file_atomically(path, bytes);
}

}  // namespace

void save_model(const Sequential& model, const std::string& path) {
  write_model_file(model, nullptr, nullptr, path);
}

void save_checkpoint(Sequential& model, const TrainingState& state, const std::string& path) {
  if (!model.compiled()) throw ArgumentError("save_checkpoint: the model is not compiled");
  write_model_file(model, &model.optimizer(), &state, path);
}

namespace {

// Reads a model file; a checkpoint's optimizer slots and training state are restored into the
// model's optimizer and *state when `state` is given (and must then be present).
Sequential read_model_bytes(std::string_view bytes, const std::string& path, TrainingState* state) {
  auto fail = [&](const std::string& what) -> FormatError {
    return FormatError(path + ": " + what);
  };
  if (bytes.size() < kPreamble + kTrailer) {
    throw fail("too short for a poolnet model file (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw fail("not a poolnet model file (bad magic; expected \"PNMODEL\")");
  }
  const std::uint32_t version = get_u32(bytes, 8);
  if (version != kModelFormatVersion) {
    throw fail("model file format version " + std::to_string(version) +
               " is not supported (this poolnet reads version " +
               std::to_string(kModelFormatVersion) + ")");
  }
  const std::uint32_t header_bytes = get_u32(bytes, 12);
  if (header_bytes > kMaxHeaderBytes || header_bytes > bytes.size() - kPreamble - kTrailer) {
    throw fail("header length " + std::to_string(header_bytes) + " runs past the end of the " +
               std::to_string(bytes.size()) + "-byte file (truncated?)");
  }
  const std::uint32_t stored_crc = get_u32(bytes, bytes.size() - kTrailer);
  const std::uint32_t actual_crc = crc32_of(bytes.data(), bytes.size() - kTrailer);
  if (stored_crc != actual_crc) {
    throw fail("checksum mismatch (file is corrupt or truncated): stored CRC-32 " +
               std::to_string(stored_crc) + ", computed " + std::to_string(actual_crc));
  }
  Json header = io::parse_json(bytes.substr(kPreamble, header_bytes), path + ": header");
  if (!header.is_object() || !header.contains("model") || !header.contains("weights") ||
      !header["weights"].is_array() || !header.contains("data_bytes") ||
      !header["data_bytes"].is_number_unsigned()) {
    throw fail("header lacks \"model\", \"weights\" or \"data_bytes\"");
  }
  if (header.value("dtype", Json()) != "float32" || header.value("byte_order", Json()) != "little") {
    throw fail("only float32 little-endian weights are supported");
  }
  const std::size_t data_start = kPreamble + header_bytes;
  const std::size_t data_bytes = header["data_bytes"].get<std::size_t>();
  if (data_bytes != bytes.size() - data_start - kTrailer) {
    throw fail("header says " + std::to_string(data_bytes) + " bytes of weights, the file holds " +
               std::to_string(bytes.size() - data_start - kTrailer));
  }

  Sequential model = [&] {
    try {
      return Sequential::from_json(header["model"]);
    } catch (const Error& e) {
      throw fail(std::string("architecture: ") + e.what());
    }
  }();
  // Weight and model size limits apply here, before the weights are allocated.
  with_context(path + ": architecture", [&] { model.build(0); });

  std::map<std::pair<std::string, std::string>, Parameter*> params;
  for (std::size_t i = 0; i < model.size(); ++i) {
    for (Parameter* p : model.layer(i).parameters()) params[{model.layer(i).name(), p->name}] = p;
  }
  std::size_t covered = 0;
  for (const Json& w : header["weights"]) {
    if (!w.is_object() || !w.contains("layer") || !w["layer"].is_string() || !w.contains("name") ||
        !w["name"].is_string() || !w.contains("offset") || !w["offset"].is_number_unsigned() ||
        !w.contains("shape")) {
      throw fail("malformed weight entry " + w.dump().substr(0, 120));
    }
    const std::string layer = w["layer"].get<std::string>();
    const std::string name = w["name"].get<std::string>();
    const auto it = params.find({layer, name});
    if (it == params.end()) throw fail("weight '" + layer + "/" + name + "' matches no layer weight of the model");
    Parameter& p = *it->second;
    if (!w["shape"].is_array() || w["shape"] != Json(p.value.shape().to_vector())) {
      throw fail("weight '" + layer + "/" + name + "' has shape " + w["shape"].dump() +
                 ", the architecture needs " + p.value.shape().to_string());
    }
    const std::size_t offset = w["offset"].get<std::size_t>();
    const std::size_t size = static_cast<std::size_t>(p.value.size()) * sizeof(float);
    if (offset > data_bytes || size > data_bytes - offset) {
      throw fail("weight '" + layer + "/" + name + "' runs past the end of the weight data");
    }
    std::memcpy(p.value.data(), bytes.data() + data_start + offset, size);
    for (float v : p.value.values()) {
      if (!std::isfinite(v)) throw fail("weight '" + layer + "/" + name + "' holds a non-finite value");
    }
    covered += size;
    params.erase(it);
  }
  if (!params.empty()) {
    throw fail("no data for weight '" + params.begin()->first.first + "/" +
               params.begin()->first.second + "'");
  }
  if (header.contains("optimizer")) {
    const Json& opt = header["optimizer"];
    if (!opt.is_object() || !opt.contains("slots") || !opt["slots"].is_array() ||
        !opt.contains("iterations") || !opt["iterations"].is_number_unsigned() ||
        !header.contains("training") || !header["training"].is_object() ||
        !header["training"].contains("epochs_done") || !header["training"]["epochs_done"].is_number_unsigned()) {
      throw fail("malformed checkpoint section (\"optimizer\" / \"training\")");
    }
    std::vector<Tensor*> slots;
    if (state != nullptr) {
      if (!model.compiled()) throw fail("checkpoint has optimizer state but no compile_config");
      std::vector<Parameter*> trainable;
      for (Parameter* p : model.parameters())
        if (p->trainable) trainable.push_back(p);
      model.optimizer().build(trainable);
      slots = model.optimizer().slots();
      if (slots.size() != opt["slots"].size()) {
        throw fail("checkpoint has " + std::to_string(opt["slots"].size()) + " optimizer slots, " +
                   std::string(model.optimizer().name()) + " needs " + std::to_string(slots.size()));
      }
      model.optimizer().set_iterations(opt["iterations"].get<std::int64_t>());
      state->epochs_done = header["training"]["epochs_done"].get<int>();
      state->settings = header["training"].value("settings", Json::object());
    }
    for (std::size_t i = 0; i < opt["slots"].size(); ++i) {
      const Json& entry = opt["slots"][i];
      if (!entry.is_object() || !entry.contains("offset") || !entry["offset"].is_number_unsigned() ||
          !entry.contains("shape") || !entry["shape"].is_array()) {
        throw fail("malformed optimizer slot entry " + std::to_string(i));
      }
      const Shape shape(io::json_to_dims(entry["shape"], "optimizer slot shape"));
      const std::size_t offset = entry["offset"].get<std::size_t>();
      const std::size_t size = static_cast<std::size_t>(shape.elements()) * sizeof(float);
      if (offset > data_bytes || size > data_bytes - offset) {
        throw fail("optimizer slot " + std::to_string(i) + " runs past the end of the data");
      }
      if (!slots.empty()) {
        if (!(slots[i]->shape() == shape)) {
          throw fail("optimizer slot " + std::to_string(i) + " has shape " + shape.to_string() +
                     ", the model needs " + slots[i]->shape().to_string());
        }
        std::memcpy(slots[i]->data(), bytes.data() + data_start + offset, size);
      }
      covered += size;
    }
  } else if (state != nullptr) {
    throw fail("not a checkpoint (no optimizer state): it was saved by save_model, not by training with --checkpoint");
  }
  if (covered != data_bytes) throw fail("weight data has " + std::to_string(data_bytes - covered) + " unused bytes");
  return model;
}

}  // namespace

Sequential read_model(std::string_view bytes, const std::string& source) {
  return read_model_bytes(bytes, source, nullptr);
}

std::pair<Sequential, TrainingState> read_checkpoint(std::string_view bytes,
                                                     const std::string& source) {
  TrainingState state;
  Sequential model = read_model_bytes(bytes, source, &state);
  return {std::move(model), state};
}

Sequential read_model_json(std::string_view text, const std::string& source) {
  const Json json = io::parse_json(text, source);
  return with_context(source, [&] { return Sequential::from_json(json); });
}

Sequential load_model(const std::string& path) {
  return read_model(io::read_file(path, kMaxModelFileBytes), path);
}

std::pair<Sequential, TrainingState> load_checkpoint(const std::string& path) {
  return read_checkpoint(io::read_file(path, kMaxModelFileBytes), path);
}

Sequential load_model_json(const std::string& path) {
  return read_model_json(io::read_file(path, kMaxModelJsonBytes), path);
}

Sequential load_model_any(const std::string& path) {
  char head[sizeof kMagic] = {};
  std::ifstream in(path, std::ios::binary);
  if (in) in.read(head, sizeof head);
  if (in && std::memcmp(head, kMagic, sizeof kMagic) == 0) {
    return load_model(path);
  }
  // Keras JSON starts with '{' (after white space); anything else gets one message for both.
  in.clear();
  in.seekg(0);
  char first = '\0';
  while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
  }
  if (!in || first != '{') {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      throw FormatError(path + ": neither a poolnet model file (it would start with the magic "
                               "\"PNMODEL\") nor a Keras JSON model (a JSON object)");
    }
  }
  return load_model_json(path);
}

void save_model_json(const Sequential& model, const std::string& path) {
  io::write_file_atomically(path, model.to_json().dump(2) + "\n");
}

}  // namespace poolnet
