#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>

#include "tether/unique_fd.h"

namespace tether {

/// What a path named as a file to read (a configuration file, a known_hosts file) turned
/// out to be.
enum class FileType {
  kRegular,     ///< read it
  kDirectory,   ///< ssh reads nothing from one (a glob may match it)
  kNullDevice,  ///< /dev/null: empty, the usual way to say "no such file"
  kOther,       ///< a FIFO, socket or device: refused, it could block or never end
};

/// A file opened by OpenForReading.
struct OpenedFile {
  UniqueFd fd;  ///< invalid for a socket; blocking again for a regular file
  FileType type = FileType::kOther;
  struct stat st {};
};

/// Opens `path` read-only without ever blocking in open() (O_NONBLOCK: a FIFO without a
/// writer would wait forever, a device might) and without taking a terminal as the
/// controlling one, then looks at what it opened. false with errno set when it cannot.
bool OpenForReading(const std::string& path, OpenedFile* file);

/// True for /dev/null (character device 1:3), under whatever name.
bool IsNullDevice(const struct stat& st);

/// "a FIFO", "a socket", "a character device", ... for messages about a refused file.
std::string DescribeFileType(const struct stat& st);

/// Reads a file line by line with a bound on the line length, so that an endless file
/// without newlines (/dev/zero, a huge junk line) costs at most the bound in memory.
class LineReader {
 public:
  enum class Status { kLine, kEnd, kTooLong, kReadError };
  LineReader(int fd, size_t max_line_bytes) : fd_(fd), max_line_bytes_(max_line_bytes) {}
  /// The next line without its newline (the last one may lack it).
  Status Next(std::string* line);
  int read_errno() const { return read_errno_; }

 private:
  bool Fill();
  int fd_;
  size_t max_line_bytes_;
  std::string buffer_;
  size_t start_ = 0;  ///< first unread byte of buffer_
  bool eof_ = false;
  int read_errno_ = 0;
};

}  // namespace tether
