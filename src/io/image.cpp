// Grayscale images: PNG through libpng, PGM (P2/P5) by hand, box/bilinear resizing, atomic PNG
// writing.
//
// libpng reports errors by calling an error function that must not return; ours records the
// message and longjmps back to the setjmp in the small "step" function that called libpng. The
// step functions hold only trivially destructible locals (longjmp skips destructors), and every
// allocation lives in objects owned by their callers, above the setjmp frame. Those callers turn a
// failed step into a FormatError naming the file.
#include "io/image.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "poolnet/error.hpp"

namespace poolnet::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  std::string message = path;
  message += ": ";
  message += what;
  throw FormatError(message);
}

std::string errno_text() { return std::strerror(errno); }

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Opens `path` for reading: FormatError for a missing file, a directory, or an open failure.
File open_for_reading(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) fail(path, "no such file (expected a PNG or PGM image)");
  if (fs::is_directory(status)) fail(path, "is a directory, expected a PNG or PGM image");
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    std::string what = "cannot open: ";
    what += errno_text();
    fail(path, what);
  }
  return file;
}

std::string pixels_text(std::int64_t rows, std::int64_t cols) {
  std::string s = std::to_string(cols);
  s += 'x';
  s += std::to_string(rows);
  s += " = ";
  // Both are below 2^32 (PNG and PGM fields), so the unsigned product fits.
  s += std::to_string(static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols));
  s += " pixels";
  return s;
}

// Rows and cols are below 2^32: a PNG header's raw fields are checked here before libpng limits
// them to 2^31 (found by fuzz/png_fuzz.cpp: the product overflowed int64), so it is compared by
// division.
void check_image_size(const std::string& path, std::int64_t rows, std::int64_t cols) {
  if (rows < 1 || cols < 1) {
    std::string what = "image is ";
    what += std::to_string(cols);
    what += 'x';
    what += std::to_string(rows);
    what += ", expected at least 1x1";
    fail(path, what);
  }
  if (rows > kMaxImagePixels / cols) {
    std::string what = "image is ";
    what += pixels_text(rows, cols);
    what += ", more than the limit of ";
    what += std::to_string(kMaxImagePixels);
    fail(path, what);
  }
}

// ---------------------------------------------------------------------------------------------
// libpng plumbing

struct PngError {
  char message[512] = {};
};

void png_error_callback(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s",
                message != nullptr ? message : "unknown libpng error");
  png_longjmp(png, 1);
}

void png_warning_callback(png_structp, png_const_charp) {}

struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngError error;
  PngReader() {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, png_error_callback,
                                 png_warning_callback);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngReader() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
};

// Reads the header and sets up the transforms to 8-bit gray. Returns false on a libpng error.
bool png_read_header_step(PngReader* r, std::FILE* file, png_uint_32* width, png_uint_32* height) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_init_io(r->png, file);
  png_set_user_limits(r->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // our pixel limit applies
  png_read_info(r->png, r->info);
  *width = png_get_image_width(r->png, r->info);
  *height = png_get_image_height(r->png, r->info);
  return true;
}

bool png_setup_transforms_step(PngReader* r, int* channels, int* bit_depth, png_size_t* rowbytes) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  const png_byte color_type = png_get_color_type(r->png, r->info);
  const png_byte depth = png_get_bit_depth(r->png, r->info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
  if (depth == 16) png_set_scale_16(r->png);
  // Alpha (also from a palette's tRNS) is dropped, as PIL's convert('L') (Keras's load_img) does.
  png_set_strip_alpha(r->png);
  if ((color_type & PNG_COLOR_MASK_COLOR) != 0) {
    // ITU-R 601-2 luma weights (0.299, 0.587, 0.114) on the stored values, as PIL's
    // convert('L'): declaring both gammas linear keeps libpng from converting through linear
    // light when the file has a gAMA or sRGB chunk.
    png_set_gamma_fixed(r->png, PNG_FP_1, PNG_FP_1);
    png_set_rgb_to_gray_fixed(r->png, 1, 29900, 58700);
  }
  png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  *channels = png_get_channels(r->png, r->info);
  *bit_depth = png_get_bit_depth(r->png, r->info);
  *rowbytes = png_get_rowbytes(r->png, r->info);
  return true;
}

bool png_read_pixels_step(PngReader* r, png_bytepp rows) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_read_image(r->png, rows);
  png_read_end(r->png, nullptr);
  return true;
}

[[noreturn]] void fail_png(const std::string& path, const PngReader& r) {
  std::string what = "invalid PNG: ";
  what += r.error.message;
  if (std::strstr(r.error.message, "Read Error") != nullptr) {
    what += " (the file is truncated)";
  }
  fail(path, what);
}

// Deflate expands data at most 1032:1 and a PNG row holds at most 8 pixels per byte (1-bit
// gray), so a file of n bytes cannot hold more than 8 * 1032 * n pixels: a larger claim is
// refused before the pixel buffers are allocated. `file_size` is -1 when unknown.
void check_png_holds(const std::string& path, std::int64_t rows, std::int64_t cols,
                     std::int64_t file_size) {
  if (file_size < 0) return;
  const std::int64_t most = 8 * 1032 * file_size;
  if (rows * cols > most) {
    std::string what = "image is ";
    what += pixels_text(rows, cols);
    what += ", more than a PNG file of ";
    what += std::to_string(file_size);
    what += " bytes can hold (at most ";
    what += std::to_string(most);
    what += "; the file is truncated or its header is corrupt)";
    fail(path, what);
  }
}

Tensor read_png(const std::string& path, std::FILE* file, std::int64_t file_size) {
  PngReader r;
  if (r.png == nullptr || r.info == nullptr) fail(path, "cannot initialise libpng");
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  if (!png_read_header_step(&r, file, &width, &height)) fail_png(path, r);
  check_image_size(path, height, width);  // before anything is allocated for the pixels
  check_png_holds(path, height, width, file_size);
  int channels = 0;
  int bit_depth = 0;
  png_size_t rowbytes = 0;
  if (!png_setup_transforms_step(&r, &channels, &bit_depth, &rowbytes)) fail_png(path, r);
  if (channels != 1 || bit_depth != 8 || rowbytes != width) {
    std::string what = "cannot convert to 8-bit gray (libpng gives ";
    what += std::to_string(channels);
    what += " channels of ";
    what += std::to_string(bit_depth);
    what += " bits)";
    fail(path, what);
  }
  std::vector<png_byte> pixels(static_cast<std::size_t>(width) * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = pixels.data() + std::size_t{y} * width;
  if (!png_read_pixels_step(&r, rows.data())) fail_png(path, r);

  Tensor image(Shape{static_cast<std::int64_t>(height), static_cast<std::int64_t>(width)});
  float* out = image.data();
  for (std::size_t i = 0; i < pixels.size(); ++i) out[i] = static_cast<float>(pixels[i]) / 255.0f;
  return image;
}

// ---------------------------------------------------------------------------------------------
// PGM

class PgmParser {
 public:
  PgmParser(std::FILE* file, const std::string& path) : file_(file), path_(path) {}

  // Skips whitespace and '#' comments (to the end of the line).
  void skip_space() {
    while (true) {
      const int c = std::getc(file_);
      if (c == '#') {
        int d;
        do {
          d = std::getc(file_);
        } while (d != '\n' && d != '\r' && d != EOF);
      } else if (c == EOF || !std::isspace(c)) {
        if (c != EOF) std::ungetc(c, file_);
        return;
      }
    }
  }

  // A decimal number for `field` ("width", ...); errors about pixel values give their `index`.
  std::int64_t number(const char* field, std::int64_t index = -1) {
    std::string context;
    const auto where = [&]() -> const std::string& {
      if (index >= 0 && context.empty()) {
        context = " (pixel ";
        context += std::to_string(index);
        context += ")";
      }
      return context;
    };
    skip_space();
    int c = std::getc(file_);
    if (c == '-') {
      std::string what = "negative ";
      what += field;
      what += where();
      what += ", expected a non-negative decimal number";
      fail(path_, what);
    }
    if (c == EOF || !std::isdigit(c)) {
      std::string what = "expected ";
      what += field;
      what += where();
      what += " (a decimal number), found ";
      what += describe(c);
      fail(path_, what);
    }
    std::int64_t value = 0;
    while (c != EOF && std::isdigit(c)) {
      value = value * 10 + (c - '0');
      if (value > (std::int64_t{1} << 31)) {
        std::string what = field;
        what += where();
        what += " is too large (more than 2147483648)";
        fail(path_, what);
      }
      c = std::getc(file_);
    }
    if (c != EOF && !std::isspace(c) && c != '#') {
      std::string what = "expected whitespace after ";
      what += field;
      what += where();
      what += ", found ";
      what += describe(c);
      fail(path_, what);
    }
    if (c != EOF) std::ungetc(c, file_);
    return value;
  }

  bool at_eof() {
    skip_space();
    const int c = std::getc(file_);
    if (c == EOF) return true;
    std::ungetc(c, file_);
    return false;
  }

  static std::string describe(int c) {
    if (c == EOF) return "the end of the file";
    std::string s;
    if (std::isprint(c)) {
      s += '\'';
      s += static_cast<char>(c);
      s += '\'';
    } else {
      s += "byte ";
      s += std::to_string(c);
    }
    return s;
  }

 private:
  std::FILE* file_;
  const std::string& path_;
};

[[noreturn]] void fail_truncated(const std::string& path, std::int64_t expected, std::int64_t got,
                                 const char* unit) {
  std::string what = "pixel data truncated: expected ";
  what += std::to_string(expected);
  what += ' ';
  what += unit;
  what += ", the file holds ";
  what += std::to_string(got);
  fail(path, what);
}

[[noreturn]] void fail_above_maxval(const std::string& path, std::int64_t value,
                                    std::int64_t maxval, std::int64_t index, std::int64_t cols) {
  std::string what = "pixel value ";
  what += std::to_string(value);
  what += " at row ";
  what += std::to_string(index / cols);
  what += ", column ";
  what += std::to_string(index % cols);
  what += " is above maxval ";
  what += std::to_string(maxval);
  fail(path, what);
}

// `file_size` is -1 when unknown.
Tensor read_pgm(const std::string& path, std::FILE* file, std::int64_t file_size) {
  const int p = std::getc(file);
  const int kind = std::getc(file);
  if (p != 'P' || (kind != '2' && kind != '5')) fail(path, "not a PGM file (expected P2 or P5)");
  PgmParser parser(file, path);
  const std::int64_t cols = parser.number("width");
  const std::int64_t rows = parser.number("height");
  const std::int64_t maxval = parser.number("maxval");
  if (maxval < 1 || maxval > 65535) {
    std::string what = "maxval ";
    what += std::to_string(maxval);
    what += " is out of range, expected 1 to 65535";
    fail(path, what);
  }
  check_image_size(path, rows, cols);  // before anything is allocated for the pixels
  const std::int64_t count = rows * cols;
  const auto scale = static_cast<float>(maxval);

  if (kind == '2') {
    // The values are kept as they arrive, so a header claiming more pixels than the file holds
    // allocates no more than the file's size.
    std::vector<float> values;
    for (std::int64_t i = 0; i < count; ++i) {
      if (parser.at_eof()) fail_truncated(path, count, i, "pixel values");
      const std::int64_t v = parser.number("pixel value", i);
      if (v > maxval) fail_above_maxval(path, v, maxval, i, cols);
      values.push_back(static_cast<float>(v) / scale);
    }
    return Tensor(Shape{rows, cols}, values);
  }

  // P5: exactly one whitespace byte, then binary rows (16-bit big-endian when maxval > 255).
  const int sep = std::getc(file);
  if (sep == EOF || !std::isspace(sep)) {
    std::string what = "expected one whitespace byte after maxval, found ";
    what += PgmParser::describe(sep);
    fail(path, what);
  }
  const std::int64_t bytes_per = maxval > 255 ? 2 : 1;
  if (file_size >= 0) {
    // The pixel bytes must all be there before the image is allocated.
    const long at = std::ftell(file);
    const std::int64_t remaining = at < 0 ? 0 : std::max<std::int64_t>(file_size - at, 0);
    if (remaining < count * bytes_per) fail_truncated(path, count * bytes_per, remaining, "bytes");
  }
  Tensor image(Shape{rows, cols});
  float* out = image.data();
  std::vector<unsigned char> row(static_cast<std::size_t>(cols * bytes_per));
  for (std::int64_t y = 0; y < rows; ++y) {
    const std::size_t got = std::fread(row.data(), 1, row.size(), file);
    if (got < row.size()) {
      if (std::ferror(file)) {
        std::string what = "read error: ";
        what += errno_text();
        fail(path, what);
      }
      fail_truncated(path, count * bytes_per, y * cols * bytes_per + static_cast<std::int64_t>(got),
                     "bytes");
    }
    for (std::int64_t x = 0; x < cols; ++x) {
      const std::int64_t v = bytes_per == 1
                                 ? row[static_cast<std::size_t>(x)]
                                 : (std::int64_t{row[static_cast<std::size_t>(2 * x)]} << 8) |
                                       row[static_cast<std::size_t>(2 * x + 1)];
      if (v > maxval) fail_above_maxval(path, v, maxval, y * cols + x, cols);
      out[y * cols + x] = static_cast<float>(v) / scale;
    }
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// Resizing

// Output pixel i of an axis is sum over taps of weight * input[index].
struct Taps {
  std::vector<std::int64_t> start;  // out + 1 offsets into index/weight
  std::vector<std::int64_t> index;
  std::vector<double> weight;
};

Taps axis_taps(std::int64_t in, std::int64_t out) {
  Taps t;
  t.start.reserve(static_cast<std::size_t>(out + 1));
  t.start.push_back(0);
  for (std::int64_t i = 0; i < out; ++i) {
    if (in == out) {
      t.index.push_back(i);
      t.weight.push_back(1.0);
    } else if (out < in) {
      // Area average: output i covers input [i*in/out, (i+1)*in/out). In units of 1/out, input
      // pixel j covers [j*out, (j+1)*out) and output i covers [i*in, (i+1)*in); the overlaps are
      // exact integers and sum to `in`.
      const std::int64_t lo = i * in;
      const std::int64_t hi = (i + 1) * in;
      for (std::int64_t j = lo / out; j * out < hi; ++j) {
        const std::int64_t overlap = std::min(hi, (j + 1) * out) - std::max(lo, j * out);
        if (overlap > 0) {
          t.index.push_back(j);
          t.weight.push_back(static_cast<double>(overlap) / static_cast<double>(in));
        }
      }
    } else {
      // Bilinear with pixel centres aligned (half-pixel offsets), edges clamped.
      double src =
          (static_cast<double>(i) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
      src = std::clamp(src, 0.0, static_cast<double>(in - 1));
      const auto j0 = static_cast<std::int64_t>(std::floor(src));
      const std::int64_t j1 = std::min(j0 + 1, in - 1);
      const double f = src - static_cast<double>(j0);
      t.index.push_back(j0);
      t.weight.push_back(1.0 - f);
      if (f > 0.0 && j1 != j0) {
        t.index.push_back(j1);
        t.weight.push_back(f);
      }
    }
    t.start.push_back(static_cast<std::int64_t>(t.index.size()));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// PNG writing

struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngError error;
  PngWriter() {
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, png_error_callback,
                                  png_warning_callback);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngWriter() {
    if (png != nullptr) png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
};

// libpng's output callbacks for encoding into a std::string (the io pointer). A failed append
// becomes a libpng error; nothing with a destructor is alive when png_error longjmps.
void png_append_callback(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  bool appended = true;
  try {
    out->append(reinterpret_cast<const char*>(data), length);
  } catch (const std::exception&) {
    appended = false;
  }
  if (!appended) png_error(png, "out of memory while encoding");
}

void png_flush_callback(png_structp) {}

bool png_write_step(PngWriter* w, std::string* out, png_uint_32 width, png_uint_32 height,
                    png_bytepp rows) {
  if (setjmp(png_jmpbuf(w->png))) return false;
  png_set_write_fn(w->png, out, png_append_callback, png_flush_callback);
  png_set_IHDR(w->png, w->info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(w->png, w->info);
  png_write_image(w->png, rows);
  png_write_end(w->png, nullptr);
  return true;
}

}  // namespace

namespace {

// Reads an image from `file` (positioned at its start); `file_size` is -1 when unknown.
Tensor read_gray_image_stream(std::FILE* file, const std::string& path, std::int64_t file_size) {
  // The signature and, for a PNG, the IHDR chunk: its size is checked before libpng reads on.
  unsigned char head[24] = {};
  const std::size_t got = std::fread(head, 1, sizeof head, file);
  if (std::ferror(file)) {
    std::string what = "read error: ";
    what += errno_text();
    fail(path, what);
  }
  if (got == 0) fail(path, "file is empty, expected a PNG or PGM image");
  std::rewind(file);
  if (got >= 8 && png_sig_cmp(head, 0, 8) == 0) {
    if (got == 24 && std::memcmp(head + 12, "IHDR", 4) == 0) {
      const auto be32 = [&](int at) {
        return (std::int64_t{head[at]} << 24) | (std::int64_t{head[at + 1]} << 16) |
               (std::int64_t{head[at + 2]} << 8) | std::int64_t{head[at + 3]};
      };
      check_image_size(path, be32(20), be32(16));  // libpng checks the rest (CRC, ranges)
    }
    return read_png(path, file, file_size);
  }
  if (got >= 2 && head[0] == 'P' && (head[1] == '2' || head[1] == '5')) {
    return read_pgm(path, file, file_size);
  }
  std::string what = "not a PNG or PGM image (expected the PNG signature 89 50 4e 47 0d 0a 1a 0a ";
  what += "or a PGM header P2/P5)";
  if (got >= 2 && head[0] == 'P' && head[1] >= '1' && head[1] <= '7') {
    what += "; netpbm format P";
    what += static_cast<char>(head[1]);
    what += " is not supported, only gray PGM";
  } else if (head[0] == 0x89) {
    what += "; the PNG signature is damaged";
  }
  fail(path, what);
}

}  // namespace

Tensor read_gray_image(const std::string& path) {
  File file = open_for_reading(path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return read_gray_image_stream(file.get(), path, ec ? -1 : static_cast<std::int64_t>(size));
}

Tensor read_gray_image_bytes(std::string_view bytes, const std::string& source) {
  // glibc's fmemopen reads a buffer of size 0 as an empty stream; the buffer is only read.
  static char empty = 0;
  File file(::fmemopen(bytes.empty() ? &empty : const_cast<char*>(bytes.data()), bytes.size(), "rb"));
  if (!file) fail(source, "cannot open the bytes as a stream");
  return read_gray_image_stream(file.get(), source, static_cast<std::int64_t>(bytes.size()));
}

Tensor resize_gray(const Tensor& image, std::int64_t out_rows, std::int64_t out_cols) {
  if (image.rank() != 2) {
    std::string what = "resize_gray: expected a (rows, cols) image, got shape ";
    what += image.shape().to_string();
    throw ShapeError(what);
  }
  const std::int64_t in_rows = image.dim(0);
  const std::int64_t in_cols = image.dim(1);
  if (in_rows < 1 || in_cols < 1) {
    std::string what = "resize_gray: cannot resize an empty image of shape ";
    what += image.shape().to_string();
    throw ShapeError(what);
  }
  if (out_rows < 1 || out_cols < 1 || out_rows > kMaxImagePixels / out_cols) {
    std::string what = "resize_gray: output size (";
    what += std::to_string(out_rows);
    what += ", ";
    what += std::to_string(out_cols);
    what += ") must be at least (1, 1) and at most ";
    what += std::to_string(kMaxImagePixels);
    what += " pixels";
    throw ArgumentError(what);
  }
  const Taps row_taps = axis_taps(in_rows, out_rows);
  const Taps col_taps = axis_taps(in_cols, out_cols);

  // Columns first: (in_rows, out_cols), in double; then rows.
  std::vector<double> tmp(static_cast<std::size_t>(in_rows * out_cols));
  const float* in = image.data();
  for (std::int64_t r = 0; r < in_rows; ++r) {
    const float* src = in + r * in_cols;
    double* dst = tmp.data() + r * out_cols;
    for (std::int64_t c = 0; c < out_cols; ++c) {
      double sum = 0.0;
      for (std::int64_t k = col_taps.start[c]; k < col_taps.start[c + 1]; ++k) {
        sum += col_taps.weight[k] * static_cast<double>(src[col_taps.index[k]]);
      }
      dst[c] = sum;
    }
  }
  Tensor out(Shape{out_rows, out_cols});
  float* o = out.data();
  std::vector<double> acc(static_cast<std::size_t>(out_cols));
  for (std::int64_t r = 0; r < out_rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::int64_t k = row_taps.start[r]; k < row_taps.start[r + 1]; ++k) {
      const double w = row_taps.weight[k];
      const double* src = tmp.data() + row_taps.index[k] * out_cols;
      for (std::int64_t c = 0; c < out_cols; ++c) acc[c] += w * src[c];
    }
    for (std::int64_t c = 0; c < out_cols; ++c) o[r * out_cols + c] = static_cast<float>(acc[c]);
  }
  return out;
}

void write_gray_png(const std::string& path, const Tensor& image) {
  const bool gray_2d = image.rank() == 2;
  const bool gray_3d = image.rank() == 3 && image.dim(2) == 1;
  if (!gray_2d && !gray_3d) {
    throw ShapeError(path + ": write_gray_png expects a (rows, cols) or (rows, cols, 1) image, got shape " +
                     image.shape().to_string());
  }
  const std::int64_t rows = image.dim(0);
  const std::int64_t cols = image.dim(1);
  if (rows < 1 || cols < 1 || rows > kMaxImagePixels / cols) {
    throw ShapeError(path + ": write_gray_png: image shape " + image.shape().to_string() +
                     " must have at least 1x1 and at most " + std::to_string(kMaxImagePixels) +
                     " pixels");
  }
  std::vector<png_byte> pixels(static_cast<std::size_t>(rows * cols));
  const float* in = image.data();
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    const float v = in[i];
    const float clamped = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
    pixels[i] = static_cast<png_byte>(std::lround(clamped * 255.0f));
  }
  std::vector<png_bytep> row_pointers(static_cast<std::size_t>(rows));
  for (std::int64_t y = 0; y < rows; ++y) row_pointers[y] = pixels.data() + y * cols;

  PngWriter w;
  if (w.png == nullptr || w.info == nullptr) fail(path, "cannot initialise libpng");
  std::string encoded;
  if (!png_write_step(&w, &encoded, static_cast<png_uint_32>(cols), static_cast<png_uint_32>(rows),
                      row_pointers.data())) {
    fail(path, std::string("cannot write PNG: ") + w.error.message);
  }
  write_file_atomically(path, encoded);
}

}  // namespace poolnet::io
