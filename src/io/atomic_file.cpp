#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

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

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  const std::string temp = (dir / ("." + target.filename().string() + ".tmp-" +
                                   std::to_string(::getpid())))
                               .string();
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
