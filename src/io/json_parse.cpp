#include "io/json_parse.hpp"

#include <string>

#include "poolnet/error.hpp"

namespace poolnet::io {
namespace {

// Scans `text` for brackets outside strings and fails at the first one that goes deeper than
// kMaxJsonDepth. Anything else that is wrong is left to the parser.
void check_depth(std::string_view text, std::string_view source) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  std::size_t line = 1;
  std::size_t column = 0;
  for (const char c : text) {
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
    }
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw FormatError(std::string(source) + ":" + std::to_string(line) + ":" +
                          std::to_string(column) + ": JSON nesting deeper than " +
                          std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view source) {
  check_depth(text, source);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond double's range ("1e999"), which
    // nlohmann throws from the parser too (found by fuzz/keras_layer_fuzz.cpp).
    throw FormatError(std::string(source) + ": not valid JSON: " + e.what());
  }
}

}  // namespace poolnet::io
