// `poolnet bench ARGS...` runs the pooling benchmark, the separate program poolnet-bench next to
// the poolnet executable (oneDNN, its baseline, is linked only into that program).
#pragma once

namespace poolnet::cli {

// Replaces this process with poolnet-bench and `args` (argv[0] of the benchmark first, then its
// arguments; a null-terminated array). Returns only on failure, after printing why; the result
// is the exit code.
int exec_bench(char** args);

}  // namespace poolnet::cli
