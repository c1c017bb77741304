// A steady-state training step performs no heap allocation.
//
// Every allocation poolnet makes goes through operator new (Tensor's storage uses the aligned
// form), and this file replaces the global operator new/delete of the test binary with versions
// that count calls. fit() over 6 batches must then allocate exactly as often as fit() over 2
// batches of the same model: steps 3 to 6 allocate nothing. (OpenMP's and OpenBLAS's own
// bookkeeping uses malloc directly and is not counted; it does not grow per step either.)
// Sanitizer runtimes define operator new/delete themselves (TSan's cannot be replaced at all, and
// replacing ASan's would blind it to new/delete mismatches), so sanitizer builds skip this file;
// the normal build runs it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "poolnet/layers/conv.hpp"
#include "poolnet/layers/core.hpp"
#include "poolnet/layers/pooling.hpp"
#include "poolnet/model/model_file.hpp"
#include "poolnet/model/sequential.hpp"
#include "test_util.hpp"

namespace {

std::atomic<std::int64_t> g_allocations{0};

}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define POOLNET_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define POOLNET_UNDER_SANITIZER 1
#endif
#endif

#ifndef POOLNET_UNDER_SANITIZER
#define POOLNET_COUNTS_ALLOCATIONS 1
namespace {

void* counted_allocation(std::size_t bytes) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}

void* counted_aligned_allocation(std::size_t bytes, std::align_val_t alignment) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto align = static_cast<std::size_t>(alignment);
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + align - 1) / align * align;
  if (void* p = std::aligned_alloc(align, rounded)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t bytes) { return counted_allocation(bytes); }
void* operator new[](std::size_t bytes) { return counted_allocation(bytes); }
void* operator new(std::size_t bytes, std::align_val_t alignment) {
  return counted_aligned_allocation(bytes, alignment);
}
void* operator new[](std::size_t bytes, std::align_val_t alignment) {
  return counted_aligned_allocation(bytes, alignment);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

namespace poolnet {
namespace {

using testing::random_tensor;

constexpr std::int64_t kBatch = 8;

// Labels 0..9 as floats.
Tensor labels(std::int64_t n) {
  Tensor y(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(i % 10);
  return y;
}

// The counting operator new exists only outside sanitizer builds (see the top of the file).
#ifdef POOLNET_COUNTS_ALLOCATIONS
#define POOLNET_SKIP_UNLESS_COUNTING() (void)0
#else
#define POOLNET_SKIP_UNLESS_COUNTING() GTEST_SKIP() << "sanitizer build: operator new is the sanitizer's"
#endif

// Operator-new calls made by one fit() of a fresh model over `steps` full batches.
template <typename MakeModel>
std::int64_t allocations_during_fit(const MakeModel& make_model, std::int64_t steps) {
  Sequential model = make_model();
  model.compile(make_optimizer("adam"), make_loss("sparse_categorical_crossentropy"));
  std::vector<std::int64_t> dims{steps * kBatch};
  dims.insert(dims.end(), model.input_shape().begin(), model.input_shape().end());
  const Tensor x = random_tensor(Shape(dims), 7);
  const Tensor y = labels(steps * kBatch);
  FitOptions options;
  options.batch_size = kBatch;
  options.epochs = 1;
  options.seed = 3;
  options.verbosity = Verbosity::kSilent;
  const std::int64_t before = g_allocations.load();
  (void)model.fit(x, y, options);
  return g_allocations.load() - before;
}

TEST(TrainAllocation, CounterSeesTensorsAndContainers) {
  POOLNET_SKIP_UNLESS_COUNTING();
  const std::int64_t before = g_allocations.load();
  { const Tensor t(Shape{4, 4}); }
  EXPECT_EQ(g_allocations.load() - before, 1);
  { std::vector<float> v(3); }
  EXPECT_EQ(g_allocations.load() - before, 2);
}

TEST(TrainAllocation, ExampleConvNetStepsAllocateNothing) {
  POOLNET_SKIP_UNLESS_COUNTING();
  const auto make = [] {
    return load_model_json(std::string(POOLNET_SOURCE_DIR) + "/examples/keras_convnet.json");
  };
  // A first fit warms what outlives a model (the pooling kernels' per-thread scratch).
  (void)allocations_during_fit(make, 1);
  const std::int64_t two = allocations_during_fit(make, 2);
  const std::int64_t six = allocations_during_fit(make, 6);
  EXPECT_GT(two, 0);  // the first step allocates the buffers
  EXPECT_EQ(six, two) << "4 extra training steps made " << six - two << " heap allocations";
}

// The other layer kinds and the channels_first paths (transposes, Flatten's reordering).
// (Average pooling is left out: its kernel in src/pooling/fast.cpp still allocates a per-thread
// sum buffer per call; the pooling kernels are being rewritten separately.)
TEST(TrainAllocation, ChannelsFirstAndActivationLayersAllocateNothing) {
  POOLNET_SKIP_UNLESS_COUNTING();
  const auto make = [] {
    Sequential model;
    model.set_input_shape({2, 12, 12});
    model.emplace<Conv2D>(4, IntOrTuple(3), 1, "same", "channels_first");
    model.emplace<ActivationLayer>("tanh");
    model.emplace<MaxPooling2D>(2, std::nullopt, "valid", "channels_first");
    model.emplace<Conv2D>(3, IntOrTuple(1), 1, "valid", "channels_first", 1, "relu");
    model.emplace<MaxPooling2D>(2, std::nullopt, "valid", "channels_first");
    model.emplace<Dropout>(0.5);
    model.emplace<Flatten>("channels_first");
    model.emplace<Dense>(10, "softmax");
    return model;
  };
  // A first fit warms what outlives a model (the pooling kernels' per-thread scratch).
  (void)allocations_during_fit(make, 1);
  const std::int64_t two = allocations_during_fit(make, 2);
  const std::int64_t six = allocations_during_fit(make, 6);
  EXPECT_EQ(six, two) << "4 extra training steps made " << six - two << " heap allocations";
}

}  // namespace
}  // namespace poolnet
