// read_gray_image (PNG of every color type and depth, PGM P2/P5, malformed files), resize_gray,
// and write_gray_png (round trip, atomic replacement, no temporary files left behind).
#include "io/image.hpp"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
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
// PNG files of any color type and bit depth, written with libpng directly.

struct RawPng {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 8;
  int color_type = PNG_COLOR_TYPE_GRAY;
  bool interlaced = false;
  bool srgb_gamma = false;  // a gAMA chunk of 1/2.2, as image editors write
  std::vector<png_color> palette;
  std::vector<png_byte> trans;  // palette alpha (tRNS)
  std::vector<png_byte> data;   // packed rows, as PNG stores them (16-bit big-endian)
};

// No C++ objects with destructors in this frame: libpng's default error handler longjmps here.
bool write_raw_png_step(png_structp png, png_infop info, std::FILE* file, const RawPng* spec,
                        png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_IHDR(png, info, spec->width, spec->height, spec->bit_depth, spec->color_type,
               spec->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec->palette.empty()) {
    png_set_PLTE(png, info, spec->palette.data(), static_cast<int>(spec->palette.size()));
  }
  if (spec->srgb_gamma) png_set_gAMA_fixed(png, info, 45455);
  if (!spec->trans.empty()) {
    png_set_tRNS(png, info, spec->trans.data(), static_cast<int>(spec->trans.size()), nullptr);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

void write_raw_png(const std::string& path, const RawPng& spec) {
  const std::size_t rowbytes = spec.data.size() / spec.height;
  std::vector<png_bytep> rows(spec.height);
  std::vector<png_byte> data = spec.data;
  for (png_uint_32 y = 0; y < spec.height; ++y) rows[y] = data.data() + y * rowbytes;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const bool ok = write_raw_png_step(png, info, file, &spec, rows.data());
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
  ASSERT_TRUE(ok) << "libpng could not write " << path;
}

// Packs values of `bits` bits (1, 2, 4) into bytes, rows padded to a byte.
std::vector<png_byte> pack_bits(const std::vector<int>& values, int width, int bits) {
  std::vector<png_byte> out;
  const int per_byte = 8 / bits;
  const int height = static_cast<int>(values.size()) / width;
  for (int y = 0; y < height; ++y) {
    for (int x0 = 0; x0 < width; x0 += per_byte) {
      int byte = 0;
      for (int k = 0; k < per_byte; ++k) {
        const int x = x0 + k;
        const int v = x < width ? values[static_cast<std::size_t>(y * width + x)] : 0;
        byte |= v << (8 - bits * (k + 1));
      }
      out.push_back(static_cast<png_byte>(byte));
    }
  }
  return out;
}

// PIL's convert('L') luma (ITU-R 601-2), in [0, 255].
double luma(int r, int g, int b) { return 0.299 * r + 0.587 * g + 0.114 * b; }

void expect_image(const Tensor& image, std::int64_t rows, std::int64_t cols,
                  const std::vector<double>& expected_0_255, double tolerance_0_255 = 0.0) {
  ASSERT_EQ(image.shape(), (Shape{rows, cols}));
  ASSERT_EQ(static_cast<std::int64_t>(expected_0_255.size()), rows * cols);
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    EXPECT_NEAR(image[i] * 255.0, expected_0_255[static_cast<std::size_t>(i)],
                tolerance_0_255 + 1e-4)
        << "pixel " << i;
  }
}

// Expects FormatError from read_gray_image(path) naming the path and every piece.
void expect_image_error(const std::string& path, std::initializer_list<std::string_view> pieces) {
  testing::expect_format_error_naming(path, [&] { (void)io::read_gray_image(path); }, pieces);
}

// ---------------------------------------------------------------------------------------------
// PNG

TEST(ImageRead, PngGrayRoundTripsThroughWriteGrayPng) {
  const TempDir dir("poolnet_image");
  Tensor image(Shape{3, 5});
  for (std::int64_t i = 0; i < 15; ++i) image[i] = static_cast<float>(i * 17) / 255.0f;
  const std::string path = dir.path("gray.png");
  io::write_gray_png(path, image);
  const Tensor back = io::read_gray_image(path);
  ASSERT_EQ(back.shape(), (Shape{3, 5}));
  for (std::int64_t i = 0; i < 15; ++i) EXPECT_EQ(back[i], image[i]) << i;
}

TEST(ImageRead, PngLowBitGrayAndGrayAlpha) {
  const TempDir dir("poolnet_image");
  {
    RawPng p;
    p.width = 5;
    p.height = 2;
    p.bit_depth = 1;
    const std::vector<int> bits = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1};
    p.data = pack_bits(bits, 5, 1);
    write_raw_png(dir.path("g1.png"), p);
    std::vector<double> expected;
    for (int b : bits) expected.push_back(b * 255.0);
    expect_image(io::read_gray_image(dir.path("g1.png")), 2, 5, expected);
  }
  {
    RawPng p;
    p.width = 3;
    p.height = 2;
    p.bit_depth = 4;
    const std::vector<int> nibbles = {0, 15, 7, 1, 8, 14};
    p.data = pack_bits(nibbles, 3, 4);
    write_raw_png(dir.path("g4.png"), p);
    std::vector<double> expected;
    for (int v : nibbles) expected.push_back(v * 17.0);
    expect_image(io::read_gray_image(dir.path("g4.png")), 2, 3, expected);
  }
  {
    RawPng p;
    p.width = 2;
    p.height = 2;
    p.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    p.data = {10, 255, 200, 0, 0, 128, 255, 7};  // alpha is dropped
    write_raw_png(dir.path("ga.png"), p);
    expect_image(io::read_gray_image(dir.path("ga.png")), 2, 2, {10, 200, 0, 255});
  }
}

TEST(ImageRead, PngSixteenBitGrayAndRgb) {
  const TempDir dir("poolnet_image");
  {
    RawPng p;
    p.width = 4;
    p.height = 1;
    p.bit_depth = 16;
    const std::vector<int> v16 = {0, 65535, 100 * 257, 1000};
    for (int v : v16) {
      p.data.push_back(static_cast<png_byte>(v >> 8));
      p.data.push_back(static_cast<png_byte>(v & 0xFF));
    }
    write_raw_png(dir.path("g16.png"), p);
    expect_image(io::read_gray_image(dir.path("g16.png")), 1, 4, {0, 255, 100, 1000.0 / 257.0},
                 0.5);
  }
  {
    RawPng p;
    p.width = 3;
    p.height = 1;
    p.bit_depth = 16;
    p.color_type = PNG_COLOR_TYPE_RGB;
    // Two gray pixels (exact) and one colored pixel.
    const std::vector<int> rgb16 = {77 * 257, 77 * 257,  77 * 257,  65535,   65535,
                                    65535,    200 * 257, 100 * 257, 50 * 257};
    for (int v : rgb16) {
      p.data.push_back(static_cast<png_byte>(v >> 8));
      p.data.push_back(static_cast<png_byte>(v & 0xFF));
    }
    write_raw_png(dir.path("rgb16.png"), p);
    expect_image(io::read_gray_image(dir.path("rgb16.png")), 1, 3, {77, 255, luma(200, 100, 50)},
                 1.0);
  }
}

TEST(ImageRead, PngRgbAndRgbaUseLumaWeights) {
  const TempDir dir("poolnet_image");
  const std::vector<std::vector<int>> pixels = {{0, 0, 0},     {255, 255, 255}, {90, 90, 90},
                                                {255, 0, 0},   {0, 255, 0},     {0, 0, 255},
                                                {12, 200, 99}, {250, 128, 3}};
  std::vector<double> expected;
  for (const auto& px : pixels) expected.push_back(luma(px[0], px[1], px[2]));
  RawPng rgb;
  rgb.width = 4;
  rgb.height = 2;
  rgb.color_type = PNG_COLOR_TYPE_RGB;
  RawPng rgba = rgb;
  rgba.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  int alpha = 0;
  for (const auto& px : pixels) {
    for (int c : px) {
      rgb.data.push_back(static_cast<png_byte>(c));
      rgba.data.push_back(static_cast<png_byte>(c));
    }
    rgba.data.push_back(static_cast<png_byte>(alpha));  // any alpha: dropped
    alpha = (alpha + 97) % 256;
  }
  write_raw_png(dir.path("rgb.png"), rgb);
  write_raw_png(dir.path("rgba.png"), rgba);
  // A gamma chunk changes nothing: the weights apply to the stored values, as in PIL.
  rgb.srgb_gamma = true;
  write_raw_png(dir.path("rgb_gamma.png"), rgb);
  const Tensor a = io::read_gray_image(dir.path("rgb.png"));
  const Tensor b = io::read_gray_image(dir.path("rgba.png"));
  expect_image(a, 2, 4, expected, 1.0);
  expect_image(b, 2, 4, expected, 1.0);
  expect_image(io::read_gray_image(dir.path("rgb_gamma.png")), 2, 4, expected, 1.0);
  // Gray pixels are exact.
  EXPECT_EQ(a[0], 0.0f);
  EXPECT_EQ(a[1], 1.0f);
  EXPECT_EQ(a[2], 90.0f / 255.0f);
}

TEST(ImageRead, PngPaletteWithAndWithoutTransparency) {
  const TempDir dir("poolnet_image");
  {
    RawPng p;
    p.width = 3;
    p.height = 2;
    p.color_type = PNG_COLOR_TYPE_PALETTE;
    p.palette = {{0, 0, 0}, {255, 255, 255}, {60, 60, 60}, {255, 0, 0}};
    p.trans = {255, 0, 128};  // tRNS: dropped like any alpha
    p.data = {0, 1, 2, 3, 2, 1};
    write_raw_png(dir.path("pal8.png"), p);
    expect_image(io::read_gray_image(dir.path("pal8.png")), 2, 3,
                 {0, 255, 60, luma(255, 0, 0), 60, 255}, 1.0);
  }
  {
    RawPng p;
    p.width = 5;
    p.height = 1;
    p.bit_depth = 2;
    p.color_type = PNG_COLOR_TYPE_PALETTE;
    p.palette = {{10, 10, 10}, {20, 20, 20}, {30, 30, 30}};
    p.data = pack_bits({2, 1, 0, 1, 2}, 5, 2);
    write_raw_png(dir.path("pal2.png"), p);
    expect_image(io::read_gray_image(dir.path("pal2.png")), 1, 5, {30, 20, 10, 20, 30});
  }
}

TEST(ImageRead, PngInterlaced) {
  const TempDir dir("poolnet_image");
  RawPng p;
  p.width = 11;
  p.height = 9;
  p.interlaced = true;
  std::vector<double> expected;
  for (int i = 0; i < 99; ++i) {
    p.data.push_back(static_cast<png_byte>(i * 2));
    expected.push_back(i * 2.0);
  }
  write_raw_png(dir.path("adam7.png"), p);
  expect_image(io::read_gray_image(dir.path("adam7.png")), 9, 11, expected);
}

// ---------------------------------------------------------------------------------------------
// PGM

TEST(ImageRead, PgmAsciiWithComments) {
  const TempDir dir("poolnet_image");
  const std::string path = dir.file("a.pgm",
                                    "P2\n# a comment\n3 # width\n 2\n# another\n15\n"
                                    "0 15 7\n# mid-data comment\n  1\t2\r\n15");
  expect_image(io::read_gray_image(path), 2, 3, {0, 255, 7 * 17.0, 17, 34, 255});
  const std::string wide = dir.file("wide.pgm", "P2 2 1 1000 0 1000");
  const Tensor t = io::read_gray_image(wide);
  ASSERT_EQ(t.shape(), (Shape{1, 2}));
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_EQ(t[1], 1.0f);
  // Values keep the full precision of maxval.
  const Tensor fine = io::read_gray_image(dir.file("fine.pgm", "P2 1 1 1000 333\n"));
  EXPECT_EQ(fine[0], 333.0f / 1000.0f);
}

TEST(ImageRead, PgmBinaryEightAndSixteenBit) {
  const TempDir dir("poolnet_image");
  std::string p5 = "P5\n# binary\n4 2\n255\n";
  for (int v : {0, 255, 1, 128, 64, 32, 16, 200}) p5 += static_cast<char>(v);
  expect_image(io::read_gray_image(dir.file("b8.pgm", p5)), 2, 4,
               {0, 255, 1, 128, 64, 32, 16, 200});

  std::string small = "P5 2 2 3\n";
  for (int v : {0, 1, 2, 3}) small += static_cast<char>(v);
  expect_image(io::read_gray_image(dir.file("b2.pgm", small)), 2, 2, {0, 85, 170, 255});

  std::string p16 = "P5\n3 1\n65535\n";
  for (int v : {0, 65535, 0x1234}) {
    p16 += static_cast<char>(v >> 8);  // big-endian
    p16 += static_cast<char>(v & 0xFF);
  }
  const Tensor t = io::read_gray_image(dir.file("b16.pgm", p16));
  ASSERT_EQ(t.shape(), (Shape{1, 3}));
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_EQ(t[1], 1.0f);
  EXPECT_EQ(t[2], static_cast<float>(0x1234) / 65535.0f);

  std::string p16b = "P5 1 1 1000\n";
  p16b += static_cast<char>(500 >> 8);
  p16b += static_cast<char>(500 & 0xFF);
  EXPECT_EQ(io::read_gray_image(dir.file("b16b.pgm", p16b))[0], 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Malformed images

std::uint32_t crc_of(const std::string& type_and_data) {
  return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                          static_cast<uInt>(type_and_data.size())));
}

void put_be32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A PNG signature and an IHDR chunk (8-bit gray) with a correct CRC.
std::string png_with_ihdr(std::uint32_t width, std::uint32_t height) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string chunk = "IHDR";
  put_be32(chunk, width);
  put_be32(chunk, height);
  chunk += std::string("\x08\x00\x00\x00\x00", 5);
  put_be32(out, 13);
  out += chunk;
  put_be32(out, crc_of(chunk));
  return out;
}

TEST(ImageRead, MalformedPngsAreFormatErrors) {
  const TempDir dir("poolnet_image");
  Tensor image(Shape{40, 40});
  for (std::int64_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>(i % 97) / 97.0f;
  io::write_gray_png(dir.path("good.png"), image);
  const std::string good = read_bytes(dir.path("good.png"));

  write_bytes(dir.path("truncated.png"), good.substr(0, good.size() / 2));
  expect_image_error(dir.path("truncated.png"), {"invalid PNG", "truncated"});

  write_bytes(dir.path("no_iend.png"), good.substr(0, good.size() - 12));
  expect_image_error(dir.path("no_iend.png"), {"invalid PNG"});

  write_bytes(dir.path("sig_only.png"), good.substr(0, 8));
  expect_image_error(dir.path("sig_only.png"), {"invalid PNG"});

  std::string bad_sig = good;
  bad_sig[3] = 'X';
  write_bytes(dir.path("bad_sig.png"), bad_sig);
  expect_image_error(dir.path("bad_sig.png"),
                     {"not a PNG or PGM image", "PNG signature is damaged"});

  std::string bad_crc = good;
  bad_crc[8 + 8 + 2] = static_cast<char>(bad_crc[8 + 8 + 2] ^ 1);  // a byte of IHDR's width
  write_bytes(dir.path("bad_crc.png"), bad_crc);
  expect_image_error(dir.path("bad_crc.png"), {"invalid PNG", "CRC"});

  // Claims 9000 x 9000 (81M pixels, above the 2^26 limit) but holds no pixel data: rejected
  // from the header, before any pixel memory is allocated.
  write_bytes(dir.path("huge.png"), png_with_ihdr(9000, 9000));
  expect_image_error(dir.path("huge.png"), {"9000x9000 = 81000000 pixels", "more than the limit"});

  std::string bad_idat = good.substr(0, 33);  // signature + IHDR
  std::string chunk = "IDAT";
  chunk += std::string(20, '\x55');
  put_be32(bad_idat, 20);
  bad_idat += chunk;
  put_be32(bad_idat, crc_of(chunk));
  write_bytes(dir.path("bad_idat.png"), bad_idat);
  expect_image_error(dir.path("bad_idat.png"), {"invalid PNG"});
}

TEST(ImageRead, MalformedPgmsAndOtherFilesAreFormatErrors) {
  const TempDir dir("poolnet_image");
  expect_image_error(dir.file("maxval0.pgm", "P2 2 2 0\n0 0 0 0\n"),
                     {"maxval 0 is out of range", "1 to 65535"});
  expect_image_error(dir.file("maxval_big.pgm", "P5 1 1 65536\n\x01\x02"),
                     {"maxval 65536 is out of range"});
  expect_image_error(dir.file("negative.pgm", "P2 -3 2 255\n"), {"negative width"});
  expect_image_error(dir.file("zero.pgm", "P5 0 2 255\n"), {"at least 1x1"});
  expect_image_error(dir.file("p5_short.pgm", "P5 3 3 255\n\x01\x02\x03\x04"),
                     {"pixel data truncated", "expected 9 bytes", "holds 4"});
  expect_image_error(dir.file("p5_16_short.pgm", std::string("P5 2 1 300\n\x01\x00\x00", 14)),
                     {"pixel data truncated", "expected 4 bytes", "holds 3"});
  expect_image_error(dir.file("p2_short.pgm", "P2 3 2 255\n1 2 3\n4 5\n"),
                     {"pixel data truncated", "expected 6 pixel values", "holds 5"});
  expect_image_error(dir.file("p2_above.pgm", "P2 2 2 100\n1 2\n3 101\n"),
                     {"pixel value 101 at row 1, column 1 is above maxval 100"});
  expect_image_error(dir.file("p5_above.pgm", "P5 2 1 10\n\x05\x0b"),
                     {"pixel value 11", "above maxval 10"});
  expect_image_error(dir.file("p2_word.pgm", "P2 2 1 255\n1 x\n"),
                     {"expected pixel value (pixel 1)", "'x'"});
  expect_image_error(dir.file("no_height.pgm", "P2 4"), {"expected height", "end of the file"});
  expect_image_error(dir.file("huge.pgm", "P5 100000 100000 255\n\x01"),
                     {"100000x100000 = 10000000000 pixels", "more than the limit"});
  expect_image_error(dir.file("too_big_number.pgm", "P2 99999999999 1 255\n"),
                     {"width is too large"});
  expect_image_error(dir.file("ppm.ppm", "P6 1 1 255\n\x01\x02\x03"), {"P6 is not supported"});
  expect_image_error(dir.file("garbage.bin", "GIF89a garbage \x01\x02\x03"),
                     {"not a PNG or PGM image"});
  expect_image_error(dir.file("empty.png", ""), {"file is empty"});
  expect_image_error(dir.path("absent.png"), {"no such file"});
  std::filesystem::create_directory(dir.path("a_dir.png"));
  expect_image_error(dir.path("a_dir.png"), {"is a directory"});
}

// ---------------------------------------------------------------------------------------------
// resize_gray

TEST(ImageResize, ConstantImagesStayConstant) {
  const std::vector<std::vector<std::int64_t>> cases = {
      {56, 56, 28, 28}, {37, 23, 28, 28}, {10, 10, 57, 41}, {100, 100, 7, 9},
      {5, 80, 28, 28},  {1, 1, 3, 4},     {28, 28, 28, 28}, {3, 7, 2, 5}};
  for (const auto& c : cases) {
    Tensor image(Shape{c[0], c[1]}, 0.6f);
    const Tensor out = io::resize_gray(image, c[2], c[3]);
    ASSERT_EQ(out.shape(), (Shape{c[2], c[3]}));
    for (float v : out.values()) {
      ASSERT_NEAR(v, 0.6f, 1e-6f) << c[0] << "x" << c[1] << " -> " << c[2] << "x" << c[3];
    }
  }
}

TEST(ImageResize, HalvingIsAnExactTwoByTwoBoxAverage) {
  Tensor image(Shape{56, 56});
  for (std::int64_t r = 0; r < 56; ++r)
    for (std::int64_t c = 0; c < 56; ++c)
      image.at({r, c}) = static_cast<float>((r * 5 + c * 3 + r * c) % 17) / 16.0f;
  const Tensor out = io::resize_gray(image, 28, 28);
  ASSERT_EQ(out.shape(), (Shape{28, 28}));
  for (std::int64_t r = 0; r < 28; ++r)
    for (std::int64_t c = 0; c < 28; ++c) {
      const float expected = (image.at({2 * r, 2 * c}) + image.at({2 * r, 2 * c + 1}) +
                              image.at({2 * r + 1, 2 * c}) + image.at({2 * r + 1, 2 * c + 1})) /
                             4.0f;
      EXPECT_EQ(out.at({r, c}), expected) << r << ", " << c;
    }
}

TEST(ImageResize, AreaWeightsAndBilinearValues) {
  // 3 -> 2: each output covers 1.5 inputs.
  const Tensor shrunk = io::resize_gray(Tensor(Shape{1, 3}, std::vector<float>{0, 3, 6}), 1, 2);
  EXPECT_FLOAT_EQ(shrunk[0], 1.0f);
  EXPECT_FLOAT_EQ(shrunk[1], 5.0f);
  // 2 -> 4: half-pixel centres, clamped at the edges.
  const Tensor grown = io::resize_gray(Tensor(Shape{2, 1}, std::vector<float>{0, 1}), 4, 1);
  EXPECT_FLOAT_EQ(grown[0], 0.0f);
  EXPECT_FLOAT_EQ(grown[1], 0.25f);
  EXPECT_FLOAT_EQ(grown[2], 0.75f);
  EXPECT_FLOAT_EQ(grown[3], 1.0f);
  // Same size: unchanged.
  Tensor image(Shape{4, 5});
  for (std::int64_t i = 0; i < 20; ++i) image[i] = static_cast<float>(i) * 0.1f;
  const Tensor same = io::resize_gray(image, 4, 5);
  for (std::int64_t i = 0; i < 20; ++i) EXPECT_EQ(same[i], image[i]);
  // Mixed: shrink rows, enlarge cols; row sums of a row-constant image are kept.
  Tensor rows(Shape{4, 2});
  for (std::int64_t r = 0; r < 4; ++r) rows.at({r, 0}) = rows.at({r, 1}) = static_cast<float>(r);
  const Tensor mixed = io::resize_gray(rows, 2, 3);
  for (std::int64_t c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(mixed.at({0, c}), 0.5f);
    EXPECT_FLOAT_EQ(mixed.at({1, c}), 2.5f);
  }
}

TEST(ImageResize, BadArgumentsThrow) {
  EXPECT_THROW(io::resize_gray(Tensor(Shape{2, 2, 1}), 1, 1), ShapeError);
  EXPECT_THROW(io::resize_gray(Tensor(Shape{2, 2}), 0, 1), ArgumentError);
  EXPECT_THROW(io::resize_gray(Tensor(Shape{2, 2}), 1, -1), ArgumentError);
  EXPECT_THROW(io::resize_gray(Tensor(Shape{2, 2}), 1 << 20, 1 << 20), ArgumentError);
}

// ---------------------------------------------------------------------------------------------
// write_gray_png

std::vector<std::string> directory_names(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ImageWrite, ClampsValuesAndLeavesNoTemporaryFiles) {
  const TempDir dir("poolnet_image");
  const Tensor image(Shape{1, 5}, std::vector<float>{-0.5f, 1.5f, 0.5f, std::nanf(""), 1.0f});
  io::write_gray_png(dir.path("out.png"), image);
  EXPECT_EQ(directory_names(dir.path("")), std::vector<std::string>{"out.png"});
  const Tensor back = io::read_gray_image(dir.path("out.png"));
  ASSERT_EQ(back.shape(), (Shape{1, 5}));
  EXPECT_EQ(back[0], 0.0f);
  EXPECT_EQ(back[1], 1.0f);
  EXPECT_EQ(back[2], 128.0f / 255.0f);
  EXPECT_EQ(back[3], 0.0f);
  EXPECT_EQ(back[4], 1.0f);
  // (rows, cols, 1) is accepted too.
  io::write_gray_png(dir.path("hwc.png"), Tensor(Shape{2, 3, 1}, 0.25f));
  EXPECT_EQ(io::read_gray_image(dir.path("hwc.png")).shape(), (Shape{2, 3}));
}

TEST(ImageWrite, ReplacesAnExistingFileAtomically) {
  const TempDir dir("poolnet_image");
  const std::string path = dir.path("replace.png");
  io::write_gray_png(path, Tensor(Shape{8, 8}, 0.2f));
  const std::string old_bytes = read_bytes(path);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  // A reader that opened the old file keeps seeing it whole: the new file is renamed over the
  // old name, not written into the old file.
  std::ifstream old_reader(path, std::ios::binary);
  io::write_gray_png(path, Tensor(Shape{3, 7}, 0.8f));
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  std::ostringstream old_text;
  old_text << old_reader.rdbuf();
  EXPECT_EQ(old_text.str(), old_bytes);
  const Tensor now = io::read_gray_image(path);
  ASSERT_EQ(now.shape(), (Shape{3, 7}));
  EXPECT_EQ(now[0], 204.0f / 255.0f);
  EXPECT_EQ(directory_names(dir.path("")), std::vector<std::string>{"replace.png"});
}

TEST(ImageWrite, FailuresAreFormatErrorsAndRemoveTheTemporaryFile) {
  const TempDir dir("poolnet_image");
  const Tensor image(Shape{4, 4}, 0.5f);
  // The target is a directory: the rename fails after the temporary file was written.
  std::filesystem::create_directory(dir.path("target_dir"));
  try {
    io::write_gray_png(dir.path("target_dir"), image);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), dir.path("target_dir"))) << e.what();
    EXPECT_TRUE(contains(e.what(), "cannot rename")) << e.what();
  }
  EXPECT_EQ(directory_names(dir.path("")), std::vector<std::string>{"target_dir"});
  // A missing directory.
  try {
    io::write_gray_png(dir.path("missing/out.png"), image);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), "missing/out.png")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cannot create the temporary file")) << e.what();
  }
  // Not an image.
  EXPECT_THROW(io::write_gray_png(dir.path("x.png"), Tensor(Shape{4})), ShapeError);
  EXPECT_THROW(io::write_gray_png(dir.path("x.png"), Tensor(Shape{2, 2, 3})), ShapeError);
  EXPECT_EQ(directory_names(dir.path("")), std::vector<std::string>{"target_dir"});
}

}  // namespace
}  // namespace poolnet
