// Keras model JSON (model.to_json()) as `poolnet summary` / `train` read it: parse, build the
// weights, print the summary, and run a prediction when one sample is small.
#include "fuzz_common.hpp"
#include "poolnet/model/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  poolnet::fuzz::expect_clean([&] {
    poolnet::Sequential model =
        poolnet::read_model_json(poolnet::fuzz::as_text(data, size), "fuzz.json");
    (void)model.summary();
    model.build(1);
    std::vector<std::int64_t> dims{1};
    dims.insert(dims.end(), model.input_shape().begin(), model.input_shape().end());
    const poolnet::Shape input(dims);
    if (input.elements() <= (std::int64_t{1} << 16)) (void)model.predict(poolnet::Tensor(input, 0.5f), 1);
  });
  return 0;
}
