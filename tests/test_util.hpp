// Helpers shared by the tests: random tensors and layout transposes, shapes and pooling specs,
// central differences, text and exception checks, temporary directories and files, and running
// the poolnet program.
#pragma once

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "poolnet/random.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet::testing {

// Uniform values in [lo, hi), reproducible from `seed`.
inline Tensor random_tensor(const Shape& shape, std::uint32_t seed, float lo = -1.0f,
                            float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(shape);
  for (float& v : t.values()) v = dist(rng);
  return t;
}

// Distinct values (a random permutation of 0..n-1, scaled), so max pooling has no ties and
// finite differences never cross a tie.
inline Tensor random_distinct_tensor(const Shape& shape, std::uint32_t seed, float scale = 0.01f) {
  std::vector<float> values(static_cast<std::size_t>(shape.elements()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * scale;
  std::mt19937 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  for (float& v : values) v -= static_cast<float>(values.size()) * scale / 2;
  return Tensor(shape, values);
}

// (batch, s1..sn, channels) <-> (batch, channels, s1..sn) for a rank n+2 tensor.
inline Tensor transpose_layout(const Tensor& t, DataFormat from) {
  const int rank = t.rank();
  const std::int64_t batch = t.dim(0);
  const std::int64_t channels = from == DataFormat::kChannelsLast ? t.dim(-1) : t.dim(1);
  std::int64_t spatial = 1;
  std::vector<std::int64_t> dims{batch};
  if (from == DataFormat::kChannelsLast) {
    dims.push_back(channels);
    for (int i = 1; i < rank - 1; ++i) {
      dims.push_back(t.dim(i));
      spatial *= t.dim(i);
    }
  } else {
    for (int i = 2; i < rank; ++i) {
      dims.push_back(t.dim(i));
      spatial *= t.dim(i);
    }
    dims.push_back(channels);
  }
  Tensor out{Shape(dims)};
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t s = 0; s < spatial; ++s)
      for (std::int64_t c = 0; c < channels; ++c) {
        const std::int64_t last = (b * spatial + s) * channels + c;
        const std::int64_t first = (b * channels + c) * spatial + s;
        if (from == DataFormat::kChannelsLast) {
          out[first] = t[last];
        } else {
          out[last] = t[first];
        }
      }
  return out;
}

// (batch, spatial..., channels) for channels_last, (batch, channels, spatial...) for
// channels_first.
inline Shape make_shape(std::int64_t batch, const std::vector<std::int64_t>& spatial,
                        std::int64_t channels, DataFormat format) {
  std::vector<std::int64_t> dims{batch};
  if (format == DataFormat::kChannelsFirst) dims.push_back(channels);
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  if (format == DataFormat::kChannelsLast) dims.push_back(channels);
  return Shape(dims);
}

// A PoolSpec with every field given.
inline PoolSpec pool_spec(PoolOp op, int rank, bool global, std::vector<std::int64_t> window,
                          std::vector<std::int64_t> strides, Padding padding, DataFormat format) {
  PoolSpec spec;
  spec.op = op;
  spec.spatial_rank = rank;
  spec.global = global;
  spec.window = std::move(window);
  spec.strides = std::move(strides);
  spec.padding = padding;
  spec.data_format = format;
  return spec;
}

// Windowed pooling. `rank` is given, not taken from window.size(), so that specs whose lengths
// disagree with their rank can be built too.
inline PoolSpec windowed_spec(PoolOp op, int rank, std::vector<std::int64_t> window,
                              std::vector<std::int64_t> strides, Padding padding = Padding::kValid,
                              DataFormat format = DataFormat::kChannelsLast) {
  return pool_spec(op, rank, false, std::move(window), std::move(strides), padding, format);
}

// Global pooling: no window or strides.
inline PoolSpec global_spec(PoolOp op, int rank, DataFormat format = DataFormat::kChannelsLast) {
  return pool_spec(op, rank, true, {}, {}, Padding::kValid, format);
}

// sum(y * w) in double: the objective whose gradient with respect to y is w.
inline double weighted_sum(const Tensor& y, const Tensor& w) {
  double s = 0.0;
  for (std::int64_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * w[i];
  return s;
}

// d objective / d t[i] for every element of `t` by central differences: t[i] is set to the float
// values x + h and x - h in turn (and restored), and the step actually taken after float
// rounding divides.
inline std::vector<double> central_differences(Tensor& t, const std::function<double()>& objective,
                                               float h) {
  std::vector<double> grad(static_cast<std::size_t>(t.size()));
  for (std::int64_t i = 0; i < t.size(); ++i) {
    const float x = t[i];
    const float plus = x + h, minus = x - h;
    t[i] = plus;
    const double fp = objective();
    t[i] = minus;
    const double fm = objective();
    t[i] = x;
    grad[static_cast<std::size_t>(i)] = (fp - fm) / (static_cast<double>(plus) - minus);
  }
  return grad;
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Expects `message` (an exception's) to contain every piece; `note` ends each failure message.
inline void expect_contains_all(std::string_view message,
                                std::initializer_list<std::string_view> pieces,
                                std::string_view note = {}) {
  for (std::string_view piece : pieces) {
    EXPECT_NE(message.find(piece), std::string_view::npos)
        << "message lacks \"" << piece << "\": " << message << note;
  }
}

// The message of the std::exception that f() throws, or "(no exception)".
template <typename F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

// Runs fn and expects it to throw E whose message contains every piece; `note` ends each failure
// message. Returns the message, or nullopt (after a failure) when fn threw nothing or another type.
template <typename E, typename Fn>
std::optional<std::string> expect_throws(Fn&& fn, std::initializer_list<std::string_view> pieces,
                                         std::string_view note = {}) {
  try {
    std::forward<Fn>(fn)();
  } catch (const E& e) {
    expect_contains_all(e.what(), pieces, note);
    return std::string(e.what());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what() << note;
    return std::nullopt;
  }
  ADD_FAILURE() << "no exception" << note;
  return std::nullopt;
}

// Expects FormatError from fn whose message names the file `path` and contains every piece.
template <typename Fn>
void expect_format_error_naming(const std::string& path, Fn&& fn,
                                std::initializer_list<std::string_view> pieces) {
  SCOPED_TRACE(path);
  const std::optional<std::string> message = expect_throws<FormatError>(std::forward<Fn>(fn), pieces);
  if (message) {
    EXPECT_TRUE(contains(*message, path)) << "message lacks the path: " << *message;
  }
}

// Sanitizers reserve terabytes of address space for their shadow memory, so a limit on the
// address space cannot be used under them (the fuzzers' malloc limit covers those builds).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Limits this process's address space to its current size plus `budget` bytes (for a child).
inline void limit_address_space(std::size_t budget) {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const rlim_t limit = pages * page + budget;
  const rlimit rl{limit, limit};
  ::setrlimit(RLIMIT_AS, &rl);
}

// fn() must throw E holding `piece` while the address space may grow by at most `budget` bytes:
// a reader must refuse a size claim before allocating what it claims. Runs in a forked child (a
// death test) so the limit does not affect other tests; without the limit under sanitizers.
template <typename E = Error, typename Fn>
void expect_error_within_memory(Fn&& fn, std::size_t budget, const std::string& piece) {
  EXPECT_EXIT(
      {
        if (!kSanitized) limit_address_space(budget);
        int code = 1;
        try {
          fn();
          std::cerr << "no error\n";
        } catch (const E& e) {
          code = contains(e.what(), piece) ? 0 : 2;
          std::cerr << e.what() << "\n";
        } catch (const std::bad_alloc&) {
          code = 3;
          std::cerr << "bad_alloc: allocated more than the data present\n";
        } catch (const std::exception& e) {
          code = 4;
          std::cerr << e.what() << "\n";
        }
        std::_Exit(code);
      },
      ::testing::ExitedWithCode(0), "");
}

// Writes `bytes` to `path` (created or truncated), binary.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The whole file at `path`, binary.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh directory under the system temp dir (named `prefix`_pid_random), removed with its
// contents on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "poolnet_test") {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            (std::string(prefix) + '_' + std::to_string(::getpid()) + '_' + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` in the directory (the file need not exist).
  std::string path(const std::string& name) const { return (path_ / name).string(); }

  // Writes `contents` to the file `name` in the directory and returns its path.
  std::string file(const std::string& name, const std::string& contents) const {
    std::ofstream out(path(name));
    out << contents;
    return path(name);
  }

 private:
  std::filesystem::path path_;
};

// Where run_command puts the program's stderr.
enum class StderrTo {
  kErr,     // into CommandResult::err, apart from stdout
  kStdout,  // into CommandResult::out, merged with stdout (2>&1); err stays empty
};

struct CommandResult {
  int exit_code = -1;  // -1 when the program did not exit normally
  std::string out;     // stdout (and stderr with StderrTo::kStdout)
  std::string err;     // stderr with StderrTo::kErr
};

#ifdef POOLNET_CLI
// Runs the poolnet program (POOLNET_CLI) with `args`, which the shell reads (quote paths), and
// waits for it to finish.
inline CommandResult run_command(const std::string& args, StderrTo stderr_to = StderrTo::kErr) {
  const TempDir dir("poolnet_run_command");
  const std::string err_path = dir.path("stderr.txt");
  std::string command = std::string("'") + POOLNET_CLI + "' " + args;
  command += stderr_to == StderrTo::kErr ? " 2>'" + err_path + "'" : std::string(" 2>&1");
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return result;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (stderr_to == StderrTo::kErr) {
    std::ifstream err(err_path);
    std::ostringstream text;
    text << err.rdbuf();
    result.err = text.str();
  }
  return result;
}
#endif  // POOLNET_CLI

// Big-endian 32-bit field of an IDX header.
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

}  // namespace poolnet::testing
