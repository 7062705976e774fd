#include "tether/regular_file.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "support/temp_dir.h"

namespace tether {
namespace {

TEST(OpenForReadingTest, OpensARegularFileForBlockingReads) {
  testing::TempDir dir;
  const std::string path = dir.Join("config");
  ASSERT_TRUE(testing::WriteFile(path, "Port 22\n"));
  OpenedFile file;
  ASSERT_TRUE(OpenForReading(path, &file));
  EXPECT_EQ(file.type, FileType::kRegular);
  char text[16] = {};
  EXPECT_EQ(read(file.fd.get(), text, sizeof(text)), 8);
}

TEST(OpenForReadingTest, TellsDirectoriesAndDevNullApart) {
  testing::TempDir dir;
  OpenedFile directory;
  ASSERT_TRUE(OpenForReading(dir.path(), &directory));
  EXPECT_EQ(directory.type, FileType::kDirectory);
  OpenedFile null;
  ASSERT_TRUE(OpenForReading("/dev/null", &null));
  EXPECT_EQ(null.type, FileType::kNullDevice);
  EXPECT_TRUE(IsNullDevice(null.st));
}

// A FIFO nobody writes to: open() without O_NONBLOCK would never return.
TEST(OpenForReadingTest, ReturnsAtOnceForAFifoAndCallsItOther) {
  testing::TempDir dir;
  const std::string path = dir.Join("fifo");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  OpenedFile file;
  ASSERT_TRUE(OpenForReading(path, &file));
  EXPECT_EQ(file.type, FileType::kOther);
  EXPECT_EQ(DescribeFileType(file.st), "a FIFO");
}

TEST(OpenForReadingTest, NamesASocketAndADevice) {
  testing::TempDir dir;
  const std::string path = dir.Join("sock");
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path.c_str(), path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  OpenedFile socket_file;
  ASSERT_TRUE(OpenForReading(path, &socket_file));
  EXPECT_EQ(socket_file.type, FileType::kOther);
  EXPECT_EQ(DescribeFileType(socket_file.st), "a socket");
  close(fd);
  OpenedFile zero;
  ASSERT_TRUE(OpenForReading("/dev/zero", &zero));
  EXPECT_EQ(zero.type, FileType::kOther);
  EXPECT_EQ(DescribeFileType(zero.st), "a character device");
}

TEST(OpenForReadingTest, FailsWithErrnoForAMissingFile) {
  OpenedFile file;
  errno = 0;
  EXPECT_FALSE(OpenForReading("/nonexistent/tether/config", &file));
  EXPECT_EQ(errno, ENOENT);
}

TEST(LineReaderTest, ReadsLinesAndALastOneWithoutNewline) {
  testing::TempDir dir;
  const std::string path = dir.Join("lines");
  ASSERT_TRUE(testing::WriteFile(path, "one\n\nthree"));
  OpenedFile file;
  ASSERT_TRUE(OpenForReading(path, &file));
  LineReader reader(file.fd.get(), 16);
  std::string line;
  ASSERT_EQ(reader.Next(&line), LineReader::Status::kLine);
  EXPECT_EQ(line, "one");
  ASSERT_EQ(reader.Next(&line), LineReader::Status::kLine);
  EXPECT_EQ(line, "");
  ASSERT_EQ(reader.Next(&line), LineReader::Status::kLine);
  EXPECT_EQ(line, "three");
  EXPECT_EQ(reader.Next(&line), LineReader::Status::kEnd);
}

TEST(LineReaderTest, StopsAtTheBoundInsteadOfReadingForever) {
  OpenedFile zero;
  ASSERT_TRUE(OpenForReading("/dev/zero", &zero));
  LineReader reader(zero.fd.get(), size_t{1} << 20);
  std::string line;
  EXPECT_EQ(reader.Next(&line), LineReader::Status::kTooLong);
}

}  // namespace
}  // namespace tether
