// One layer from a Keras config (make_layer), as model JSON and conformance cases build them.
// The first byte picks the class; the rest is the config JSON. A layer that builds is then
// applied to a few small inputs (output shape, forward, backward).
#include <string>

#include "fuzz_common.hpp"
#include "io/json_parse.hpp"
#include "poolnet/layers/registry.hpp"
#include "poolnet/random.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto classes = poolnet::known_layer_classes();
  const std::string class_name(classes[data[0] % classes.size()]);
  poolnet::fuzz::expect_clean([&] {
    const nlohmann::json config =
        poolnet::io::parse_json(poolnet::fuzz::as_text(data + 1, size - 1), "fuzz config");
    const std::unique_ptr<poolnet::Layer> layer = poolnet::make_layer(class_name, config);
    static const poolnet::Shape kInputs[] = {{2, 7, 3}, {1, 6, 5, 2}, {1, 4, 5, 3, 2}};
    for (const poolnet::Shape& input : kInputs) {
      poolnet::fuzz::expect_clean([&] {
        const poolnet::Shape out = layer->compute_output_shape(input);
        if (out.elements() > (std::int64_t{1} << 16)) return;
        poolnet::Rng rng(1);
        layer->build(input, rng);
        const poolnet::Tensor x(input, 0.25f);
        const poolnet::Tensor y = layer->forward(x);
        (void)layer->backward(x, y);
      });
    }
  });
  return 0;
}
