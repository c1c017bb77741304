// IDX files (the MNIST family's format), plain or gzip-compressed, and MNIST-format data sets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "poolnet/tensor.hpp"

namespace poolnet {

// An IDX file's contents: the dims from its header and the values as float (unsigned bytes stay
// 0..255; no scaling here).
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<float> values;
};

inline constexpr std::int64_t kMaxIdxElements = std::int64_t{1} << 31;

// Reads an IDX file; gzip is detected from the content (magic 1f 8b), not the name. Every header
// field is checked: magic (0x00 0x00, type byte 0x08/0x09/0x0B/0x0C/0x0D/0x0E, rank 1-5), each
// dimension, the element count against kMaxIdxElements and against the data actually present.
// Throws FormatError naming the file and the field ("train-labels-idx1-ubyte.gz: header says
// 60000 items of 1 byte, the file holds 59999 after the header").
IdxArray read_idx(const std::string& path);
// The same on bytes in memory (fuzzing, tests); `source` names them in errors.
IdxArray read_idx_bytes(std::string_view bytes, const std::string& source);

// An MNIST-format directory: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
struct Dataset {
  Tensor images;  // (count, rows, cols, 1), values / 255 in [0, 1]
  Tensor labels;  // (count,), class indices as floats
};

struct MnistData {
  Dataset train;
  Dataset test;
};

// Loads and cross-checks (image count == label count, labels < 256, rank 3 images). FormatError
// with the path otherwise. A missing directory or file says which one and what was looked for.
MnistData load_mnist_directory(const std::string& directory);

// Debian's dataset-fashion-mnist location.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's class names, index 0-9.
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace poolnet
