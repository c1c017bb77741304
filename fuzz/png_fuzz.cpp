// PNG images as `poolnet predict` reads them: decode (libpng), then resize to 28x28.
//
// Every chunk's CRC is recomputed first, so that mutations reach libpng's chunk parsers and our
// transforms instead of stopping at the checksum; the input is also tried as it came.
#include <zlib.h>

#include <string>

#include "fuzz_common.hpp"
#include "io/image.hpp"

namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(s[at])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 2])} << 8) |
         std::uint32_t{static_cast<unsigned char>(s[at + 3])};
}

// Rewrites the CRC of every complete chunk after the 8-byte signature.
std::string with_fixed_crcs(std::string png) {
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = be32(png, at);
    if (length > png.size() - at - 12) break;
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), length + 4);
    const std::size_t crc_at = at + 8 + length;
    for (int i = 0; i < 4; ++i) png[crc_at + i] = static_cast<char>(crc >> (24 - 8 * i));
    at = crc_at + 4;
  }
  return png;
}

void decode(std::string_view bytes) {
  poolnet::fuzz::expect_clean([&] {
    const poolnet::Tensor image = poolnet::io::read_gray_image_bytes(bytes, "fuzz.png");
    (void)poolnet::io::resize_gray(image, 28, 28);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw = poolnet::fuzz::as_text(data, size);
  decode(raw);
  decode(with_fixed_crcs(std::string(raw)));
  return 0;
}
