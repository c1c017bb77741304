// `poolnet bench` runs the poolnet-bench program next to poolnet with the same arguments.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::run_command;

TEST(BenchCommand, RunsPoolnetBenchWithTheSameArguments) {
  const std::filesystem::path bench = std::filesystem::path(POOLNET_CLI).parent_path() / "poolnet-bench";
  if (!std::filesystem::exists(bench)) GTEST_SKIP() << "poolnet-bench is not built (no oneDNN)";
  const testing::CommandResult help = run_command("bench --help");
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("poolnet-bench"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--data-format"), std::string::npos) << help.out;
  // Its own argument errors come back with its exit code.
  const testing::CommandResult bad = run_command("bench --op max --shape 1,2");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--shape 1,2"), std::string::npos) << bad.err;
  // The training forward (saving the argmax) is windowed max pooling's only.
  EXPECT_NE(help.out.find("forward_training"), std::string::npos) << help.out;
  const testing::CommandResult average = run_command("bench --op avg --shape 1,4,4,1 --pool 2 --direction forward_training");
  EXPECT_EQ(average.exit_code, 2);
  EXPECT_NE(average.err.find("forward_training needs --op max"), std::string::npos) << average.err;
}

TEST(BenchCommand, IsListedInTheHelp) {
  const testing::CommandResult help = run_command("--help");
  EXPECT_NE(help.out.find("bench"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace poolnet
