// Exceptions thrown by poolnet. Every message says what was wrong, where, and what was expected.
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace poolnet
