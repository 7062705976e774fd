#include "tether/standard_output.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "support/temp_dir.h"

namespace tether {
namespace {

/// Points this process's stdout at `path` for the test's lifetime.
class StdoutTo {
 public:
  explicit StdoutTo(const std::string& path) {
    std::fflush(stdout);
    saved_ = dup(STDOUT_FILENO);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  ~StdoutTo() {
    dup2(saved_, STDOUT_FILENO);
    close(saved_);
  }
  StdoutTo(const StdoutTo&) = delete;
  StdoutTo& operator=(const StdoutTo&) = delete;

 private:
  int saved_ = -1;
};

TEST(WriteToStdoutTest, WritesEverything) {
  testing::TempDir dir;
  const std::string text(3 << 20, 'a');
  std::string error;
  bool written = false;
  {
    StdoutTo file(dir.Join("out"));
    written = WriteToStdout(text, &error);
  }
  EXPECT_TRUE(written) << error;
  EXPECT_EQ(testing::ReadFile(dir.Join("out")).size(), text.size());
}

TEST(WriteToStdoutTest, ReportsAFullDisk) {
  std::string error;
  bool written = true;
  {
    StdoutTo full("/dev/full");
    written = WriteToStdout("127.0.0.1:40000\n", &error);
  }
  EXPECT_FALSE(written);
  EXPECT_EQ(error, "cannot write to standard output: No space left on device");
}

}  // namespace
}  // namespace tether
