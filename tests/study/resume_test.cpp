// The study's resume logic: a study stopped after an epoch and run again ends with exactly the
// numbers of an uninterrupted one; a finished variant is reused; a changed model JSON, data file
// or setting re-trains.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "poolnet/model/model_file.hpp"
#include "study/study.hpp"
#include "study/study_fixture.hpp"
#include "test_util.hpp"

namespace poolnet::study {
namespace {

using testing::TempDir;
using testing::small_model;
using testing::write_mnist;
namespace fs = std::filesystem;

struct Fixture {
  TempDir dir{"poolnet_study"};
  std::string data = dir.path("data");
  std::string variants = dir.path("variants");
  std::ostringstream log;

  Fixture() {
    write_mnist(data, 400, 120);
    fs::create_directories(variants);
    dir.file("variants/max.json", small_model("MaxPooling2D", 0.25));
    dir.file("variants/gap-head.json", small_model("GlobalAveragePooling2D", 0.25));
  }

  StudyOptions options(const std::string& out) {
    StudyOptions o;
    o.profile = profile_named("quick");
    o.profile.epochs = 3;
    o.profile.train_images = 300;
    o.profile.batch_size = 32;
    o.profile.sweep_images = 60;
    o.profile.train_eval_images = 100;
    o.profile.max_shift = 3;
    o.data_dir = data;
    o.variants_dir = variants;
    o.out_dir = dir.path(out);
    o.seed = 11;
    o.threads = 1;
    o.out = &log;
    return o;
  }
};

// Everything a study measures except times and memory, which vary from run to run.
nlohmann::json measured(const VariantResult& r) {
  nlohmann::json j = result_to_json(r);
  for (const char* varying : {"train_seconds", "peak_rss_bytes", "start_rss_bytes"}) j.erase(varying);
  for (auto& e : j["history"]) e.erase("seconds");
  return j;
}

TEST(StudyResume, StoppedAfterAnEpochThenRerunGivesTheUninterruptedNumbers) {
  Fixture f;
  const StudyResults straight = run_study(f.options("straight"));
  ASSERT_EQ(straight.variants.size(), 2u);
  EXPECT_EQ(straight.variants[0].name, "max");  // the baseline comes first
  EXPECT_EQ(straight.variants[0].history.size(), 3u);

  // Stop in the second variant after its first epoch, then after the second epoch, then finish.
  StudyOptions interrupted = f.options("resumed");
  int stops = 0;
  interrupted.keep_going = [&](const std::string& variant, int epoch) {
    const bool stop = variant == "max" && epoch == (stops == 0 ? 1 : 2);
    stops += stop;
    return !stop;
  };
  EXPECT_THROW(run_study(interrupted), StudyInterrupted);
  EXPECT_TRUE(fs::exists(variant_dir(interrupted.out_dir, "max") + "/checkpoint.pnet"));
  EXPECT_FALSE(fs::exists(variant_dir(interrupted.out_dir, "max") + "/result.json"));
  EXPECT_THROW(run_study(interrupted), StudyInterrupted);
  EXPECT_TRUE(testing::contains(f.log.str(), "resuming from")) << f.log.str();
  const StudyResults resumed = run_study(interrupted);
  EXPECT_EQ(stops, 2);
  EXPECT_FALSE(fs::exists(variant_dir(interrupted.out_dir, "max") + "/checkpoint.pnet"));

  ASSERT_EQ(resumed.variants.size(), 2u);
  EXPECT_TRUE(resumed.variants[0].resumed);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(measured(resumed.variants[i]), measured(straight.variants[i])) << resumed.variants[i].name;
  }
  EXPECT_EQ(resumed.variants[0].history.size(), 3u);
}

TEST(StudyResume, AFinishedVariantIsReusedAndAChangedJsonRetrainsOnlyThatVariant) {
  Fixture f;
  const StudyOptions options = f.options("out");
  const StudyResults first = run_study(options);
  const std::string max_result = variant_dir(options.out_dir, "max") + "/result.json";
  const std::string gap_result = variant_dir(options.out_dir, "gap-head") + "/result.json";
  const std::string max_bytes = testing::read_bytes(max_result);
  const auto max_time = fs::last_write_time(max_result);

  const StudyResults again = run_study(options);
  EXPECT_TRUE(again.variants[0].reused);
  EXPECT_TRUE(again.variants[1].reused);
  EXPECT_EQ(testing::read_bytes(max_result), max_bytes);
  EXPECT_EQ(fs::last_write_time(max_result), max_time);
  EXPECT_EQ(measured(again.variants[1]), measured(first.variants[1]));
  EXPECT_TRUE(testing::contains(f.log.str(), "reusing")) << f.log.str();

  f.dir.file("variants/gap-head.json", small_model("GlobalAveragePooling2D", 0.5));
  const StudyResults changed = run_study(options);
  EXPECT_TRUE(changed.variants[0].reused);
  EXPECT_FALSE(changed.variants[1].reused);
  EXPECT_TRUE(testing::contains(f.log.str(), "re-running: model_json changed")) << f.log.str();
  EXPECT_NE(measured(changed.variants[1]), measured(first.variants[1]));
  EXPECT_EQ(testing::read_bytes(max_result), max_bytes);
  EXPECT_TRUE(fs::exists(gap_result));
}

TEST(StudyResume, TheKeyCoversTheModelTheDataAndEverySetting) {
  Fixture f;
  const std::vector<VariantSpec> specs = discover_variants(f.variants, "max");
  StudyInputs inputs;
  inputs.data = data_fingerprint(f.data);
  ASSERT_EQ(inputs.data.size(), 4u);
  inputs.profile = profile_named("quick");
  const nlohmann::json key = variant_key(specs[0], inputs);
  EXPECT_EQ(key, variant_key(specs[0], inputs));
  EXPECT_NE(key, variant_key(specs[1], inputs));

  VariantSpec edited = specs[0];
  edited.json_bytes += " ";
  EXPECT_NE(key, variant_key(edited, inputs));
  for (int change = 0; change < 5; ++change) {
    StudyInputs other = inputs;
    if (change == 0) other.seed = 2;
    if (change == 1) other.threads = 2;
    if (change == 2) other.profile.epochs += 1;
    if (change == 3) other.profile.sweep_images += 1;
    if (change == 4) {
      // One byte of one data file.
      std::string bytes = testing::read_bytes(f.data + "/t10k-labels-idx1-ubyte");
      bytes.back() = static_cast<char>((bytes.back() + 1) % 10);
      testing::write_bytes(f.data + "/t10k-labels-idx1-ubyte", bytes);
      other.data = data_fingerprint(f.data);
    }
    EXPECT_NE(key, variant_key(specs[0], other)) << "change " << change;
  }
}

TEST(StudyResume, ACheckpointFromOtherSettingsIsNotResumed) {
  Fixture f;
  StudyOptions options = f.options("out");
  options.keep_going = [](const std::string&, int epoch) { return epoch < 2; };
  EXPECT_THROW(run_study(options), StudyInterrupted);
  options.keep_going = nullptr;
  options.seed = 12;
  const StudyResults results = run_study(options);
  EXPECT_FALSE(results.variants[0].resumed);
  EXPECT_TRUE(testing::contains(f.log.str(), "it was made with other inputs (seed)")) << f.log.str();
  EXPECT_EQ(results.variants[0].history.size(), 3u);
}

// A checkpoint whose carried training state has a value of the wrong type is ignored with a
// message, and the variant trains from the start (it was an uncaught JSON type_error).
TEST(StudyResume, ACheckpointWithAMalformedTrainingStateIsIgnored) {
  Fixture f;
  StudyOptions options = f.options("out");
  options.keep_going = [](const std::string&, int epoch) { return epoch < 1; };
  EXPECT_THROW(run_study(options), StudyInterrupted);
  const std::string checkpoint = variant_dir(options.out_dir, "max") + "/checkpoint.pnet";
  auto [model, state] = load_checkpoint(checkpoint);
  state.settings["train_seconds"] = "slow";
  save_checkpoint(model, state, checkpoint);
  options.keep_going = nullptr;
  const StudyResults results = run_study(options);
  EXPECT_FALSE(results.variants[0].resumed);
  EXPECT_TRUE(testing::contains(f.log.str(), "ignoring an unreadable checkpoint")) << f.log.str();
  EXPECT_TRUE(testing::contains(f.log.str(), "train_seconds")) << f.log.str();
  EXPECT_EQ(results.variants[0].history.size(), 3u);
}

TEST(StudyVariants, ABadVariantFileIsNamed) {
  Fixture f;
  const std::string bad = f.dir.file("variants/broken.json", R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1]}},
      {"class_name": "MaxPooling2D", "config": {"pool_size": 40}}]}})");
  testing::expect_throws<ShapeError>([&] { (void)discover_variants(f.variants, "max"); }, {bad, "pool_size"});
  f.dir.file("variants/broken.json", "{ not json");
  testing::expect_throws<FormatError>([&] { (void)discover_variants(f.variants, "max"); }, {bad, "not valid JSON"});
  fs::remove(bad);
  // A model for other images fails before any training, naming its file.
  std::string wrong_input = small_model("MaxPooling2D", 0.25);
  wrong_input.replace(wrong_input.find("[null, 28, 28, 1]"), 17, "[null, 32, 32, 1]");
  const std::string wrong = f.dir.file("variants/wrong.json", wrong_input);
  StudyOptions options = f.options("out");
  testing::expect_throws<ShapeError>([&] { (void)run_study(options); }, {wrong, "(32, 32, 1)", "(28, 28, 1)"});
  EXPECT_FALSE(fs::exists(options.out_dir));
  fs::remove(wrong);
  testing::expect_throws<ArgumentError>([&] { (void)discover_variants(f.variants, "min"); },
                                        {"baseline variant 'min'", "found: ", "gap-head", "--baseline"});
  testing::expect_throws<ArgumentError>([&] { (void)discover_variants(f.dir.path("none"), "max"); },
                                        {"none", "does not exist", "--variants"});
}

}  // namespace
}  // namespace poolnet::study
