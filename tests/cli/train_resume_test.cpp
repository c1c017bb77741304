// Crash-safe training through the command-line program: a run killed with SIGKILL mid-epoch, or
// in the middle of writing a checkpoint, and resumed with --resume ends with exactly the weights
// of an uninterrupted run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "poolnet/model/model_file.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::TempDir;

using testing::write_mnist;

std::vector<float> weights_of(const std::string& path) {
  Sequential model = load_model(path);
  std::vector<float> w;
  for (Parameter* p : model.parameters()) w.insert(w.end(), p->value.values().begin(), p->value.values().end());
  return w;
}

TEST(TrainResume, KilledMidEpochThenResumedGivesTheUninterruptedWeights) {
  TempDir dir;
  const std::string data = dir.path("data");
  std::filesystem::create_directories(data);
  write_mnist(data, 1200, 100);
  const std::string model = std::string(POOLNET_SOURCE_DIR) + "/examples/keras_convnet.json";
  const std::string common = model + " --data-dir " + data +
                             " --epochs 3 --batch-size 32 --seed 5 --threads 1 --validation-split 0.1";

  const testing::CommandResult straight =
      testing::run_command("train " + common + " --out " + dir.path("straight.pnet"));
  ASSERT_EQ(straight.exit_code, 0) << straight.out << straight.err;

  // The same run, killed with SIGKILL once the first checkpoint exists (in the middle of the
  // second epoch), then resumed.
  const std::string checkpoints = dir.path("ckpt");
  const std::string command = std::string(POOLNET_CLI) + " train " + common + " --checkpoint " +
                              checkpoints + " --out " + dir.path("resumed.pnet") + " > " +
                              dir.path("killed.log") + " 2>&1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string checkpoint = checkpoints + "/checkpoint.pnet";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(checkpoint) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // into the next epoch
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  EXPECT_FALSE(std::filesystem::exists(dir.path("resumed.pnet")));
  // No temporary file is left beside the checkpoint, and what is there loads.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(checkpoints), {}), 1);
  EXPECT_NO_THROW(load_checkpoint(checkpoint));

  const testing::CommandResult resumed = testing::run_command("train --resume " + checkpoints);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(testing::contains(resumed.out, "Resuming")) << resumed.out;

  const std::vector<float> a = weights_of(dir.path("straight.pnet"));
  const std::vector<float> b = weights_of(dir.path("resumed.pnet"));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  const auto [model_at_end, state] = load_checkpoint(checkpoint);
  EXPECT_EQ(state.epochs_done, 3);
}

// The temporary file of a save in progress in `dir` (".checkpoint.pnet.tmp-<pid>"), or "".
std::string temporary_in(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".checkpoint.pnet.tmp-", 0) == 0) return e.path().string();
  }
  return "";
}

TEST(TrainResume, KilledInsideASaveKeepsThePreviousCheckpointAndResumesToTheUninterruptedWeights) {
  TempDir dir;
  const std::string data = dir.path("data");
  std::filesystem::create_directories(data);
  write_mnist(data, 600, 50);
  const std::string model = std::string(POOLNET_SOURCE_DIR) + "/examples/keras_convnet.json";
  const std::string common = model + " --data-dir " + data + " --epochs 3 --batch-size 32 --seed 9 --threads 1";
  const testing::CommandResult straight =
      testing::run_command("train " + common + " --out " + dir.path("straight.pnet"));
  ASSERT_EQ(straight.exit_code, 0) << straight.out << straight.err;

  // Every save pauses between writing its temporary file and renaming it over the checkpoint
  // (the test hook in io/atomic_file.cpp); the run is killed during the pause of the second save.
  const std::string checkpoints = dir.path("ckpt");
  const std::string checkpoint = checkpoints + "/checkpoint.pnet";
  const std::string command = "POOLNET_TEST_PAUSE_BEFORE_RENAME_MS=1000 exec " + std::string(POOLNET_CLI) +
                              " train " + common + " --checkpoint " + checkpoints + " --out " +
                              dir.path("resumed.pnet") + " > " + dir.path("killed.log") + " 2>&1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::string temporary;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(checkpoint)) {
      temporary = temporary_in(checkpoints);
      if (!temporary.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_FALSE(temporary.empty()) << "no second save was seen";
  // Killed inside the save: its complete temporary file is there, the checkpoint is still epoch 1's.
  EXPECT_TRUE(std::filesystem::exists(temporary));
  EXPECT_EQ(load_checkpoint(checkpoint).second.epochs_done, 1);

  const testing::CommandResult resumed = testing::run_command("train --resume " + checkpoints);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(testing::contains(resumed.out, "after epoch 1 of 3")) << resumed.out;
  // The resumed run removed the dead run's temporary file.
  EXPECT_EQ(temporary_in(checkpoints), "");
  const std::vector<float> a = weights_of(dir.path("straight.pnet"));
  const std::vector<float> b = weights_of(dir.path("resumed.pnet"));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(TrainResume, ResumeNeedsACheckpointAndNotAModelToo) {
  TempDir dir;
  const testing::CommandResult missing = testing::run_command("train --resume " + dir.path("none"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(testing::contains(missing.err, "checkpoint.pnet")) << missing.err;
  const testing::CommandResult both =
      testing::run_command("train x.json --resume " + dir.path("none"));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(testing::contains(both.err, "either a model file or --resume")) << both.err;
}

}  // namespace
}  // namespace poolnet
