// Parsing JSON that comes from a user (model files, Keras JSON, conformance cases): a nesting
// limit enforced before nlohmann builds anything, and errors that name the source.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace poolnet::io {

// Deeper documents are refused. A Keras model JSON nests about 8 levels deep; 10^6 levels would
// make the recursive parts of nlohmann (dump, comparison) overflow the stack.
inline constexpr int kMaxJsonDepth = 100;

// The JSON document `text`. FormatError "<source>: ..." for malformed JSON (nlohmann's message,
// with line and column) or nesting deeper than kMaxJsonDepth ("<source>:<line>:<column>: JSON
// nesting deeper than 100 levels").
nlohmann::json parse_json(std::string_view text, std::string_view source);

}  // namespace poolnet::io
