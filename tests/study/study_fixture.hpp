// Test data for the study: a small MNIST-format directory and small variant models.
#pragma once

#include <filesystem>
#include <string>

#include "poolnet/random.hpp"
#include "test_util.hpp"

namespace poolnet::testing {

inline std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A small MNIST-format directory: 28x28 images whose class is the row of a bright bar.
inline void write_mnist(const std::string& dir, std::int64_t train, std::int64_t test) {
  std::filesystem::create_directories(dir);
  Rng rng(3);
  auto write = [&](const std::string& prefix, std::int64_t n) {
    std::string images = be32(0x00000803) + be32(static_cast<std::uint32_t>(n)) + be32(28) + be32(28);
    std::string labels = be32(0x00000801) + be32(static_cast<std::uint32_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const auto label = static_cast<int>(rng.below(10));
      labels += static_cast<char>(label);
      for (int r = 0; r < 28; ++r)
        for (int c = 0; c < 28; ++c) {
          const bool bar = r / 3 == label && c > 3 && c < 24;
          images += static_cast<char>(bar ? 200 + rng.below(55) : rng.below(60));
        }
    }
    testing::write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", images);
    testing::write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  };
  write("train", train);
  write("t10k", test);
}

// Small variants so that a whole study takes a fraction of a second per epoch.
inline std::string small_model(const std::string& pooling, double dropout) {
  const std::string head =
      pooling == "GlobalAveragePooling2D"
          ? R"({"class_name": "Conv2D", "config": {"filters": 10, "kernel_size": 3, "padding": "same"}},
               {"class_name": "GlobalAveragePooling2D", "config": {}},
               {"class_name": "Activation", "config": {"activation": "softmax"}})"
          : R"({"class_name": ")" + pooling + R"(", "config": {"pool_size": 2}},
               {"class_name": "Flatten", "config": {}},
               {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}})";
  return R"({"class_name": "Sequential", "config": {"name": "small", "layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1]}},
      {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
      {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
      {"class_name": "Dropout", "config": {"rate": )" + std::to_string(dropout) + R"(}},
      )" + head + "]}}";
}

}  // namespace poolnet::testing
