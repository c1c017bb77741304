#include "study/memory.hpp"

#include <malloc.h>

#include <fstream>
#include <sstream>

namespace poolnet::study {

std::int64_t proc_status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      std::int64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

PeakMemoryProbe::PeakMemoryProbe() {
  // Memory a previous variant freed would otherwise stay resident in the heap and be reused
  // without raising the mark.
  ::malloc_trim(0);
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  const bool reset = clear.good();
  start_bytes_ = proc_status_bytes("VmRSS");
  method_ = reset ? "peak resident set size of the study process while the variant trained "
                    "(VmHWM after a reset through /proc/self/clear_refs); it includes the loaded "
                    "data set and the program, which every variant shares"
                  : "peak resident set size of the study process since it started (VmHWM; this "
                    "kernel did not allow resetting it per variant)";
}

std::int64_t PeakMemoryProbe::peak_bytes() const { return proc_status_bytes("VmHWM"); }

}  // namespace poolnet::study
