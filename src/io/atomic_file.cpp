#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "poolnet/error.hpp"

namespace poolnet::io {
namespace {

std::string system_error(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

// "<path>: cannot <what> the temporary file <temp><after>: <errno text>"; errno must be set.
std::string temp_file_error(const std::string& path, std::string_view what,
                            const std::string& temp, std::string_view after = {}) {
  return path + ": cannot " + std::string(what) + " the temporary file " + temp +
         std::string(after) + ": " + std::strerror(errno);
}

// Removes the temporary file and throws FormatError(message).
[[noreturn]] void discard(const std::string& temp, const std::string& message) {
  ::unlink(temp.c_str());
  throw FormatError(message);
}

// Test hook: POOLNET_TEST_PAUSE_BEFORE_RENAME_MS=N makes every atomic write wait N ms after
// the temporary file is complete and before the rename, so a test can kill a process in the
// middle of a save (tests/cli/train_resume_test.cpp). Unset, nothing waits.
void pause_before_rename_for_tests() {
  static const long pause_ms = [] {
    const char* value = std::getenv("POOLNET_TEST_PAUSE_BEFORE_RENAME_MS");
    return value == nullptr ? 0L : std::strtol(value, nullptr, 10);
  }();
  if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
}

std::string temporary_prefix(const std::filesystem::path& target) {
  return "." + target.filename().string() + ".tmp-";
}

}  // namespace

int remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : ".";
  const std::string prefix = temporary_prefix(target);
  std::error_code ec;
  int removed = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    // Still being written by a live process (or not ours to judge): leave it.
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  const std::string temp =
      (dir / (temporary_prefix(target) + std::to_string(::getpid()))).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw FormatError(temp_file_error(path, "create", temp));
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string message = temp_file_error(path, "write", temp);
      ::close(fd);
      discard(temp, message);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string message = temp_file_error(path, "flush", temp);
    ::close(fd);
    discard(temp, message);
  }
  if (::close(fd) != 0) discard(temp, temp_file_error(path, "close", temp));
  pause_before_rename_for_tests();
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    discard(temp, temp_file_error(path, "rename", temp, " to it"));
  }
  // Make the rename itself durable (best effort: some file systems refuse fsync on directories).
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string read_file(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw FormatError("'" + path + "' is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(system_error("cannot open", path));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw FormatError("cannot read '" + path + "'");
  if (static_cast<std::uintmax_t>(size) > max_bytes) {
    throw FormatError("'" + path + "' is " + std::to_string(size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " accepted");
  }
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  if (!in) throw FormatError("cannot read '" + path + "'");
  return bytes;
}

}  // namespace poolnet::io
