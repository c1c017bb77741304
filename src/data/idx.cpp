// IDX files, plain or gzip (detected from the content), and MNIST-format directories.
//
// Both kinds of file are read as a stream of bytes (ByteSource). The header is checked field by
// field before anything is allocated for the data; the data then arrives in chunks that are
// converted from big-endian to float as they come. A plain file's size is checked against the
// header first, so a file that claims more than it holds fails before allocating. A gzip file's
// decompressed size is unknown up front, so the value buffer grows with the data actually
// decompressed, bounded by deflate's maximum ratio for the compressed size and never beyond the
// header's element count: a gzip bomb (or a tiny file claiming 2^31 elements) cannot make the
// reader allocate more than the header implies.
#include "poolnet/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "poolnet/error.hpp"

namespace poolnet {
namespace {

struct IdxType {
  std::uint8_t code;
  int size;  // bytes per element
  const char* name;
};

constexpr std::array<IdxType, 6> kIdxTypes = {{
    {0x08, 1, "ubyte"},
    {0x09, 1, "sbyte"},
    {0x0B, 2, "int16"},
    {0x0C, 4, "int32"},
    {0x0D, 4, "float32"},
    {0x0E, 8, "float64"},
}};

const IdxType* find_type(std::uint8_t code) {
  for (const IdxType& t : kIdxTypes) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

std::string hex_byte(unsigned value) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  s += kDigits[(value >> 4) & 0xF];
  s += kDigits[value & 0xF];
  return s;
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  std::string s = std::to_string(n);
  s += ' ';
  s += n == 1 ? one : many;
  return s;
}

// "<path>: <what>"
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  std::string message = path;
  message += ": ";
  message += what;
  throw FormatError(message);
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// A stream of bytes: the file itself or the data decompressed from it.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes into dst; returns fewer only at the end of the data.
  virtual std::size_t read(std::uint8_t* dst, std::size_t n) = 0;
  // "the file" or "the decompressed data", for messages.
  virtual const char* holder() const = 0;
};

class PlainSource final : public ByteSource {
 public:
  PlainSource(std::FILE* file, const std::string& path) : file_(file), path_(path) {}

  std::size_t read(std::uint8_t* dst, std::size_t n) override {
    const std::size_t got = std::fread(dst, 1, n, file_);
    if (got < n && std::ferror(file_)) {
      std::string what = "read error: ";
      what += std::strerror(errno);
      fail(path_, what);
    }
    return got;
  }
  const char* holder() const override { return "the file"; }

 private:
  std::FILE* file_;
  const std::string& path_;
};

// gzip (RFC 1952), one or more concatenated members, CRC and length checked by zlib.
class GzipSource final : public ByteSource {
 public:
  GzipSource(std::FILE* file, const std::string& path) : file_(file), path_(path), in_(kInChunk) {
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail(path_, "cannot initialise zlib");
  }
  ~GzipSource() override { inflateEnd(&zs_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  const char* holder() const override { return "the decompressed data"; }

  std::size_t read(std::uint8_t* dst, std::size_t n) override {
    std::size_t got = 0;
    while (got < n && !finished_) {
      if (zs_.avail_in == 0) refill();
      const std::size_t want = std::min<std::size_t>(n - got, std::size_t{1} << 30);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      const std::size_t produced = want - zs_.avail_out;
      got += produced;
      if (ret == Z_STREAM_END) {
        end_of_member();
      } else if (ret == Z_OK || ret == Z_BUF_ERROR) {
        if (produced == 0 && zs_.avail_in == 0 && input_eof_) {
          fail(path_,
               "gzip stream is truncated (the compressed data ends before the end of the stream)");
        }
      } else if (ret == Z_MEM_ERROR) {
        throw std::bad_alloc();
      } else {
        std::string what = "corrupt gzip data (zlib: ";
        if (zs_.msg != nullptr) {
          what += zs_.msg;
        } else {
          what += "error ";
          what += std::to_string(ret);
        }
        what += ")";
        fail(path_, what);
      }
    }
    return got;
  }

 private:
  static constexpr std::size_t kInChunk = std::size_t{1} << 18;

  void refill() {
    if (input_eof_) return;
    const std::size_t got = std::fread(in_.data(), 1, in_.size(), file_);
    if (got < in_.size()) {
      if (std::ferror(file_)) {
        std::string what = "read error: ";
        what += std::strerror(errno);
        fail(path_, what);
      }
      input_eof_ = true;
    }
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(got);
  }

  // A member ended (its CRC and length matched). Another member may follow; anything else is
  // an error.
  void end_of_member() {
    if (zs_.avail_in == 0) refill();
    if (zs_.avail_in == 0) {
      finished_ = true;
      return;
    }
    if (zs_.next_in[0] != 0x1f || (zs_.avail_in >= 2 && zs_.next_in[1] != 0x8b) ||
        (zs_.avail_in < 2 && input_eof_)) {
      fail(path_,
           "unexpected bytes after the end of the gzip stream (expected another gzip "
           "member starting 1f 8b, or the end of the file)");
    }
    if (inflateReset(&zs_) != Z_OK) fail(path_, "cannot reset zlib");
  }

  std::FILE* file_;
  const std::string& path_;
  std::vector<Bytef> in_;
  z_stream zs_{};
  bool input_eof_ = false;
  bool finished_ = false;
};

struct IdxHeader {
  const IdxType* type = nullptr;
  std::vector<std::int64_t> dims;
  std::int64_t count = 0;
};

// "(60000, 28, 28) = 47040000 items of 1 byte" or "60000 items of 1 byte" for rank 1.
std::string describe_size(const IdxHeader& h) {
  std::string s;
  if (h.dims.size() > 1) {
    s += dims_to_string(h.dims);
    s += " = ";
  }
  s += plural(h.count, "item", "items");
  s += " of ";
  s += plural(h.type->size, "byte", "bytes");
  s += " (";
  s += h.type->name;
  s += ")";
  return s;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

IdxHeader read_header(ByteSource& src, const std::string& path) {
  std::uint8_t magic[4];
  const std::size_t got = src.read(magic, 4);
  if (got == 0) {
    std::string what = src.holder();
    what += " is empty (expected an IDX header starting 00 00 <type> <rank>)";
    fail(path, what);
  }
  if (got < 4) {
    std::string what = "header cut short: ";
    what += src.holder();
    what += " holds ";
    what += plural(static_cast<std::int64_t>(got), "byte", "bytes");
    what += ", an IDX header needs at least 4 (magic 00 00 <type> <rank>)";
    fail(path, what);
  }
  if (magic[0] != 0 || magic[1] != 0) {
    std::string what = "bad magic: ";
    what += src.holder();
    what += " starts ";
    what += hex_byte(magic[0]);
    what += ' ';
    what += hex_byte(magic[1]);
    what += ", an IDX file starts 0x00 0x00 (is this an IDX file?)";
    fail(path, what);
  }
  IdxHeader h;
  h.type = find_type(magic[2]);
  if (h.type == nullptr) {
    std::string what = "bad type byte ";
    what += hex_byte(magic[2]);
    what += " in the magic number, expected one of";
    for (const IdxType& t : kIdxTypes) {
      what += ' ';
      what += hex_byte(t.code);
      what += " (";
      what += t.name;
      what += ")";
    }
    fail(path, what);
  }
  const int rank = magic[3];
  if (rank < 1 || rank > kMaxRank) {
    std::string what = "bad rank ";
    what += std::to_string(rank);
    what += " in the magic number (its 4th byte), expected 1 to ";
    what += std::to_string(kMaxRank);
    fail(path, what);
  }
  std::uint8_t dim_bytes[4 * kMaxRank];
  const std::size_t need = 4 * static_cast<std::size_t>(rank);
  const std::size_t got_dims = src.read(dim_bytes, need);
  if (got_dims < need) {
    std::string what = "header cut short: rank ";
    what += std::to_string(rank);
    what += " needs a header of ";
    what += std::to_string(4 + need);
    what += " bytes, ";
    what += src.holder();
    what += " holds ";
    what += std::to_string(4 + got_dims);
    fail(path, what);
  }
  bool any_zero = false;
  for (int i = 0; i < rank; ++i) {
    const std::uint32_t d = be32(dim_bytes + 4 * i);
    if (d > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
      std::string what = "dimension ";
      what += std::to_string(i);
      what += " is ";
      what += std::to_string(d);
      what += ", more than an IDX dimension can be (at most 2147483647; a corrupt header?)";
      fail(path, what);
    }
    h.dims.push_back(d);
    any_zero = any_zero || d == 0;
  }
  // Each dim is below 2^31 and the running product is checked after every step, so it never
  // overflows.
  std::int64_t count = any_zero ? 0 : 1;
  for (std::size_t i = 0; i < h.dims.size() && count != 0; ++i) {
    count *= h.dims[i];
    if (count > kMaxIdxElements) {
      std::string what = "header dims ";
      what += dims_to_string(h.dims);
      what += " hold more than ";
      what += std::to_string(kMaxIdxElements);
      what += " elements (the limit for an IDX array)";
      fail(path, what);
    }
  }
  h.count = count;
  return h;
}

// Appends n big-endian elements of `type` from raw to out.
void convert(const IdxType& type, const std::uint8_t* raw, std::size_t n, float* out,
             const std::string& path, std::int64_t first_index) {
  switch (type.code) {
    case 0x08:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(raw[i]);
      break;
    case 0x09:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<std::int8_t>(raw[i]));
      break;
    case 0x0B:
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = static_cast<std::uint16_t>((raw[2 * i] << 8) | raw[2 * i + 1]);
        out[i] = static_cast<float>(static_cast<std::int16_t>(v));
      }
      break;
    case 0x0C:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<float>(static_cast<std::int32_t>(be32(raw + 4 * i)));
      }
      break;
    case 0x0D:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t bits = be32(raw + 4 * i);
        std::memcpy(&out[i], &bits, sizeof bits);
      }
      break;
    case 0x0E:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t bits = (std::uint64_t{be32(raw + 8 * i)} << 32) | be32(raw + 8 * i + 4);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        if (std::isfinite(d) &&
            std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
          std::string what = "float64 element ";
          what += std::to_string(first_index + static_cast<std::int64_t>(i));
          what += " (";
          what += std::to_string(d);
          what += ") is out of float32 range";
          fail(path, what);
        }
        out[i] = static_cast<float>(d);
      }
      break;
    default:
      fail(path, "internal error: unhandled IDX type");
  }
}

// "header says ..., the file holds N bytes after the header"
[[noreturn]] void fail_size(const std::string& path, const IdxHeader& h, const ByteSource& src,
                            const std::string& held) {
  std::string what = "header says ";
  what += describe_size(h);
  what += ", ";
  what += src.holder();
  what += " holds ";
  what += held;
  what += " after the header";
  fail(path, what);
}

// Where the values go. begin() is told how many elements are safe to allocate now (`reserve`,
// at most the header's count: all of it for a plain file whose size matched, less for a gzip
// file too small to hold it all); append() then hands out room for the values as they arrive.
class ValueSink {
 public:
  virtual ~ValueSink() = default;
  virtual void begin(const IdxHeader& h, std::int64_t reserve) = 0;
  // Room for n more values; the values so far plus n never exceed the header's count.
  virtual float* append(std::int64_t n) = 0;
  // The n values at p (from the last append) are written.
  virtual void written(float* /*p*/, std::int64_t /*n*/) {}
};

// Into an IdxArray, growing geometrically from `reserve` but never past the header's count.
class ArraySink : public ValueSink {
 public:
  explicit ArraySink(IdxArray& out) : out_(out) {}
  void begin(const IdxHeader& h, std::int64_t reserve) override {
    out_.dims = h.dims;
    count_ = h.count;
    out_.values.reserve(static_cast<std::size_t>(reserve));
  }
  float* append(std::int64_t n) override {
    std::vector<float>& values = out_.values;
    const std::size_t old_size = values.size();
    const std::size_t new_size = old_size + static_cast<std::size_t>(n);
    if (new_size > values.capacity()) {
      const auto doubled = static_cast<std::int64_t>(2 * values.capacity());
      values.reserve(static_cast<std::size_t>(
          std::min(count_, std::max(doubled, static_cast<std::int64_t>(new_size)))));
    }
    values.resize(new_size);
    return values.data() + old_size;
  }

 private:
  IdxArray& out_;
  std::int64_t count_ = 0;
};

// Reads and checks `path`, sending the values to `sink`; returns the element type.
const IdxType* read_idx_stream(std::FILE* file, const std::string& path, std::int64_t file_size,
                               ValueSink& sink);

const IdxType* read_idx_into(const std::string& path, ValueSink& sink) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    fail(path, "no such file (expected an IDX file, plain or gzip)");
  }
  if (fs::is_directory(status)) fail(path, "is a directory, expected an IDX file");

  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    std::string what = "cannot open: ";
    what += std::strerror(errno);
    fail(path, what);
  }
  // Plain file size when known (regular files), to check the header's claim before allocating.
  std::int64_t file_size = -1;
  if (fs::is_regular_file(status)) {
    const auto size = fs::file_size(path, ec);
    if (!ec) file_size = static_cast<std::int64_t>(size);
  }
  return read_idx_stream(file.get(), path, file_size, sink);
}

// `file_size` is -1 when unknown (a pipe).
const IdxType* read_idx_stream(std::FILE* file, const std::string& path,
                               std::int64_t file_size, ValueSink& sink) {
  std::uint8_t first[2] = {0, 0};
  const std::size_t got_first = std::fread(first, 1, 2, file);
  const bool gzip = got_first == 2 && first[0] == 0x1f && first[1] == 0x8b;
  std::rewind(file);

  std::unique_ptr<ByteSource> src;
  if (gzip) {
    src = std::make_unique<GzipSource>(file, path);
  } else {
    src = std::make_unique<PlainSource>(file, path);
  }
  const IdxHeader h = read_header(*src, path);
  const auto elem = static_cast<std::int64_t>(h.type->size);
  const std::int64_t data_bytes = h.count * elem;  // <= 2^31 * 8, no overflow
  const std::int64_t header_bytes = 4 + 4 * static_cast<std::int64_t>(h.dims.size());

  std::int64_t reserve = h.count;
  if (!gzip && file_size >= 0) {
    const std::int64_t held = file_size - header_bytes;
    if (held != data_bytes) {
      std::string what = plural(held, "byte", "bytes");
      if (held > data_bytes) {
        what += " (";
        what += plural(held - data_bytes, "trailing byte", "trailing bytes");
        what += " after the data)";
      }
      fail_size(path, h, *src, what);
    }
  } else if (gzip && file_size >= 0) {
    // Deflate cannot expand data by more than about 1032:1; reserve no more than that could hold.
    const std::int64_t max_bytes = file_size * 1032 + 1024;
    reserve = std::min(reserve, max_bytes / elem);
  } else {
    reserve = std::min<std::int64_t>(reserve, std::int64_t{1} << 20);
  }
  sink.begin(h, reserve);

  constexpr std::int64_t kChunkBytes = std::int64_t{1} << 20;  // a multiple of every element size
  std::vector<std::uint8_t> chunk(
      static_cast<std::size_t>(std::min(kChunkBytes, std::max<std::int64_t>(data_bytes, 8))));
  std::int64_t done = 0;  // elements read
  while (done < h.count) {
    const std::int64_t want_elems = std::min(h.count - done, kChunkBytes / elem);
    const auto want = static_cast<std::size_t>(want_elems * elem);
    const std::size_t got = src->read(chunk.data(), want);
    const auto got_elems = static_cast<std::int64_t>(got) / elem;
    if (got_elems > 0) {
      float* out = sink.append(got_elems);
      convert(*h.type, chunk.data(), static_cast<std::size_t>(got_elems), out, path, done);
      sink.written(out, got_elems);
      done += got_elems;
    }
    if (got < want) {
      const std::int64_t held = done * elem + (static_cast<std::int64_t>(got) % elem);
      fail_size(path, h, *src, plural(held, "byte", "bytes"));
    }
  }
  // Nothing may follow the data.
  std::uint8_t extra[4096];
  const std::size_t extra_got = src->read(extra, 1);
  if (extra_got > 0) {
    // Count a bounded amount of the excess for the message (a bomb is not decompressed).
    std::int64_t trailing = 1;
    constexpr std::int64_t kCountLimit = std::int64_t{1} << 20;
    while (trailing < kCountLimit) {
      const std::size_t more = src->read(extra, sizeof extra);
      trailing += static_cast<std::int64_t>(more);
      if (more < sizeof extra) break;
    }
    std::string held = trailing >= kCountLimit ? "more than " : "";
    held += plural(data_bytes + trailing, "byte", "bytes");
    held += " (";
    held += trailing >= kCountLimit ? "at least " : "";
    held += plural(trailing, "trailing byte", "trailing bytes");
    held += " after the data)";
    fail_size(path, h, *src, held);
  }
  return h.type;
}

std::string join_path(const std::string& directory, const std::string& name) {
  return (std::filesystem::path(directory) / name).string();
}

struct MnistFile {
  const char* name;
  std::string path;  // empty when missing
};

bool is_integer_type(const IdxType& t) {
  return t.code == 0x08 || t.code == 0x09 || t.code == 0x0B || t.code == 0x0C;
}

// MNIST images: straight into a (count, rows, cols, 1) tensor, scaled by 1/255, when the file is
// a rank 3 ubyte array that may be allocated whole; otherwise into an IdxArray (which the caller
// then rejects or converts).
class ImageSink : public ValueSink {
 public:
  void begin(const IdxHeader& h, std::int64_t reserve) override {
    dims = h.dims;
    if (h.dims.size() == 3 && h.type->code == 0x08 && reserve == h.count) {
      images = Tensor(Shape{h.dims[0], h.dims[1], h.dims[2], 1});
      direct = true;
    } else {
      fallback.begin(h, reserve);
    }
  }
  float* append(std::int64_t n) override {
    if (!direct) return fallback.append(n);
    float* p = images.data() + written_;
    written_ += n;
    return p;
  }
  void written(float* p, std::int64_t n) override {
    if (direct) {
      for (std::int64_t i = 0; i < n; ++i) p[i] /= 255.0f;
    }
  }
  // The (count, rows, cols, 1) tensor, whichever way the values came.
  Tensor take() {
    if (direct) return std::move(images);
    Tensor t(Shape{dims[0], dims[1], dims[2], 1});
    float* out = t.data();
    for (std::size_t i = 0; i < array.values.size(); ++i) out[i] = array.values[i] / 255.0f;
    return t;
  }

  std::vector<std::int64_t> dims;
  IdxArray array;

 private:
  bool direct = false;
  Tensor images;
  std::int64_t written_ = 0;
  ArraySink fallback{array};
};

Dataset load_split(const std::string& images_path, const std::string& labels_path,
                   const char* split) {
  // ", the file holds a rank 2 float array (3, 4)".
  const auto holds = [](const std::vector<std::int64_t>& dims, const IdxType& type) {
    return ", the file holds a rank " + std::to_string(dims.size()) + ' ' + type.name + " array " +
           dims_to_string(dims);
  };
  ImageSink images;
  const IdxType* images_type = read_idx_into(images_path, images);
  if (images.dims.size() != 3 || images_type->code != 0x08) {
    fail(images_path, split + std::string(" images must be a rank 3 ubyte (0x08) array (count, rows, cols)") +
                          holds(images.dims, *images_type));
  }
  IdxArray labels;
  ArraySink labels_sink(labels);
  const IdxType* labels_type = read_idx_into(labels_path, labels_sink);
  if (labels.dims.size() != 1 || !is_integer_type(*labels_type)) {
    fail(labels_path, split + std::string(" labels must be a rank 1 integer (ubyte) array (count,)") +
                          holds(labels.dims, *labels_type));
  }
  const std::int64_t count = images.dims[0];
  if (labels.dims[0] != count) {
    std::string what = split;
    what += " image and label counts differ: ";
    what += images_path;
    what += " holds ";
    what += plural(count, "image", "images");
    what += ", ";
    what += labels_path;
    what += " holds ";
    what += plural(labels.dims[0], "label", "labels");
    fail(labels_path, what);
  }
  for (std::size_t i = 0; i < labels.values.size(); ++i) {
    const float v = labels.values[i];
    if (v < 0.0f || v > 255.0f) {
      std::string what = split;
      what += " label ";
      what += std::to_string(i);
      what += " is ";
      what += std::to_string(static_cast<std::int64_t>(v));
      what += ", expected a class index 0 to 255";
      fail(labels_path, what);
    }
  }
  Dataset d;
  d.images = images.take();
  d.labels = Tensor(Shape{count}, labels.values);
  return d;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  IdxArray result;
  ArraySink sink(result);
  read_idx_into(path, sink);
  return result;
}

IdxArray read_idx_bytes(std::string_view bytes, const std::string& source) {
  // glibc's fmemopen reads a buffer of size 0 as an empty stream; the buffer is only read.
  static char empty = 0;
  File file(::fmemopen(bytes.empty() ? &empty : const_cast<char*>(bytes.data()), bytes.size(), "rb"));
  if (!file) fail(source, "cannot open the bytes as a stream");
  IdxArray result;
  ArraySink sink(result);
  read_idx_stream(file.get(), source, static_cast<std::int64_t>(bytes.size()), sink);
  return result;
}

MnistData load_mnist_directory(const std::string& directory) {
  namespace fs = std::filesystem;
  static const char* const kNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  const auto looked_for = [] {
    std::string s;
    for (int i = 0; i < 4; ++i) {
      s += i ? ", " : "";
      s += kNames[i];
      s += "[.gz]";
    }
    return s;
  };
  std::error_code ec;
  const fs::file_status status = fs::status(directory, ec);
  if (ec || !fs::exists(status)) {
    std::string what = "no such directory (looked for an MNIST-format directory holding ";
    what += looked_for();
    what += ")";
    fail(directory, what);
  }
  if (!fs::is_directory(status)) {
    std::string what = "is not a directory (expected an MNIST-format directory holding ";
    what += looked_for();
    what += ")";
    fail(directory, what);
  }
  std::string paths[4];
  std::string missing;
  for (int i = 0; i < 4; ++i) {
    const std::string plain = join_path(directory, kNames[i]);
    std::string gz = plain;
    gz += ".gz";
    if (fs::is_regular_file(plain, ec)) {
      paths[i] = plain;
    } else if (fs::is_regular_file(gz, ec)) {
      paths[i] = gz;
    } else {
      missing += missing.empty() ? "" : ", ";
      missing += kNames[i];
      missing += " (looked for ";
      missing += plain;
      missing += " and ";
      missing += gz;
      missing += ")";
    }
  }
  if (!missing.empty()) {
    std::string what = "not an MNIST-format directory: missing ";
    what += missing;
    fail(directory, what);
  }
  MnistData data;
  data.train = load_split(paths[0], paths[1], "train");
  data.test = load_split(paths[2], paths[3], "test");
  if (data.train.images.dim(1) != data.test.images.dim(1) ||
      data.train.images.dim(2) != data.test.images.dim(2)) {
    std::string what = "train and test images differ in size: ";
    what += std::to_string(data.train.images.dim(1));
    what += 'x';
    what += std::to_string(data.train.images.dim(2));
    what += " in ";
    what += paths[0];
    what += ", ";
    what += std::to_string(data.test.images.dim(1));
    what += 'x';
    what += std::to_string(data.test.images.dim(2));
    what += " in ";
    what += paths[2];
    fail(directory, what);
  }
  return data;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> kNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};
  return kNames;
}

}  // namespace poolnet
