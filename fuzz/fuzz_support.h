#pragma once

// Helpers shared by the fuzz targets: a failed invariant, and a private directory for the
// targets whose parser reads a file.

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace tether::fuzz {

/// Ends the run with a message when an invariant does not hold; libFuzzer catches the abort
/// and saves the input that caused it.
inline void Check(bool holds, std::string_view what, std::string_view detail = "") {
  if (holds) return;
  std::fprintf(stderr, "fuzz invariant failed: %.*s\n  detail: ", static_cast<int>(what.size()),
               what.data());
  // Detail may hold any bytes; print them escaped so the report stays readable.
  for (char c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      std::fprintf(stderr, "\\x%02x", byte);
    } else {
      std::fputc(c, stderr);
    }
  }
  std::fputc('\n', stderr);
  std::abort();
}

/// True when `text` would print on one line: no byte below 0x20 and no DEL.
inline bool IsOneLine(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

/// A directory under $TMPDIR that lives as long as the process and is removed with it.
/// Its path is canonical (realpath), so callers may compare other canonical paths with it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/tether-fuzz-XXXXXX";
    Check(mkdtemp(pattern.data()) != nullptr, "mkdtemp", pattern);
    char* canonical = realpath(pattern.c_str(), nullptr);
    Check(canonical != nullptr, "realpath of the scratch dir", pattern);
    path_ = canonical;
    std::free(canonical);  // NOLINT(cppcoreguidelines-no-malloc): realpath's contract
  }
  ~ScratchDir() {
    nftw(
        path_.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Replaces the file at `path` with exactly `bytes`, mode 0600 (ssh refuses group- or
/// world-writable config files).
inline void WriteFile(const std::string& path, std::string_view bytes) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    Check(static_cast<bool>(out), "writing a scratch file", path);
  }
  Check(::chmod(path.c_str(), 0600) == 0, "chmod of a scratch file", path);
}

}  // namespace tether::fuzz
