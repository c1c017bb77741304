// `poolnet study` as a user runs it: a run killed with SIGKILL mid-epoch and run again reports
// exactly the numbers of an uninterrupted run; bad input is a clear error naming what was wrong.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "study/study_fixture.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

struct StudyDirs {
  TempDir dir{"poolnet_study_cli"};
  std::string data = dir.path("data");
  std::string variants = dir.path("variants");
  StudyDirs() {
    testing::write_mnist(data, 1600, 100);
    fs::create_directories(variants);
    dir.file("variants/max.json", testing::small_model("MaxPooling2D", 0.25));
    dir.file("variants/average.json", testing::small_model("AveragePooling2D", 0.25));
  }
  std::string args(const std::string& out) const {
    return "study --data-dir " + data + " --variants " + variants + " --out " + dir.path(out) +
           " --epochs 3 --train-images 1500 --sweep-images 50 --seed 4 --threads 1";
  }
};

// results.json without what varies between runs (times, memory, reuse).
nlohmann::json measured_results(const std::string& out_dir) {
  nlohmann::json j = nlohmann::json::parse(testing::read_bytes(out_dir + "/results.json"));
  for (auto& v : j["variants"]) {
    for (const char* varying : {"train_seconds", "peak_rss_bytes", "start_rss_bytes"}) v.erase(varying);
    for (auto& e : v["history"]) e.erase("seconds");
  }
  return j;
}

TEST(StudyCommand, KilledMidEpochThenRerunReportsTheUninterruptedNumbers) {
  StudyDirs d;
  const testing::CommandResult straight = testing::run_command(d.args("straight"));
  ASSERT_EQ(straight.exit_code, 0) << straight.out << straight.err;
  EXPECT_TRUE(testing::contains(straight.out, "Report: ")) << straight.out;
  EXPECT_TRUE(testing::contains(straight.out, "Profile 'quick': 3 epochs on the first 1500 training images"))
      << straight.out;

  const std::string out = d.dir.path("killed");
  const std::string command = std::string(POOLNET_CLI) + " " + d.args("killed") + " > " +
                              d.dir.path("killed.log") + " 2>&1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // The baseline is trained first; kill the run once its first checkpoint exists.
  const std::string checkpoint = out + "/variants/max/checkpoint.pnet";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the study finished before it could be killed";
  EXPECT_FALSE(fs::exists(out + "/results.json"));

  const testing::CommandResult rerun = testing::run_command(d.args("killed"));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  // The kill came after the baseline's first epoch and before its last.
  EXPECT_TRUE(testing::contains(rerun.out, "resuming from")) << rerun.out;
  EXPECT_TRUE(testing::contains(rerun.out, "Epoch 3/3")) << rerun.out;
  EXPECT_EQ(measured_results(out), measured_results(d.dir.path("straight")));

  // A third run trains nothing.
  const testing::CommandResult third = testing::run_command(d.args("killed"));
  ASSERT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_FALSE(testing::contains(third.out, "Epoch 1/3")) << third.out;
  EXPECT_EQ(measured_results(out), measured_results(d.dir.path("straight")));
}

TEST(StudyCommand, BadInputIsAClearError) {
  StudyDirs d;
  const testing::CommandResult no_data =
      testing::run_command("study --data-dir " + d.dir.path("nowhere") + " --variants " + d.variants +
                           " --out " + d.dir.path("out"));
  EXPECT_EQ(no_data.exit_code, 2);
  EXPECT_TRUE(testing::contains(no_data.err, d.dir.path("nowhere"))) << no_data.err;

  const std::string bad = d.dir.file("variants/bad.json", R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1]}},
      {"class_name": "MaxPoolingTwoD", "config": {}}]}})");
  const testing::CommandResult bad_variant = testing::run_command(d.args("out"));
  EXPECT_EQ(bad_variant.exit_code, 2);
  EXPECT_TRUE(testing::contains(bad_variant.err, bad)) << bad_variant.err;
  EXPECT_TRUE(testing::contains(bad_variant.err, "MaxPoolingTwoD")) << bad_variant.err;

  const testing::CommandResult bad_profile = testing::run_command("study --profile slow");
  EXPECT_NE(bad_profile.exit_code, 0);
  EXPECT_TRUE(testing::contains(bad_profile.err, "slow")) << bad_profile.err;
}

}  // namespace
}  // namespace poolnet
