// Writing files so that a crash never leaves a half-written one behind: write a temporary file in
// the same directory, fsync it, rename it over the target, fsync the directory.
#pragma once

#include <string>
#include <string_view>

namespace poolnet::io {

// The temporary file is ".<name>.tmp-<pid>" beside the target. Throws FormatError starting with
// the path and naming the step that failed and the system error; the temporary file is removed.
void write_file_atomically(const std::string& path, std::string_view bytes);

// Removes temporary files that write_file_atomically(path, ...) left behind when its process
// was killed (their process no longer exists). Returns how many were removed.
int remove_stale_temporaries(const std::string& path);

// The whole file; FormatError naming the path when it cannot be read or exceeds max_bytes.
std::string read_file(const std::string& path, std::size_t max_bytes);

}  // namespace poolnet::io
