// Saved models and checkpoints (.pnet) from bytes.
//
// The file ends with a CRC-32 of everything before it, which random mutations almost never
// keep valid; the input is tried as it came and with the CRC recomputed, so that mutations
// also reach the header JSON, the architecture and the weight table.
#include <zlib.h>

#include <string>

#include "fuzz_common.hpp"
#include "poolnet/model/model_file.hpp"

namespace {

std::string with_fixed_crc(std::string_view bytes) {
  if (bytes.size() < 4) return std::string(bytes);
  std::string fixed(bytes.substr(0, bytes.size() - 4));
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(fixed.data()),
                          static_cast<uInt>(fixed.size()));
  for (int i = 0; i < 4; ++i) fixed += static_cast<char>(crc >> (8 * i));  // little-endian
  return fixed;
}

void load(std::string_view bytes) {
  poolnet::fuzz::expect_clean([&] {
    const poolnet::Sequential model = poolnet::read_model(bytes, "fuzz.pnet");
    (void)model.summary();
    (void)model.to_json().dump();
  });
  poolnet::fuzz::expect_clean([&] { (void)poolnet::read_checkpoint(bytes, "fuzz.pnet"); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw = poolnet::fuzz::as_text(data, size);
  load(raw);
  load(with_fixed_crc(raw));
  return 0;
}
