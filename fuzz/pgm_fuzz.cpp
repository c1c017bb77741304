// PGM images (P2, P5) as `poolnet predict` reads them: decode, then resize to 28x28.
#include "fuzz_common.hpp"
#include "io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  poolnet::fuzz::expect_clean([&] {
    const poolnet::Tensor image =
        poolnet::io::read_gray_image_bytes(poolnet::fuzz::as_text(data, size), "fuzz.pgm");
    (void)poolnet::io::resize_gray(image, 28, 28);
  });
  return 0;
}
