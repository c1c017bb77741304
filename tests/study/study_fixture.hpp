// Test data for the study: a small MNIST-format directory and small variant models.
#pragma once

#include <filesystem>
#include <string>

#include "poolnet/random.hpp"
#include "test_util.hpp"

namespace poolnet::testing {

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
