// `cmake --install` and the .deb: exactly the expected files, in the standard places, and
// an installed tether that runs.

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::seconds;

const std::set<std::string> kInstalledFiles = {
    "bin/tether",
    "share/man/man1/tether.1",
    "share/bash-completion/completions/tether",
    "share/zsh/vendor-completions/_tether",
};

/// Every regular file under `root`, as paths relative to it.
void ListFiles(const std::string& root, const std::string& relative, std::set<std::string>* out) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir((root + "/" + relative).c_str()), closedir);
  if (!dir) return;
  while (dirent* entry = readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = relative.empty() ? name : relative + "/" + name;
    struct stat info {};
    if (lstat((root + "/" + path).c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) {
      ListFiles(root, path, out);
    } else {
      out->insert(path);
    }
  }
}

bool RunTool(const std::vector<std::string>& argv, std::string* output,
             seconds timeout = seconds(60)) {
  std::string error;
  const bool ok = RunCommand(argv, SubprocessOptions{}, timeout, output, &error);
  if (!ok) *output += "\n" + error;
  return ok;
}

bool HasProgram(const std::string& name) {
  std::string output;
  return RunTool({"/bin/sh", "-c", "command -v " + name}, &output);
}

TEST(InstallTest, InstallsExactlyTheExpectedFiles) {
  TempDir prefix;
  ASSERT_TRUE(prefix.ok());
  std::string output;
  ASSERT_TRUE(RunTool(
      {TETHER_CMAKE_COMMAND, "--install", TETHER_BUILD_DIR, "--prefix", prefix.path()}, &output))
      << output;
  std::set<std::string> files;
  ListFiles(prefix.path(), "", &files);
  EXPECT_EQ(files, kInstalledFiles);

  struct stat info {};
  ASSERT_EQ(stat(prefix.Join("bin/tether").c_str(), &info), 0);
  EXPECT_NE(info.st_mode & S_IXUSR, 0u) << "bin/tether is not executable";
  EXPECT_EQ(ReadFile(prefix.Join("share/bash-completion/completions/tether")),
            ReadFile(TETHER_SOURCE_DIR "/completions/tether.bash"));
  EXPECT_EQ(ReadFile(prefix.Join("share/zsh/vendor-completions/_tether")),
            ReadFile(TETHER_SOURCE_DIR "/completions/_tether"));
  EXPECT_EQ(ReadFile(prefix.Join("share/man/man1/tether.1")),
            ReadFile(TETHER_SOURCE_DIR "/man/tether.1"));
  output.clear();
  EXPECT_TRUE(RunTool({prefix.Join("bin/tether"), "--version"}, &output)) << output;
  EXPECT_EQ(output.rfind("tether " TETHER_VERSION, 0), 0u) << output;
}

TEST(InstallTest, CpackBuildsADebWithTheSameFiles) {
  if (!HasProgram("dpkg-deb")) GTEST_SKIP() << "dpkg-deb is not installed (Debian's dpkg)";
  TempDir out;
  ASSERT_TRUE(out.ok());
  std::string output;
  ASSERT_TRUE(RunTool({TETHER_CPACK_COMMAND, "--config", TETHER_BUILD_DIR "/CPackConfig.cmake",
                       "-G", "DEB", "-B", out.path()},
                      &output, seconds(300)))
      << output;
  std::set<std::string> debs;
  ListFiles(out.path(), "", &debs);
  std::string deb;
  for (const std::string& file : debs) {
    if (file.find('/') == std::string::npos && file.size() > 4 &&
        file.substr(file.size() - 4) == ".deb") {
      deb = out.Join(file);
    }
  }
  ASSERT_FALSE(deb.empty()) << "no .deb in " << out.path() << ":\n" << output;

  std::string listing;
  ASSERT_TRUE(RunTool({"/bin/sh", "-c", "dpkg-deb --fsys-tarfile \"$0\" | tar -t", deb}, &listing))
      << listing;
  std::set<std::string> files;
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() != '/') files.insert(line);
  }
  std::set<std::string> expected;
  for (const std::string& file : kInstalledFiles) expected.insert("./usr/" + file);
  EXPECT_EQ(files, expected) << listing;

  std::string fields;
  ASSERT_TRUE(
      RunTool({"dpkg-deb", "--field", deb, "Package", "Version", "Depends", "Maintainer"}, &fields))
      << fields;
  EXPECT_NE(fields.find("Package: tether"), std::string::npos) << fields;
  EXPECT_NE(fields.find("Version: " TETHER_VERSION), std::string::npos) << fields;
  EXPECT_NE(fields.find("libssh2-1"), std::string::npos) << fields;
  EXPECT_NE(fields.find("Maintainer: "), std::string::npos) << fields;
}

}  // namespace
}  // namespace tether::testing
