// Peak resident memory of a stretch of work in this process (Linux): the kernel's high-water
// mark VmHWM is reset to the current resident size by writing "5" to /proc/self/clear_refs, and
// read back from /proc/self/status afterwards.
#pragma once

#include <cstdint>
#include <string>

namespace poolnet::study {

class PeakMemoryProbe {
 public:
  // Returns freed heap memory to the system (malloc_trim), then resets the high-water mark.
  PeakMemoryProbe();

  // The highest resident set size since construction, in bytes, when the reset worked; else the
  // process's lifetime peak (method() says which).
  std::int64_t peak_bytes() const;
  std::int64_t start_bytes() const { return start_bytes_; }
  const std::string& method() const { return method_; }

 private:
  std::int64_t start_bytes_ = 0;
  std::string method_;
};

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); 0 when unavailable.
std::int64_t proc_status_bytes(const std::string& field);

}  // namespace poolnet::study
