#include "tether/regular_file.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>

namespace tether {
bool IsNullDevice(const struct stat& st) {
  return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

namespace {

FileType TypeOf(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return FileType::kRegular;
  if (S_ISDIR(st.st_mode)) return FileType::kDirectory;
  if (IsNullDevice(st)) return FileType::kNullDevice;
  return FileType::kOther;
}

}  // namespace

bool OpenForReading(const std::string& path, OpenedFile* file) {
  file->fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!file->fd) {
    // open() cannot open a socket at all; say what it is rather than "no such device".
    const int saved = errno;
    if (saved == ENXIO && stat(path.c_str(), &file->st) == 0 && S_ISSOCK(file->st.st_mode)) {
      file->type = FileType::kOther;
      return true;
    }
    errno = saved;
    return false;
  }
  if (fstat(file->fd.get(), &file->st) != 0) return false;
  file->type = TypeOf(file->st);
  if (file->type == FileType::kRegular) {
    // Reads of a regular file never block anyway; blocking mode keeps read() simple.
    const int flags = fcntl(file->fd.get(), F_GETFL);
    if (flags >= 0) fcntl(file->fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  }
  return true;
}

std::string DescribeFileType(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "a regular file";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  return "not a regular file";
}

LineReader::Status LineReader::Next(std::string* line) {
  for (;;) {
    const size_t newline = buffer_.find('\n', start_);
    const size_t end = newline == std::string::npos ? buffer_.size() : newline;
    if (end - start_ > max_line_bytes_) return Status::kTooLong;
    if (newline != std::string::npos || (eof_ && start_ < buffer_.size())) {
      line->assign(buffer_, start_, end - start_);
      start_ = std::min(end + 1, buffer_.size());
      return Status::kLine;
    }
    if (eof_) return Status::kEnd;
    if (!Fill()) return Status::kReadError;
  }
}

bool LineReader::Fill() {
  buffer_.erase(0, start_);
  start_ = 0;
  char chunk[65536];
  ssize_t got;
  do {
    got = ::read(fd_, chunk, sizeof(chunk));
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    read_errno_ = errno;
    return false;
  }
  eof_ = got == 0;
  buffer_.append(chunk, static_cast<size_t>(got));
  return true;
}

}  // namespace tether
