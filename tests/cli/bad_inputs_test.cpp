// The bad-input corpus (tests/data/bad_inputs/, written by scripts/make_test_files.py): every
// malformed file goes through the poolnet program with the command its manifest entry gives,
// which must fail with the expected exit status and message and leave no output file behind
// (no model, no checkpoint, no temporary file).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace poolnet {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const std::string kCorpus = std::string(POOLNET_SOURCE_DIR) + "/tests/data/bad_inputs";

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Every regular file under `dir` except `allowed`.
std::vector<std::string> files_under(const std::string& dir, const std::string& allowed) {
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().string() != allowed) files.push_back(e.path().string());
  }
  return files;
}

TEST(BadInputs, EveryMalformedFileIsRefusedWithItsMessageAndLeavesNoOutput) {
  const nlohmann::json manifest = nlohmann::json::parse(testing::read_bytes(kCorpus + "/manifest.json"));
  const nlohmann::json& cases = manifest.at("cases");
  EXPECT_GE(cases.size(), 50u) << "the issue asks for at least 50 malformed files";
  for (const nlohmann::json& c : cases) {
    const std::string file = kCorpus + "/" + c.at("file").get<std::string>();
    SCOPED_TRACE(c.at("file").get<std::string>());
    ASSERT_TRUE(fs::is_regular_file(file));
    const TempDir dir("poolnet_bad_input");
    const std::string out = dir.path("out");
    fs::create_directories(out);
    std::string allowed;
    if (c.contains("checkpoint")) {
      fs::create_directories(out + "/ckpt");
      allowed = out + "/ckpt/checkpoint.pnet";
      fs::copy_file(file, allowed);
    }
    const std::string data = dir.path("data");
    if (c.contains("data_file")) {
      fs::copy(kCorpus + "/good/data", data);
      fs::copy_file(file, data + "/" + c.at("data_file").get<std::string>(),
                    fs::copy_options::overwrite_existing);
    }
    std::string command = c.at("command").get<std::string>();
    command = replace_all(command, "{file}", "'" + file + "'");
    command = replace_all(command, "{good}", "'" + kCorpus + "/good'");
    command = replace_all(command, "{out}", out);
    command = replace_all(command, "{data}", data);

    const testing::CommandResult r = testing::run_command(command, testing::StderrTo::kStdout);
    EXPECT_EQ(r.exit_code, c.at("exit").get<int>()) << command << "\n" << r.out;
    const std::string message = c.at("message").get<std::string>();
    EXPECT_TRUE(testing::contains(r.out, message))
        << command << "\nexpected: " << message << "\ngot: " << r.out;
    EXPECT_EQ(files_under(out, allowed), std::vector<std::string>{}) << command;
  }
}

}  // namespace
}  // namespace poolnet
