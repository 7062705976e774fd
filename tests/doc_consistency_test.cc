// Keeps the words around the code from drifting away from it: every test SECURITY.md cites
// is a test of this binary, in the file it is cited with; every repository file the
// documents name is in the tree; and no comment of the code cites a file the tree does not
// hold (a design note kept elsewhere) or an issue of a tracker outside the repository, since
// a reader of the repository has neither. Each failure lists every offending item.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/temp_dir.h"

namespace tether::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kSourceDir[] = TETHER_SOURCE_DIR;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // "…", UTF-8

/// Directories whose files' comments are checked; documents are checked on their own.
const std::vector<std::string>& CodeDirectories() {
  static const std::vector<std::string> kDirs = {"src", "include", "tests", "scripts",
                                                 ".ci", "bench",   "fuzz",  "completions"};
  return kDirs;
}

/// Top-level directories of the repository: a word starting with one names a repository file.
const std::vector<std::string>& TopDirectories() {
  static const std::vector<std::string> kTops = {
      "src/", "include/", "tests/", "scripts/", "bench/", "fuzz/", "man/", "completions/", ".ci/"};
  return kTops;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// Build trees, VCS data and fuzz corpora are not part of what a reader reads.
bool Skipped(const fs::path& dir) {
  const std::string name = dir.filename().string();
  return StartsWith(name, "build") || name == ".git" || name == "corpus";
}

/// Every regular file under `dir` (relative to the source tree), skipping Skipped() ones.
std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code error;
  fs::recursive_directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    if (it->is_directory() && Skipped(it->path())) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  return files;
}

/// The names of all files in the tree: a bare "foo.cc" in a comment must be one of them.
const std::set<std::string>& TreeFileNames() {
  static const std::set<std::string> kNames = [] {
    std::set<std::string> names;
    for (const fs::path& file : FilesUnder(kSourceDir)) names.insert(file.filename().string());
    return names;
  }();
  return kNames;
}

/// One comment: where it starts and its text.
struct Comment {
  int line = 0;
  std::string text;
};

int LineAt(const std::string& text, size_t offset) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

/// End of the string or character literal opening at `at` (the offset after its quote).
size_t SkipQuoted(const std::string& text, size_t at) {
  const char quote = text[at];
  size_t i = at + 1;
  while (i < text.size() && text[i] != quote && text[i] != '\n') i += text[i] == '\\' ? 2 : 1;
  return i + 1;
}

/// End of the raw string literal R"delim(...)delim" opening at `at`.
size_t SkipRawString(const std::string& text, size_t at) {
  const size_t open = text.find('(', at);
  if (open == std::string::npos) return text.size();
  const std::string close = ")" + text.substr(at + 2, open - at - 2) + "\"";
  const size_t end = text.find(close, open);
  return end == std::string::npos ? text.size() : end + close.size();
}

bool IsIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// The // and /* */ comments of C++ source, string and character literals skipped.
std::vector<Comment> CppComments(const std::string& text) {
  std::vector<Comment> comments;
  for (size_t i = 0; i < text.size();) {
    const bool after_identifier = i > 0 && IsIdentifierChar(text[i - 1]);
    if (text.compare(i, 2, "//") == 0 || text.compare(i, 2, "/*") == 0) {
      const bool line_comment = text[i + 1] == '/';
      size_t end = text.find(line_comment ? "\n" : "*/", i + 2);
      if (end == std::string::npos) end = text.size();
      comments.push_back({LineAt(text, i), text.substr(i + 2, end - i - 2)});
      i = end + (line_comment ? 0 : 2);
    } else if (text.compare(i, 2, "R\"") == 0 && !after_identifier) {
      i = SkipRawString(text, i);
    } else if (text[i] == '"' || (text[i] == '\'' && !after_identifier)) {
      i = SkipQuoted(text, i);  // a ' after a digit is a digit separator, not a literal
    } else {
      ++i;
    }
  }
  return comments;
}

/// The # comments of shell, CMake and Python files: a # that starts the line or follows a
/// blank, outside quotes.
std::vector<Comment> HashComments(const std::string& text) {
  std::vector<Comment> comments;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (quote != 0) {
        if (line[i] == quote) quote = 0;
      } else if (line[i] == '"' || line[i] == '\'') {
        quote = line[i];
      } else if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        comments.push_back({number, line.substr(i + 1)});
        break;
      }
    }
  }
  return comments;
}

std::vector<Comment> CommentsOf(const fs::path& file) {
  const std::string text = ReadFile(file.string());
  if (text.find('\0') != std::string::npos) return {};  // binary
  const std::string extension = file.extension().string();
  if (extension == ".cc" || extension == ".h") return CppComments(text);
  if (extension == ".md" || extension == ".1") return {};  // documents: checked as such
  return HashComments(text);
}

/// A word with the punctuation around it removed: "(`DESIGN.md`)." reads "DESIGN.md".
std::string Trimmed(std::string word) {
  const std::string_view leading = "`'\"([{*";
  const std::string_view trailing = "`'\"),;:.]}*!?";
  while (!word.empty() && leading.find(word.front()) != std::string_view::npos) {
    word.erase(0, 1);
  }
  while (!word.empty() && trailing.find(word.back()) != std::string_view::npos) word.pop_back();
  if (EndsWith(word, "'s")) word.resize(word.size() - 2);  // "CMakeLists.txt's"
  return word;
}

/// A placeholder such as TARGET or NAME_fuzzer.cc ("fuzz/corpus/TARGET"): stands for files.
bool HasPlaceholder(const std::string& path) {
  static const std::regex kPlaceholder(R"((^|/)[A-Z][A-Z0-9]{2,}(_[^/]*)?(/|$))");
  return !EndsWith(path, ".md") && std::regex_search(path, kPlaceholder);
}

/// True when `word` names a file of the repository: it starts with a top-level directory
/// or "../", or it is a file name with an extension the repository's files have.
bool LooksLikeRepositoryPath(const std::string& word) {
  static const std::regex kFileName(
      R"(^(\.\.?/)*([A-Za-z0-9_.-]+/)*[A-Za-z_][A-Za-z0-9_+-]*\.(cc|h|md|py|sh|txt|bash|1)$)");
  if (word.empty() || word.front() == '/' || word.front() == '~' || word.front() == '$' ||
      word.find("://") != std::string::npos || word.find_first_of("*@=") != std::string::npos) {
    return false;
  }
  if (HasPlaceholder(word)) return false;
  // Build directories (build/, bench/build/, build-asan/) are made by the scripts the
  // documents describe and ignored by git: a fresh clone has none of them.
  if (EndsWith(word, "/")) {
    const std::string trimmed = word.substr(0, word.size() - 1);
    if (StartsWith(trimmed.substr(trimmed.rfind('/') + 1), "build")) return false;
  }
  if (StartsWith(word, "../")) return true;
  if (StartsWith(word, "./")) return LooksLikeRepositoryPath(word.substr(2));
  for (const std::string& top : TopDirectories()) {
    if (StartsWith(word, top)) return true;
  }
  return std::regex_match(word, kFileName);
}

bool Exists(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);
}

/// Whether `cited`, named in `from` (a file of the tree), is a file of the tree: relative to
/// the tree, to `from`'s directory or to an include directory; else, unless it starts in a
/// top-level directory or "..", its file name anywhere in the tree ("tether.1" as installed
/// under "share/man/man1/"). System headers (<sys/pidfd.h> unbracketed) count as well.
bool CitedFileExists(const std::string& cited, const fs::path& from) {
  const fs::path root(kSourceDir);
  const std::vector<fs::path> bases = {root,           from.parent_path(), root / "src",
                                       root / "tests", root / "include",   root / "include/tether"};
  for (const fs::path& base : bases) {
    if (Exists(base / cited)) return true;
  }
  for (const char* system :
       {"/usr/include/", "/usr/include/x86_64-linux-gnu/", "/usr/include/aarch64-linux-gnu/"}) {
    if (Exists(fs::path(system) / cited)) return true;
  }
  if (StartsWith(cited, "../")) return false;
  for (const std::string& top : TopDirectories()) {
    if (StartsWith(cited, top) || StartsWith(cited, "./" + top)) return false;
  }
  return TreeFileNames().count(fs::path(cited).filename().string()) > 0;
}

/// The word issue and a number, "#" or not: a tracker the repository does not carry.
bool CitesAnIssue(const std::string& text) {
  static const std::regex kIssue(R"(\b[Ii]ssues?\s+#?\d+)");
  return std::regex_search(text, kIssue);
}

std::string Relative(const fs::path& path) { return fs::relative(path, kSourceDir).string(); }

/// "file:line: what" lines for every comment in the code directories that cites a missing
/// file or an issue number.
std::vector<std::string> StaleCitationsInComments() {
  std::vector<std::string> stale;
  for (const std::string& dir : CodeDirectories()) {
    for (const fs::path& file : FilesUnder(fs::path(kSourceDir) / dir)) {
      for (const Comment& comment : CommentsOf(file)) {
        const std::string where = Relative(file) + ":" + std::to_string(comment.line) + ": ";
        if (CitesAnIssue(comment.text)) stale.push_back(where + "cites an issue number");
        std::istringstream words(comment.text);
        for (std::string raw; words >> raw;) {
          // "exe.txt" in quotes is an example, <sys/pidfd.h> a system header.
          if (raw.front() == '"' || raw.front() == '<') continue;
          const std::string word = Trimmed(raw);
          if (LooksLikeRepositoryPath(word) && !CitedFileExists(word, file)) {
            stale.push_back(where + "cites " + word + ", which is not in the tree");
          }
        }
      }
    }
  }
  return stale;
}

std::string Lines(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += "  " + item + "\n";
  return text;
}

/// `code` spans of a Markdown text, in order.
std::vector<std::string> CodeSpans(const std::string& markdown) {
  static const std::regex kSpan("`([^`\n]+)`");
  std::vector<std::string> spans;
  for (std::sregex_iterator it(markdown.begin(), markdown.end(), kSpan), end; it != end; ++it) {
    spans.push_back((*it)[1]);
  }
  return spans;
}

// ---------------------------------------------------------------------------------------
// The tests this binary holds, as SECURITY.md may cite them.

/// Names a test can be cited by, per file of its definition ("lifetime_e2e_test.cc"):
/// the suite ("SlowServerTest", without an instantiation prefix), the test
/// ("KilledServerExits74AtOnce"), a parameter row ("DribblesItsBanner") and "Suite.Test".
/// The entries of tests/CMakeLists.txt's add_test(NAME ...) count under "" (any file).
std::map<std::string, std::set<std::string>> CitableTestNames() {
  std::map<std::string, std::set<std::string>> names;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    std::string suite_name = suite.name();
    suite_name = suite_name.substr(suite_name.rfind('/') + 1);
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const ::testing::TestInfo& info = *suite.GetTestInfo(j);
      const std::string file = fs::path(info.file()).filename().string();
      const std::string full = info.name();  // "Method" or "Method/Row" (TEST_P)
      const std::string method = full.substr(0, full.find('/'));
      std::set<std::string>& in_file = names[file];
      in_file.insert({suite_name, method, suite_name + "." + method});
      if (full.find('/') != std::string::npos) in_file.insert(full.substr(full.find('/') + 1));
    }
  }
  static const std::regex kAddTest(R"(add_test\(NAME\s+(\w+))");
  const std::string cmake = ReadFile(std::string(kSourceDir) + "/tests/CMakeLists.txt");
  for (std::sregex_iterator it(cmake.begin(), cmake.end(), kAddTest), end; it != end; ++it) {
    names[""].insert((*it)[1]);
  }
  return names;
}

/// A citation of a test: "Name", "Prefix…" or "…Suffix", CamelCase, maybe "Suite.Name".
bool IsTestCitation(const std::string& span) {
  static const std::regex kCitation(R"(^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)?$)");
  std::string stem = span;
  if (StartsWith(stem, kEllipsis)) stem.erase(0, kEllipsis.size());
  if (EndsWith(stem, kEllipsis)) stem.erase(stem.size() - kEllipsis.size());
  return std::regex_match(stem, kCitation);
}

bool Cites(const std::string& citation, const std::string& name) {
  if (StartsWith(citation, kEllipsis)) {
    return EndsWith(name, std::string_view(citation).substr(kEllipsis.size()));
  }
  if (EndsWith(citation, kEllipsis)) {
    return StartsWith(name, citation.substr(0, citation.size() - kEllipsis.size()));
  }
  return name == citation;
}

/// The "tested by" cells of SECURITY.md's guarantee table, one per row.
std::vector<std::string> TestedByCells(const std::string& security) {
  std::vector<std::string> cells;
  const size_t table = security.find("## Guarantees and their tests");
  if (table == std::string::npos) return cells;
  std::istringstream in(security.substr(table, security.find("\n## ", table + 1) - table));
  for (std::string line; std::getline(in, line);) {
    if (!StartsWith(line, "| ") || StartsWith(line, "| guarantee ")) continue;
    const size_t last = line.rfind(" | ");
    if (last != std::string::npos) cells.push_back(line.substr(last + 3));
  }
  return cells;
}

TEST(DocConsistencyTest, FindsCommentsAndCitations) {
  const std::vector<Comment> cpp = CppComments(
      "int a = 1'000;  // one\nconst char* s = \"// not\";\nauto r = R\"x(/* no */)x\"; /* two */");
  ASSERT_EQ(cpp.size(), 2u);
  EXPECT_EQ(cpp[0].text, " one");
  EXPECT_EQ(cpp[1].line, 3);
  EXPECT_EQ(cpp[1].text, " two ");
  const std::vector<Comment> hash = HashComments("x=\"#no\" # yes\nn=${#list} $#\n# line\n");
  ASSERT_EQ(hash.size(), 2u);
  EXPECT_EQ(hash[0].text, " yes");
  EXPECT_EQ(hash[1].line, 3);
  EXPECT_TRUE(LooksLikeRepositoryPath("DESIGN.md"));
  EXPECT_TRUE(LooksLikeRepositoryPath("../shared"));
  EXPECT_TRUE(LooksLikeRepositoryPath("tests/support/e2e_fixture.h"));
  EXPECT_FALSE(LooksLikeRepositoryPath("127.0.0.1"));
  EXPECT_FALSE(LooksLikeRepositoryPath("/etc/ssh/ssh_config"));
  EXPECT_FALSE(LooksLikeRepositoryPath("fuzz/corpus/TARGET"));
  EXPECT_TRUE(CitedFileExists("tether/unique_fd.h", fs::path(kSourceDir) / "src/x.cc"));
  EXPECT_FALSE(CitedFileExists("DESIGN.md", fs::path(kSourceDir) / "src/x.cc"));
  EXPECT_TRUE(CitesAnIssue("the soak of issue 7"));
  EXPECT_TRUE(CitesAnIssue("Issue #13: the provider"));
  EXPECT_FALSE(CitesAnIssue("PKCS#8 keys, connection #3"));
  EXPECT_TRUE(IsTestCitation("ServerKilled\xE2\x80\xA6"));
  EXPECT_TRUE(IsTestCitation("PromptTest.SigtermWhileAskpassHangs"));
  EXPECT_FALSE(IsTestCitation("soak"));
  EXPECT_TRUE(
      Cites("\xE2\x80\xA6"
            "AtOnce",
            "KilledServerExits74AtOnce"));
  EXPECT_FALSE(Cites("ServerKilled\xE2\x80\xA6", "KilledServerExits74AtOnce"));
}

TEST(DocConsistencyTest, EveryTestSecurityMdCitesExists) {
  const std::string security = ReadFile(std::string(kSourceDir) + "/SECURITY.md");
  const std::vector<std::string> cells = TestedByCells(security);
  ASSERT_GE(cells.size(), 10u) << "could not find the guarantee table of SECURITY.md";
  const std::map<std::string, std::set<std::string>> names = CitableTestNames();
  std::vector<std::string> missing;
  int citations = 0;
  for (const std::string& cell : cells) {
    std::string file;  // the test file the citations that follow belong to
    for (const std::string& span : CodeSpans(cell)) {
      if (EndsWith(span, "_test.cc")) {
        file = fs::path(span).filename().string();
        continue;
      }
      if (EndsWith(span, ".cc")) file.clear();  // a fuzz target: what follows may be anywhere
      if (!IsTestCitation(span)) continue;
      ++citations;
      bool found = false;
      for (const auto& [defined_in, in_file] : names) {
        if (!file.empty() && defined_in != file && !defined_in.empty()) continue;
        for (const std::string& name : in_file) found = found || Cites(span, name);
      }
      if (!found) {
        missing.push_back("`" + span + "`" + (file.empty() ? "" : " in " + file));
      }
    }
  }
  EXPECT_GE(citations, 20) << "could not find the test names SECURITY.md cites";
  EXPECT_TRUE(missing.empty()) << "SECURITY.md cites tests that this binary does not have:\n"
                               << Lines(missing);
}

TEST(DocConsistencyTest, EveryFileTheDocumentsNameIsInTheTree) {
  std::vector<std::string> missing;
  for (const char* document : {"README.md", "SECURITY.md", "bench/README.md", "fuzz/README.md"}) {
    const fs::path path = fs::path(kSourceDir) / document;
    const std::string text = ReadFile(path.string());
    EXPECT_FALSE(text.empty()) << path;
    if (CitesAnIssue(text)) missing.push_back(std::string(document) + ": cites an issue number");
    for (const std::string& span : CodeSpans(text)) {
      // A command ("./scripts/test --sanitize") names the file of its first word.
      const std::string word = Trimmed(span.substr(0, span.find(' ')));
      if (LooksLikeRepositoryPath(word) && !CitedFileExists(word, path)) {
        missing.push_back(std::string(document) + ": `" + word + "`");
      }
    }
  }
  EXPECT_TRUE(missing.empty()) << "documents name files that are not in the tree:\n"
                               << Lines(missing);
}

TEST(DocConsistencyTest, NoCommentCitesAFileOutsideTheTreeOrAnIssueNumber) {
  const std::vector<std::string> stale = StaleCitationsInComments();
  EXPECT_TRUE(stale.empty())
      << "comments must explain themselves from the repository; these cite what a reader of "
         "it does not have:\n"
      << Lines(stale);
}

}  // namespace
}  // namespace tether::testing
