#include "cli/bench_command.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

namespace poolnet::cli {

int exec_bench(char** args) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    std::cerr << "poolnet bench: cannot find the poolnet executable (/proc/self/exe): " << error.message() << "\n";
    return 2;
  }
  const std::string bench = (self.parent_path() / "poolnet-bench").string();
  ::execv(bench.c_str(), args);
  const int why = errno;
  std::cerr << "poolnet bench: cannot run " << bench << ": " << std::strerror(why)
            << (why == ENOENT ? " (it is built with the project when oneDNN, Debian libdnnl-dev, is installed)" : "")
            << "\n";
  return 2;
}

}  // namespace poolnet::cli
