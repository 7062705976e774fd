// Keeps man/tether.1 honest against the binary: it must render without a groff warning,
// name every option `tether --help` lists and every exit code exit_code.h defines.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/help_options.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::seconds;

constexpr char kManPage[] = TETHER_SOURCE_DIR "/man/tether.1";
constexpr char kExitCodeHeader[] = TETHER_SOURCE_DIR "/include/tether/exit_code.h";

struct Outcome {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

/// Runs argv to completion (10 s at most); nullopt when it cannot be started.
std::optional<Outcome> RunToEnd(const std::vector<std::string>& argv, std::string* error) {
  std::unique_ptr<Subprocess> process = Subprocess::Start(argv, SubprocessOptions{}, error);
  if (!process) return std::nullopt;
  Outcome finished;
  finished.exit_code = process->WaitExit(seconds(10));
  finished.out = process->Stdout();
  finished.err = process->Stderr();
  return finished;
}

/// Roff source as a reader sees the words: "\-" becomes "-", font changes and the
/// zero-width escapes vanish, so "\fB\-\-ttl\fR" reads "--ttl".
std::string PlainRoff(std::string_view roff) {
  static const std::regex kEscapes(R"(\\f(\(..|\[[^\]]*\]|.)|\\%|\\&)");
  std::string text = std::regex_replace(std::string(roff), kEscapes, "");
  static const std::regex kHyphen(R"(\\-)");
  text = std::regex_replace(text, kHyphen, "-");
  static const std::regex kQuote(R"(\\\(aq)");
  return std::regex_replace(text, kQuote, "'");
}

/// The body of section `name` (".SH NAME" or ".SH \"NAME\"") up to the next ".SH".
std::string Section(const std::string& roff, const std::string& name) {
  std::istringstream in(roff);
  std::string line, body;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind(".SH", 0) == 0) {
      std::string title = line.substr(3);
      title.erase(0, title.find_first_not_of(" \""));
      title.erase(title.find_last_not_of(" \"") + 1);
      inside = title == name;
      continue;
    }
    if (inside) body += line + "\n";
  }
  return body;
}

/// The tags of a section's ".TP" paragraphs, as plain text: "64" for ".TP\n.B 64".
std::set<std::string> TaggedParagraphs(const std::string& section) {
  std::istringstream in(section);
  std::set<std::string> tags;
  std::string line;
  bool tag_next = false;
  while (std::getline(in, line)) {
    if (tag_next) {
      std::string tag = PlainRoff(line);
      if (tag.rfind(".B ", 0) == 0) tag = tag.substr(3);
      tags.insert(tag);
    }
    tag_next = line == ".TP" || line.rfind(".TP ", 0) == 0;
  }
  return tags;
}

TEST(ManPageTest, RendersWithoutWarnings) {
  std::string error;
  std::optional<Outcome> groff = RunToEnd({"groff", "-man", "-ww", "-z", kManPage}, &error);
  if (!groff) GTEST_SKIP() << "groff is not available: " << error;
  EXPECT_EQ(groff->exit_code, 0);
  EXPECT_EQ(groff->err, "");
}

TEST(ManPageTest, FindsOptionsInText) {
  EXPECT_EQ(OptionsIn("-L SPEC, -vv (-vvv) Ctrl-C accept-new 1-1000 --keepalive* --tie-to PID"),
            (std::set<std::string>{"-L", "--keepalive", "--tie-to"}));
  EXPECT_EQ(PlainRoff(R"(.BR \-\-ttl " none" \fB\-N\fR,\fP \%Keys \(aqa\(aq)"),
            R"(.BR --ttl " none" -N, Keys 'a')");
}

// Where a reader looks an option up: SYNOPSIS or OPTIONS (with its subsections), not a
// mention in passing elsewhere.
TEST(ManPageTest, DocumentsEveryOptionOfHelpInSynopsisOrOptions) {
  const std::set<std::string> help_options = OptionsIn(TetherHelpText());
  ASSERT_TRUE(help_options.count("-L") && help_options.count("--ttl"))
      << "could not find the options in tether --help";
  const std::string page = ReadFile(kManPage);
  ASSERT_FALSE(page.empty()) << kManPage;
  const std::string synopsis = Section(page, "SYNOPSIS");
  const std::string options = Section(page, "OPTIONS");
  ASSERT_FALSE(synopsis.empty() || options.empty()) << "no SYNOPSIS or OPTIONS in " << kManPage;
  const std::set<std::string> page_options = OptionsIn(PlainRoff(synopsis + options));
  std::string missing;
  for (const std::string& option : help_options) {
    if (!page_options.count(option)) missing += " " + option;
  }
  EXPECT_EQ(missing, "") << "in tether --help but not in the SYNOPSIS or OPTIONS of " << kManPage;
}

TEST(ManPageTest, ListsEveryExitCode) {
  const std::string header = ReadFile(kExitCodeHeader);
  const std::string section = Section(ReadFile(kManPage), "EXIT STATUS");
  ASSERT_FALSE(section.empty()) << "no EXIT STATUS section in " << kManPage;
  const std::set<std::string> tags = TaggedParagraphs(section);
  static const std::regex kValue(R"(\bk\w+\s*=\s*(\d+))");
  int codes = 0;
  for (std::sregex_iterator it(header.begin(), header.end(), kValue), end; it != end; ++it) {
    ++codes;
    const std::string code = (*it)[1];
    EXPECT_TRUE(tags.count(code)) << "exit code " << code << " is not in EXIT STATUS";
  }
  EXPECT_GE(codes, 8) << "could not read the exit codes from " << kExitCodeHeader;
}

TEST(ManPageTest, VersionNamesTheProjectVersion) {
  std::string error;
  std::optional<Outcome> version = RunToEnd({TETHER_BINARY, "--version"}, &error);
  ASSERT_TRUE(version) << error;
  EXPECT_EQ(version->exit_code, 0) << version->err;
  const std::string expected = "tether " TETHER_VERSION;
  EXPECT_EQ(version->out.substr(0, expected.size()), expected) << version->out;
  ASSERT_GT(version->out.size(), expected.size());
  const char after = version->out[expected.size()];
  EXPECT_TRUE(after == ' ' || after == '\n') << version->out;
}

}  // namespace
}  // namespace tether::testing
