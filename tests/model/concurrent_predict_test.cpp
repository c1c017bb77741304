// predict is const: several threads may share one loaded model. Each thread's results must equal
// the serial ones bit for bit (the build-tsan run checks the same test for data races).
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "poolnet/model/model_file.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

TEST(ConcurrentPredict, ThreadsSharingOneLoadedModelGetTheSerialResults) {
  const testing::TempDir dir;
  {
    Sequential model = load_model_json(std::string(POOLNET_SOURCE_DIR) + "/examples/keras_convnet.json");
    model.build(7);
    save_model(model, dir.path("convnet.pnet"));
  }
  const Sequential model = load_model(dir.path("convnet.pnet"));
  constexpr int kThreads = 4;
  std::vector<Tensor> inputs;
  std::vector<Tensor> serial;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(testing::random_tensor(Shape{6, 28, 28, 1}, static_cast<std::uint32_t>(t), 0.0f, 1.0f));
    serial.push_back(model.predict(inputs.back(), 2));
  }
  // Every round of every thread is compared (a race shows up in some rounds, not all).
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 8; ++round) {
        const Tensor p = model.predict(inputs[t], 2);
        if (!(p.shape() == serial[t].shape()) ||
            std::memcmp(p.data(), serial[t].data(), serial[t].values().size_bytes()) != 0) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace poolnet
