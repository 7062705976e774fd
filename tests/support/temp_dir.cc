#include "support/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace tether::testing {

std::string TempRoot() {
  const char* env = getenv("TMPDIR");
  if (env != nullptr && env[0] != '\0') return env;
  return "/tmp";
}

TempDir::TempDir() {
  std::string templ = TempRoot() + "/tether-test-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return;
  // Canonical form, so paths compared against /proc or sshd logs match byte for byte.
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(buf.data(), ec);
  path_ = ec ? std::string(buf.data()) : canonical.string();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;  // A failed cleanup must not abort the test run.
  std::filesystem::remove_all(path_, ec);
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  return static_cast<bool>(out);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace tether::testing
