// read_idx (plain and gzip IDX files, every type and rank, corrupt files) and
// load_mnist_directory (synthetic directories and, when installed, the real Fashion-MNIST).
#include "poolnet/data/idx.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::contains;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

// ---------------------------------------------------------------------------------------------
// Building IDX files by hand

void put_be(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}

// The 4-byte magic and the dims, big-endian.
std::string idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::string out;
  out += '\0';
  out += '\0';
  out += static_cast<char>(type);
  out += static_cast<char>(dims.size());
  for (std::uint32_t d : dims) put_be(out, d, 4);
  return out;
}

// Encodes `values` (each exactly representable in `type`) big-endian.
std::string idx_data(std::uint8_t type, const std::vector<double>& values) {
  std::string out;
  for (double v : values) {
    switch (type) {
      case 0x08:
        put_be(out, static_cast<std::uint8_t>(v), 1);
        break;
      case 0x09:
        put_be(out, static_cast<std::uint8_t>(static_cast<std::int8_t>(v)), 1);
        break;
      case 0x0B:
        put_be(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(v)), 2);
        break;
      case 0x0C:
        put_be(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)), 4);
        break;
      case 0x0D: {
        const auto f = static_cast<float>(v);
        std::uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        put_be(out, bits, 4);
        break;
      }
      default: {
        std::uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        put_be(out, bits, 8);
        break;
      }
    }
  }
  return out;
}

// Test values for element i of `type`: the type's extremes, negatives and fractions.
double test_value(std::uint8_t type, std::size_t i) {
  const auto k = static_cast<double>(i);
  switch (type) {
    case 0x08: {
      static const double kEdge[] = {0, 255, 1, 128, 254};
      return i < 5 ? kEdge[i] : std::fmod(k * 37, 256);
    }
    case 0x09: {
      static const double kEdge[] = {-128, 127, 0, -1, 1};
      return i < 5 ? kEdge[i] : std::fmod(k * 37, 256) - 128;
    }
    case 0x0B: {
      static const double kEdge[] = {-32768, 32767, 0, -1, 256};
      return i < 5 ? kEdge[i] : std::fmod(k * 4099, 65536) - 32768;
    }
    case 0x0C: {
      static const double kEdge[] = {-2147483648.0, 16777216, 0, -1, -16777215};
      return i < 5 ? kEdge[i] : std::fmod(k * 1000003, 16777216) - 8388608;
    }
    case 0x0D: {
      static const double kEdge[] = {-0.0, 3.4028234663852886e38, 1.401298464324817e-45, -1.5,
                                     std::numeric_limits<double>::infinity()};
      return i < 5 ? kEdge[i] : static_cast<double>(static_cast<float>(k * 0.37 - 3.1));
    }
    default: {
      static const double kEdge[] = {0.1, -2.5, 1e-310, 3.0e38,
                                     -std::numeric_limits<double>::infinity()};
      return i < 5 ? kEdge[i] : k * 0.37 - 3.1;
    }
  }
}

// gzip with zlib's gzopen/gzwrite.
void write_gz(const std::string& path, const std::string& bytes, const char* mode = "wb6") {
  gzFile gz = gzopen(path.c_str(), mode);
  ASSERT_NE(gz, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

std::string gzip_bytes(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir.path("scratch.gz");
  write_gz(path, bytes);
  return read_bytes(path);
}

// Expects FormatError from read_idx(path) whose message holds the path and every piece.
void expect_idx_error(const std::string& path, std::initializer_list<std::string_view> pieces) {
  testing::expect_format_error_naming(path, [&] { (void)read_idx(path); }, pieces);
}

// read_idx(path) must throw FormatError holding `piece` while the address space may grow by at
// most `budget` bytes: the reader must not allocate what the header claims before it has the
// data.
void expect_error_within_memory(const std::string& path, std::size_t budget,
                                const std::string& piece) {
  testing::expect_error_within_memory<FormatError>([&] { (void)read_idx(path); }, budget, piece);
}

constexpr std::array<std::uint8_t, 6> kTypes = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E};

const std::vector<std::vector<std::uint32_t>> kDimsByRank = {
    {7}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}, {1, 2, 1, 3, 2}};

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(IdxRead, RoundTripsEveryTypeAndRankPlainAndGzip) {
  const TempDir dir("poolnet_idx");
  for (std::uint8_t type : kTypes) {
    for (const auto& dims : kDimsByRank) {
      std::size_t count = 1;
      for (auto d : dims) count *= d;
      std::vector<double> values(count);
      for (std::size_t i = 0; i < count; ++i) values[i] = test_value(type, i);
      const std::string bytes = idx_header(type, dims) + idx_data(type, values);
      std::string name = "t";
      name += std::to_string(type);
      name += "_r";
      name += std::to_string(dims.size());
      const std::string plain = dir.path(name);
      const std::string gz = dir.path(name + ".gz");
      write_bytes(plain, bytes);
      write_gz(gz, bytes);
      for (const std::string& path : {plain, gz}) {
        SCOPED_TRACE(path);
        const IdxArray a = read_idx(path);
        ASSERT_EQ(a.dims.size(), dims.size());
        for (std::size_t i = 0; i < dims.size(); ++i) EXPECT_EQ(a.dims[i], dims[i]);
        ASSERT_EQ(a.values.size(), count);
        for (std::size_t i = 0; i < count; ++i) {
          const auto expected = static_cast<float>(values[i]);
          // Bitwise, so -0.0 and subnormals count.
          EXPECT_EQ(std::memcmp(&a.values[i], &expected, sizeof(float)), 0)
              << "element " << i << ": got " << a.values[i] << ", expected " << expected;
        }
      }
    }
  }
}

TEST(IdxRead, KeepsNaNAndReadsGzipByContentNotName) {
  const TempDir dir("poolnet_idx");
  const std::string bytes =
      idx_header(0x0D, {3}) + idx_data(0x0D, {std::numeric_limits<double>::quiet_NaN(), 1.0, -2.0});
  // A gzip file without .gz and a plain file named .gz.
  write_gz(dir.path("nogzsuffix"), bytes);
  write_bytes(dir.path("plain.gz"), bytes);
  for (const char* name : {"nogzsuffix", "plain.gz"}) {
    const IdxArray a = read_idx(dir.path(name));
    ASSERT_EQ(a.values.size(), 3u);
    EXPECT_TRUE(std::isnan(a.values[0]));
    EXPECT_EQ(a.values[1], 1.0f);
    EXPECT_EQ(a.values[2], -2.0f);
  }
}

TEST(IdxRead, ReadsConcatenatedGzipMembersAndEmptyArrays) {
  const TempDir dir("poolnet_idx");
  std::vector<double> values(100);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  const std::string bytes = idx_header(0x0B, {10, 10}) + idx_data(0x0B, values);
  // Split in the middle of the header and of an element: members are one stream.
  const std::string both = gzip_bytes(dir, bytes.substr(0, 7)) +
                           gzip_bytes(dir, bytes.substr(7, 100)) +
                           gzip_bytes(dir, bytes.substr(107));
  write_bytes(dir.path("members.gz"), both);
  const IdxArray a = read_idx(dir.path("members.gz"));
  ASSERT_EQ(a.values.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(a.values[i], static_cast<float>(i));

  write_bytes(dir.path("empty_array"), idx_header(0x08, {0, 28, 28}));
  const IdxArray e = read_idx(dir.path("empty_array"));
  EXPECT_EQ(e.dims, (std::vector<std::int64_t>{0, 28, 28}));
  EXPECT_TRUE(e.values.empty());
}

TEST(IdxRead, ReadsALargeGzipFileQuickly) {
  const TempDir dir("poolnet_idx");
  std::string data(2000 * 28 * 28, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7) % 251);
  write_gz(dir.path("big.gz"), idx_header(0x08, {2000, 28, 28}) + data, "wb1");
  const IdxArray a = read_idx(dir.path("big.gz"));
  ASSERT_EQ(a.values.size(), data.size());
  for (std::size_t i = 0; i < data.size(); i += 997) {
    EXPECT_EQ(a.values[i], static_cast<float>((i * 7) % 251));
  }
}

// ---------------------------------------------------------------------------------------------
// Corrupt files

TEST(IdxRead, CorruptHeadersAreFormatErrorsNamingTheProblem) {
  const TempDir dir("poolnet_idx");
  const std::string good_data = idx_data(0x08, {1, 2, 3});
  const auto file = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.path(name);
    write_bytes(path, bytes);
    return path;
  };
  std::string bad_magic = idx_header(0x08, {3}) + good_data;
  bad_magic[0] = 0x12;
  bad_magic[1] = 0x34;
  expect_idx_error(file("bad_magic", bad_magic), {"bad magic", "0x12 0x34", "0x00 0x00"});

  std::string bad_type = idx_header(0x08, {3}) + good_data;
  bad_type[2] = 0x0A;
  expect_idx_error(file("bad_type", bad_type),
                   {"bad type byte 0x0a", "0x08 (ubyte)", "0x0e (float64)"});

  expect_idx_error(file("rank0", idx_header(0x08, {})), {"bad rank 0", "expected 1 to 5"});
  expect_idx_error(file("rank6", idx_header(0x08, {1, 1, 1, 1, 1, 1}) + "\x01"),
                   {"bad rank 6", "expected 1 to 5"});
  expect_idx_error(file("header3", std::string("\0\0\x08", 3)),
                   {"header cut short", "holds 3 bytes", "at least 4"});
  expect_idx_error(file("header_dims", idx_header(0x08, {2, 3, 4}).substr(0, 10)),
                   {"header cut short", "rank 3 needs a header of 16 bytes", "holds 10"});
  expect_idx_error(file("empty", ""), {"the file is empty", "00 00 <type> <rank>"});
  expect_idx_error(file("huge_dim", idx_header(0x08, {0xFFFFFFFFu}) + good_data),
                   {"dimension 0 is 4294967295"});
}

TEST(IdxRead, DataThatDisagreesWithTheHeaderIsAFormatError) {
  const TempDir dir("poolnet_idx");
  const auto file = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.path(name);
    write_bytes(path, bytes);
    return path;
  };
  const std::string labels(12, '\x03');
  expect_idx_error(
      file("train-labels-idx1-ubyte", idx_header(0x08, {12}) + labels.substr(1)),
      {"header says 12 items of 1 byte (ubyte)", "the file holds 11 bytes after the header"});
  expect_idx_error(file("trailing", idx_header(0x08, {12}) + labels + "X"),
                   {"header says 12 items", "holds 13 bytes", "1 trailing byte after the data"});
  std::vector<double> floats(6, 1.0);
  expect_idx_error(file("float_short", idx_header(0x0D, {2, 3}) + idx_data(0x0D, floats).substr(1)),
                   {"header says (2, 3) = 6 items of 4 bytes (float32)", "holds 23 bytes"});
  expect_idx_error(file("f64_range", idx_header(0x0E, {2}) + idx_data(0x0E, {1.0, 1e300})),
                   {"float64 element 1", "out of float32 range"});

  // Gzip: the same checks on the decompressed data.
  const std::string short_gz = dir.path("short.gz");
  write_gz(short_gz, idx_header(0x08, {12}) + labels.substr(1));
  expect_idx_error(short_gz, {"header says 12 items", "the decompressed data holds 11 bytes"});
  const std::string long_gz = dir.path("long.gz");
  write_gz(long_gz, idx_header(0x08, {12}) + labels + "XY");
  expect_idx_error(long_gz, {"holds 14 bytes", "2 trailing bytes"});
  const std::string empty_gz = dir.path("empty.gz");
  write_gz(empty_gz, "");
  expect_idx_error(empty_gz, {"the decompressed data is empty"});
}

// Death-test suites run first, before other tests start threads (they fork a child).
TEST(IdxReadDeathTest, ElementCountsAboveTheLimitFailBeforeAllocating) {
  const TempDir dir("poolnet_idx");
  const auto file = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.path(name);
    write_bytes(path, bytes);
    return path;
  };
  // 2^32 elements, and a product that would overflow int64 if multiplied blindly.
  expect_idx_error(file("over_limit", idx_header(0x08, {65536, 65536}) + "abc"),
                   {"(65536, 65536)", "more than 2147483648 elements"});
  expect_idx_error(file("overflow", idx_header(0x0E, {2147483647u, 2147483647u, 2147483647u,
                                                      2147483647u, 2147483647u}) +
                                        "abc"),
                   {"more than 2147483648 elements"});
  // Exactly at the limit (2^31 float64 = 16 GiB) with a tiny file: the size check comes first.
  const std::string plain = file("at_limit", idx_header(0x0E, {32768, 65536}) + "abcd");
  expect_idx_error(plain, {"header says (32768, 65536) = 2147483648 items of 8 bytes",
                           "the file holds 4 bytes after the header"});
  const std::string gz = dir.path("at_limit.gz");
  write_gz(gz, idx_header(0x08, {32768, 65536}) + std::string(1000, 'x'));
  expect_idx_error(gz, {"2147483648 items of 1 byte", "the decompressed data holds 1000 bytes"});
  // And neither allocates what the header claims (8 GiB of floats) on the way.
  expect_error_within_memory(plain, std::size_t{256} << 20, "holds 4 bytes");
  expect_error_within_memory(gz, std::size_t{256} << 20, "holds 1000 bytes");
}

TEST(IdxReadDeathTest, GzipBombIsCutOffAtTheHeaderSize) {
  const TempDir dir("poolnet_idx");
  // A gzip file whose header claims 16 bytes but which inflates to 129 MiB: one member with the
  // header, then the same 1 MiB-of-zeros member repeated.
  const std::string zeros(std::size_t{1} << 20, '\0');
  std::string bomb = gzip_bytes(dir, idx_header(0x08, {16}) + zeros);
  const std::string member = gzip_bytes(dir, zeros);
  for (int i = 0; i < 128; ++i) bomb += member;
  const std::string path = dir.path("bomb.gz");
  write_bytes(path, bomb);
  EXPECT_LT(bomb.size(), std::size_t{1} << 20);
  expect_idx_error(path, {"header says 16 items", "more than", "trailing bytes after the data"});
  expect_error_within_memory(path, std::size_t{64} << 20, "trailing bytes");
}

TEST(IdxRead, BrokenGzipStreamsAreFormatErrors) {
  const TempDir dir("poolnet_idx");
  std::vector<double> values(500);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 256);
  const std::string gz = gzip_bytes(dir, idx_header(0x08, {500}) + idx_data(0x08, values));

  const std::string truncated = dir.path("truncated.gz");
  write_bytes(truncated, gz.substr(0, gz.size() - 10));
  expect_idx_error(truncated, {"gzip stream is truncated"});

  const std::string half = dir.path("half.gz");
  write_bytes(half, gz.substr(0, gz.size() / 2));
  expect_idx_error(half, {"gzip stream is truncated"});

  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0x5A);
  const std::string crc = dir.path("crc.gz");
  write_bytes(crc, bad_crc);
  expect_idx_error(crc, {"corrupt gzip data", "incorrect data check"});

  std::string bad_deflate = gz.substr(0, 10) + std::string(40, '\xff') + gz.substr(50);
  const std::string deflate = dir.path("deflate.gz");
  write_bytes(deflate, bad_deflate);
  expect_idx_error(deflate, {"corrupt gzip data"});

  const std::string garbage = dir.path("garbage_after.gz");
  write_bytes(garbage, gz + "junk");
  expect_idx_error(garbage, {"unexpected bytes after the end of the gzip stream"});

  const std::string only_magic = dir.path("only_magic.gz");
  write_bytes(only_magic, "\x1f\x8b");
  expect_idx_error(only_magic, {"gzip stream is truncated"});
}

TEST(IdxRead, MissingFilesAndDirectoriesAreFormatErrors) {
  const TempDir dir("poolnet_idx");
  expect_idx_error(dir.path("absent"), {"no such file"});
  std::filesystem::create_directory(dir.path("subdir"));
  expect_idx_error(dir.path("subdir"), {"is a directory"});
}

// ---------------------------------------------------------------------------------------------
// MNIST-format directories

std::string ubyte_idx(const std::vector<std::uint32_t>& dims, std::uint32_t seed) {
  std::size_t count = 1;
  for (auto d : dims) count *= d;
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<double>((i * 53 + seed) % 256);
  return idx_header(0x08, dims) + idx_data(0x08, values);
}

// Train: 3 images of 2x4, test: 2; train gzipped, test plain.
void write_tiny_mnist(const TempDir& dir) {
  write_gz(dir.path("train-images-idx3-ubyte.gz"), ubyte_idx({3, 2, 4}, 11));
  write_gz(dir.path("train-labels-idx1-ubyte.gz"),
           idx_header(0x08, {3}) + std::string("\x09\x00\x04", 3));
  write_bytes(dir.path("t10k-images-idx3-ubyte"), ubyte_idx({2, 2, 4}, 5));
  write_bytes(dir.path("t10k-labels-idx1-ubyte"), idx_header(0x08, {2}) + "\x07\x01");
}

void expect_mnist_error(const std::string& directory,
                        std::initializer_list<std::string_view> pieces) {
  SCOPED_TRACE(directory);
  testing::expect_throws<FormatError>([&] { (void)load_mnist_directory(directory); }, pieces);
}

TEST(MnistDirectory, LoadsATinySyntheticDirectory) {
  const TempDir dir("poolnet_mnist");
  write_tiny_mnist(dir);
  const MnistData data = load_mnist_directory(dir.path(""));
  ASSERT_EQ(data.train.images.shape(), (Shape{3, 2, 4, 1}));
  ASSERT_EQ(data.train.labels.shape(), (Shape{3}));
  ASSERT_EQ(data.test.images.shape(), (Shape{2, 2, 4, 1}));
  ASSERT_EQ(data.test.labels.shape(), (Shape{2}));
  for (std::int64_t i = 0; i < 24; ++i) {
    EXPECT_EQ(data.train.images[i], static_cast<float>((i * 53 + 11) % 256) / 255.0f) << i;
  }
  for (std::int64_t i = 0; i < 16; ++i) {
    EXPECT_EQ(data.test.images[i], static_cast<float>((i * 53 + 5) % 256) / 255.0f) << i;
  }
  EXPECT_EQ(data.train.labels.at({0}), 9.0f);
  EXPECT_EQ(data.train.labels.at({1}), 0.0f);
  EXPECT_EQ(data.train.labels.at({2}), 4.0f);
  EXPECT_EQ(data.test.labels.at({0}), 7.0f);
  EXPECT_EQ(data.test.labels.at({1}), 1.0f);
  for (float v : data.train.images.values()) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
}

TEST(MnistDirectory, MismatchedCountsAreFormatErrors) {
  const TempDir dir("poolnet_mnist");
  write_tiny_mnist(dir);
  write_gz(dir.path("train-labels-idx1-ubyte.gz"), idx_header(0x08, {2}) + "\x01\x02");
  expect_mnist_error(dir.path(""), {"train image and label counts differ", "3 images", "2 labels",
                                    "train-labels-idx1-ubyte.gz"});
}

TEST(MnistDirectory, WrongRanksTypesAndLabelsAreFormatErrors) {
  {
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-images-idx3-ubyte"), ubyte_idx({2, 8}, 1));
    expect_mnist_error(dir.path(""), {"t10k-images-idx3-ubyte", "rank 3 ubyte", "rank 2"});
  }
  {
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-images-idx3-ubyte"),
                idx_header(0x0D, {2, 2, 4}) + idx_data(0x0D, std::vector<double>(16, 0.5)));
    expect_mnist_error(dir.path(""), {"rank 3 ubyte", "float32"});
  }
  {
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-labels-idx1-ubyte"), idx_header(0x08, {2, 1}) + "\x01\x02");
    expect_mnist_error(dir.path(""), {"t10k-labels-idx1-ubyte", "rank 1"});
  }
  {
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-labels-idx1-ubyte"),
                idx_header(0x0C, {2}) + idx_data(0x0C, {3, 300}));
    expect_mnist_error(dir.path(""), {"label 1 is 300", "0 to 255"});
  }
  {
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-images-idx3-ubyte"), ubyte_idx({2, 4, 2}, 1));
    expect_mnist_error(dir.path(""), {"train and test images differ in size"});
  }
  {
    // A corrupt member file reports that file.
    const TempDir dir("poolnet_mnist");
    write_tiny_mnist(dir);
    write_bytes(dir.path("t10k-labels-idx1-ubyte"), idx_header(0x08, {2}) + "\x01");
    expect_mnist_error(dir.path(""), {"t10k-labels-idx1-ubyte", "holds 1 byte after the header"});
  }
}

TEST(MnistDirectory, MissingFilesSayWhatWasLookedFor) {
  const TempDir dir("poolnet_mnist");
  write_tiny_mnist(dir);
  std::filesystem::remove(dir.path("train-labels-idx1-ubyte.gz"));
  std::filesystem::remove(dir.path("t10k-images-idx3-ubyte"));
  expect_mnist_error(dir.path(""), {"missing train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
                                    "t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"});
  expect_mnist_error(dir.path("nowhere"),
                     {"nowhere", "no such directory", "train-images-idx3-ubyte[.gz]",
                      "t10k-labels-idx1-ubyte[.gz]"});
  write_bytes(dir.path("a_file"), "x");
  expect_mnist_error(dir.path("a_file"), {"a_file", "is not a directory"});
}

TEST(MnistDirectory, FashionMnistClassNames) {
  const std::vector<std::string> expected = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};
  EXPECT_EQ(fashion_mnist_class_names(), expected);
}

TEST(MnistDirectory, LoadsTheRealFashionMnistWhenInstalled) {
  if (!std::filesystem::is_directory(kDefaultFashionMnistDir)) {
    GTEST_SKIP() << kDefaultFashionMnistDir << " is not installed";
  }
  const auto start = std::chrono::steady_clock::now();
  const MnistData data = load_mnist_directory(kDefaultFashionMnistDir);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[          ] loaded Fashion-MNIST in " << seconds << " s\n";
  RecordProperty("load_seconds", std::to_string(seconds));
  ASSERT_EQ(data.train.images.shape(), (Shape{60000, 28, 28, 1}));
  ASSERT_EQ(data.train.labels.shape(), (Shape{60000}));
  ASSERT_EQ(data.test.images.shape(), (Shape{10000, 28, 28, 1}));
  ASSERT_EQ(data.test.labels.shape(), (Shape{10000}));
  for (const Dataset* d : {&data.train, &data.test}) {
    std::array<std::int64_t, 10> per_class{};
    for (float label : d->labels.values()) {
      ASSERT_EQ(label, std::floor(label));
      ASSERT_GE(label, 0.0f);
      ASSERT_LE(label, 9.0f);
      ++per_class[static_cast<std::size_t>(label)];
    }
    const std::int64_t expected = d->labels.size() / 10;
    for (std::size_t c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], expected) << "class " << c;
    float lo = 1.0f;
    float hi = 0.0f;
    for (float v : d->images.values()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_EQ(lo, 0.0f);
    EXPECT_EQ(hi, 1.0f);
  }
  // The first training image is an Ankle boot (label 9) in the published data set.
  EXPECT_EQ(data.train.labels.at({0}), 9.0f);
}

}  // namespace
}  // namespace poolnet
