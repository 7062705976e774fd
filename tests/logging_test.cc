#include "tether/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/json_reader.h"
#include "support/temp_dir.h"

namespace tether {
namespace {

using testing::JsonValue;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Points the process's logging at a file for one test, and back at stderr afterwards.
class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::string error;
    ConfigureLogging(0, false, LogFormat::kText, "", &error);
  }
  void LogTo(LogFormat format, int verbosity = 0) {
    std::string error;
    ASSERT_TRUE(ConfigureLogging(verbosity, false, format, path_, &error)) << error;
  }
  std::vector<std::string> Logged() {
    spdlog::default_logger()->flush();
    return Lines(testing::ReadFile(path_));
  }
  std::optional<JsonValue> ParseLine(const std::string& line) {
    std::string error;
    std::optional<JsonValue> value = testing::ParseJsonObjectLine(line, &error);
    EXPECT_TRUE(value) << error << ": " << line;
    return value;
  }

  testing::TempDir scratch_;
  std::string path_ = scratch_.Join("tether.log");
};

TEST(RenderLogTextTest, ReplacesPlaceholdersOfFieldsOnly) {
  struct Case {
    std::string text;
    std::string rendered;
  };
  for (const Case& c : std::vector<Case>{
           {"", ""},
           {"no fields", "no fields"},
           {"forwarding {forward} -> {target}", "forwarding 127.0.0.1:5432 -> db:5432"},
           {"{n} bytes, {n} again", "7 bytes, 7 again"},
           {"{unknown} {forward}", "{unknown} 127.0.0.1:5432"},
           {"open { brace {forward}", "open { brace {forward}"},
           {"{forward}}", "127.0.0.1:5432}"},
           {"unclosed {forward", "unclosed {forward"},
           {"{}", "{}"},
       }) {
    EXPECT_EQ(
        RenderLogText(c.text,
                      {{"forward", "127.0.0.1:5432"}, {"target", "db:5432"}, {"n", uint64_t{7}}}),
        c.rendered)
        << c.text;
  }
  // A value that looks like a placeholder is not expanded again.
  EXPECT_EQ(RenderLogText("{a}{b}", {{"a", "{b}"}, {"b", "x"}}), "{b}x");
}

TEST_F(LoggingTest, TextFileLinesAreUnchanged) {
  LogTo(LogFormat::kText);
  LogEvent(spdlog::level::info, "forward_listening",
           "forwarding {forward} -> {target} via {server}",
           {{"forward", "127.0.0.1:5432"}, {"target", "db:5432"}, {"server", "alice@db"}});
  LogEventText(spdlog::level::err, "listen_failed", "cannot listen on {forward}: in use");
  const std::vector<std::string> lines = Logged();
  ASSERT_EQ(lines.size(), 2u);
  const std::string pid = std::to_string(getpid());
  const std::regex first(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:?\d\d) tether\[)" + pid +
                         R"(\]: info: forwarding 127\.0\.0\.1:5432 -> db:5432 via alice@db)");
  EXPECT_TRUE(std::regex_match(lines[0], first)) << lines[0];
  EXPECT_NE(lines[1].find("]: error: cannot listen on {forward}: in use"), std::string::npos)
      << lines[1];
}

// -E opens its file as ssh does: O_APPEND|O_CREAT, mode 0600, no directory created.
TEST_F(LoggingTest, LogFileIsCreated0600WhateverTheUmask) {
  const mode_t old_mask = umask(022);
  LogTo(LogFormat::kText);
  umask(old_mask);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LoggingTest, LogFileIsAppendedTo) {
  ASSERT_TRUE(testing::WriteFile(path_, "an earlier line\n"));
  LogTo(LogFormat::kText);
  LogEventText(spdlog::level::warn, "x", "a new line");
  const std::vector<std::string> lines = Logged();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "an earlier line");
  EXPECT_NE(lines[1].find("warning: a new line"), std::string::npos) << lines[1];
}

/// A -E file that must be refused, and the end of the message that says why.
struct RefusedLogFile {
  std::string name;
  std::function<std::string(const testing::TempDir&)> make;  ///< returns the -E path
  std::string reason;
};

void PrintTo(const RefusedLogFile& row, std::ostream* out) { *out << row.name; }

class RefusedLogFileTest : public ::testing::TestWithParam<RefusedLogFile> {
 protected:
  void TearDown() override {
    std::string error;
    ConfigureLogging(0, false, LogFormat::kText, "", &error);
  }
  testing::TempDir scratch_;
};

TEST_P(RefusedLogFileTest, IsRefusedWithItsReason) {
  const std::string path = GetParam().make(scratch_);
  std::string error;
  EXPECT_FALSE(ConfigureLogging(0, false, LogFormat::kText, path, &error));
  EXPECT_EQ(error, "cannot open log file " + path + ": " + GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    Logging, RefusedLogFileTest,
    ::testing::Values(
        RefusedLogFile{"MissingDirectoryIsNotCreated",
                       [](const testing::TempDir& dir) { return dir.Join("missing/sub/t.log"); },
                       "No such file or directory"},
        RefusedLogFile{"SymbolicLink",
                       [](const testing::TempDir& dir) {
                         const std::string target = dir.Join("target.log");
                         EXPECT_TRUE(testing::WriteFile(target, ""));
                         EXPECT_EQ(symlink(target.c_str(), dir.Join("link.log").c_str()), 0);
                         return dir.Join("link.log");
                       },
                       "it is a symbolic link (name the file it points to)"},
        RefusedLogFile{"DanglingSymbolicLink",
                       [](const testing::TempDir& dir) {
                         EXPECT_EQ(symlink(dir.Join("nowhere.log").c_str(),
                                           dir.Join("dangling.log").c_str()),
                                   0);
                         return dir.Join("dangling.log");
                       },
                       "it is a symbolic link (name the file it points to)"},
        RefusedLogFile{"FifoNobodyReads",
                       [](const testing::TempDir& dir) {
                         EXPECT_EQ(mkfifo(dir.Join("fifo").c_str(), 0600), 0);
                         return dir.Join("fifo");
                       },
                       "it is a FIFO or socket that nobody reads"},
        RefusedLogFile{"Directory", [](const testing::TempDir& dir) { return dir.path(); },
                       "Is a directory"}),
    [](const ::testing::TestParamInfo<RefusedLogFile>& row) { return row.param.name; });

TEST(RefusedLogFileSideEffectsTest, NothingIsCreatedThroughALinkOrInAMissingDirectory) {
  testing::TempDir dir;
  std::string error;
  ASSERT_EQ(symlink(dir.Join("created-through-link.log").c_str(), dir.Join("link.log").c_str()), 0);
  EXPECT_FALSE(ConfigureLogging(0, false, LogFormat::kText, dir.Join("link.log"), &error));
  EXPECT_FALSE(ConfigureLogging(0, false, LogFormat::kText, dir.Join("missing/t.log"), &error));
  struct stat st {};
  EXPECT_NE(lstat(dir.Join("created-through-link.log").c_str(), &st), 0);
  EXPECT_NE(lstat(dir.Join("missing").c_str(), &st), 0) << "a missing directory was created";
  ConfigureLogging(0, false, LogFormat::kText, "", &error);
}

TEST_F(LoggingTest, JsonLinesCarryEventAndFields) {
  LogTo(LogFormat::kJson);
  LogEvent(spdlog::level::info, "client_closed",
           "connection #{connection} from {peer} {reason}: {bytes_out} bytes out",
           {{"connection", uint64_t{3}},
            {"peer", "127.0.0.1:40000"},
            {"reason", "closed"},
            {"bytes_out", uint64_t{18446744073709551615u}},
            {"exit_code", -1}});
  const std::vector<std::string> lines = Logged();
  ASSERT_EQ(lines.size(), 1u);
  std::optional<JsonValue> event = ParseLine(lines[0]);
  ASSERT_TRUE(event);
  EXPECT_TRUE(std::regex_match(event->Find("time")->text,
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << lines[0];
  EXPECT_EQ(event->Find("level")->text, "info");
  EXPECT_EQ(event->Find("pid")->text, std::to_string(getpid()));
  EXPECT_TRUE(event->Find("pid")->IsNumber());
  EXPECT_EQ(event->Find("event")->text, "client_closed");
  EXPECT_EQ(event->Find("message")->text,
            "connection #3 from 127.0.0.1:40000 closed: 18446744073709551615 bytes out");
  EXPECT_EQ(event->Find("connection")->text, "3");
  EXPECT_TRUE(event->Find("connection")->IsNumber());
  EXPECT_EQ(event->Find("peer")->text, "127.0.0.1:40000");
  EXPECT_TRUE(event->Find("peer")->IsString());
  EXPECT_EQ(event->Find("bytes_out")->text, "18446744073709551615");
  EXPECT_EQ(event->Find("exit_code")->text, "-1");
  EXPECT_EQ(event->members.size(), 10u) << lines[0];
}

TEST_F(LoggingTest, JsonEscapesHostileValues) {
  LogTo(LogFormat::kJson);
  const std::string hostile = std::string("a\"b\\c\nd\x1b[2J\xff", 12) + std::string(1, '\0');
  LogEvent(spdlog::level::warn, "config_warning", "bad {value}", {{"value", hostile}});
  const std::vector<std::string> lines = Logged();
  ASSERT_EQ(lines.size(), 1u) << "a newline in a value must not split the line";
  std::optional<JsonValue> event = ParseLine(lines[0]);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->Find("level")->text, "warning");
  const std::string readable = std::string("a\"b\\c\nd\x1b[2J\xef\xbf\xbd", 14) + '\0';
  EXPECT_EQ(event->Find("value")->text, readable);
  EXPECT_EQ(event->Find("message")->text, "bad " + readable);
}

TEST_F(LoggingTest, JsonHonoursTheLevelAndWrapsPlainLines) {
  LogTo(LogFormat::kJson);
  LogEvent(spdlog::level::debug, "client_accepted", "hidden without -v");
  spdlog::info("plain {} line", 1);
  LogTo(LogFormat::kJson, /*verbosity=*/1);
  LogEvent(spdlog::level::debug, "client_accepted", "shown with -v");
  const std::vector<std::string> lines = Logged();
  ASSERT_EQ(lines.size(), 2u) << "the file is appended to, and debug needs -v";
  std::optional<JsonValue> plain = ParseLine(lines[0]);
  std::optional<JsonValue> debug = ParseLine(lines[1]);
  ASSERT_TRUE(plain && debug);
  EXPECT_EQ(plain->Find("event")->text, "log");
  EXPECT_EQ(plain->Find("message")->text, "plain 1 line");
  EXPECT_EQ(debug->Find("level")->text, "debug");
  EXPECT_EQ(debug->Find("event")->text, "client_accepted");
}

}  // namespace
}  // namespace tether
