#include "support/help_options.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>

#include "support/subprocess.h"

namespace tether::testing {
namespace {

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

}  // namespace

std::set<std::string> OptionsIn(std::string_view text) {
  std::set<std::string> options;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '-' || (i > 0 && IsWordChar(text[i - 1]))) continue;
    const size_t start = text[i + 1] == '-' ? i + 2 : i + 1;
    if (start >= text.size() || !std::isalpha(static_cast<unsigned char>(text[start]))) continue;
    size_t end = start + 1;
    if (start == i + 2) {
      while (end < text.size() && IsWordChar(text[end])) ++end;
    } else if (end < text.size() && IsWordChar(text[end])) {
      continue;  // "-vv" or a word such as "-foo": not a short option
    }
    options.insert(std::string(text.substr(i, end - i)));
    i = end - 1;
  }
  return options;
}

std::string TetherHelpText() {
  std::string error;
  std::unique_ptr<Subprocess> help =
      Subprocess::Start({TETHER_BINARY, "--help"}, SubprocessOptions{}, &error);
  EXPECT_TRUE(help) << error;
  if (!help) return "";
  EXPECT_EQ(help->WaitExit(std::chrono::seconds(10)), 0) << help->Stderr();
  return help->Stdout();
}

}  // namespace tether::testing
