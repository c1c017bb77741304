// Exceptions thrown by poolnet. Every message says what was wrong, where, and what was expected.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace poolnet {

// Base of every poolnet exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument that can never work (Keras raises ValueError in the constructor): pool_size 0,
// padding 'full', data_format 'NHWC', a tuple of the wrong length.
class ArgumentError : public Error {
 public:
  using Error::Error;
};

// Arguments that are fine on their own but do not fit the input they are applied to
// (Keras raises ValueError when the layer is called): wrong rank, 'valid' window larger than the
// input, a shape whose element count overflows.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A malformed file or document: the message names the file, the line or key, and what was expected.
class FormatError : public Error {
 public:
  using Error::Error;
};

// Runs fn() and returns its result; a poolnet error it throws is rethrown as the same type with
// "<context>: " before its message (e.g. the layer's class name before a parser's error).
template <typename Fn>
auto with_context(std::string_view context, Fn&& fn) {
  const auto prefixed = [context](const Error& e) {
    std::string message(context);
    message += ": ";
    message += e.what();
    return message;
  };
  try {
    return std::forward<Fn>(fn)();
  } catch (const ShapeError& e) {
    throw ShapeError(prefixed(e));
  } catch (const ArgumentError& e) {
    throw ArgumentError(prefixed(e));
  } catch (const FormatError& e) {
    throw FormatError(prefixed(e));
  } catch (const Error& e) {
    throw Error(prefixed(e));
  }
}

}  // namespace poolnet
