#pragma once

#include <string>

namespace tether::testing {

/// A fresh directory "tether-test-XXXXXX" under $TMPDIR (or /tmp), removed with all its
/// contents when the object is destroyed. Not copyable or movable: the path is an identity.
class TempDir {
 public:
  /// Creates the directory; on failure path() is empty and ok() is false.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Absolute path of the directory, without a trailing slash.
  const std::string& path() const { return path_; }
  /// `path() + "/" + name`, for files the test puts inside.
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  /// True when the directory was created.
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;  ///< Empty when mkdtemp failed.
};

/// $TMPDIR when set and non-empty, else "/tmp": where test files and sockets go.
std::string TempRoot();

/// Writes `content` to `path` (created or truncated). Returns false on any I/O error.
bool WriteFile(const std::string& path, const std::string& content);

/// The whole content of `path`, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace tether::testing
