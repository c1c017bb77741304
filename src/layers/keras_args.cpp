#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet {

std::vector<std::int64_t> IntOrTuple::expand(int spatial_rank, std::string_view context,
                                             std::string_view argument) const {
  if (is_int_) return std::vector<std::int64_t>(static_cast<std::size_t>(spatial_rank), values_[0]);
  if (static_cast<int>(values_.size()) != spatial_rank) {
    throw ArgumentError(std::string(context) + ": " + std::string(argument) +
                        " must be an int or a tuple of " + std::to_string(spatial_rank) +
                        " ints, got " + dims_to_string(values_));
  }
  return values_;
}

}  // namespace poolnet
