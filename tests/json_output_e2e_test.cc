// --log-format json means a log shipper reads nothing but JSON: the tether binary, run for
// each failure that ends it before or while it starts the tunnel, must write only JSON
// objects to stderr, one event naming the failure. No sshd is needed: each run ends before
// it would connect, or at a closed port on loopback.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/json_reader.h"
#include "support/net_util.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

constexpr std::chrono::seconds kExitTimeout{15};

/// How one run of the binary ended.
struct TetherRun {
  std::optional<int> exit_code;
  std::string stderr_text;
  std::vector<JsonValue> events;  ///< each stderr line, parsed
  bool all_json = true;           ///< every stderr line parsed as a JSON object
};

std::string Member(const JsonValue& event, const std::string& key) {
  const JsonValue* value = event.Find(key);
  return value != nullptr ? value->text : "<missing " + key + ">";
}

class JsonOutputE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    ASSERT_TRUE(WriteFile(EmptyConfig(), ""));
  }

  std::string EmptyConfig() const { return scratch_.Join("empty.conf"); }

  /// Runs `prefix... tether args...` with HOME in the scratch directory, to its end.
  TetherRun RunTether(const std::vector<std::string>& args, std::vector<std::string> prefix = {}) {
    prefix.push_back(TETHER_BINARY);
    prefix.insert(prefix.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.env_set["HOME"] = scratch_.path();
    options.new_session = true;  // the -f background child is ended with the group
    std::string error;
    std::unique_ptr<Subprocess> tether = Subprocess::Start(prefix, options, &error);
    TetherRun run;
    if (!tether) {
      ADD_FAILURE() << error;
      return run;
    }
    run.exit_code = tether->WaitExit(kExitTimeout);
    // With -f the error comes from the background process, which may still be writing.
    WaitUntil([&] { return ProcessGroupGone(tether->pid()); }, kExitTimeout);
    run.stderr_text = tether->Stderr();
    std::istringstream in(run.stderr_text);
    for (std::string line; std::getline(in, line);) {
      std::optional<JsonValue> event = ParseJsonObjectLine(line, &error);
      if (event) {
        run.events.push_back(std::move(*event));
      } else {
        run.all_json = false;
      }
    }
    return run;
  }

  /// Asserts that `run` exited `code` having written one JSON event, `event`, at level
  /// error with that exit code; returns its message.
  static std::string ExpectOneEvent(const TetherRun& run, int code, const std::string& event) {
    EXPECT_EQ(run.exit_code, code) << run.stderr_text;
    EXPECT_TRUE(run.all_json) << "not JSON:\n" << run.stderr_text;
    EXPECT_EQ(run.events.size(), 1u) << run.stderr_text;
    if (run.events.size() != 1) return "";
    EXPECT_EQ(Member(run.events[0], "event"), event);
    EXPECT_EQ(Member(run.events[0], "level"), "error");
    EXPECT_EQ(Member(run.events[0], "exit_code"), std::to_string(code));
    return Member(run.events[0], "message");
  }

  static bool ProcessGroupGone(pid_t group) { return kill(-group, 0) != 0; }

  TempDir scratch_;
};

TEST_F(JsonOutputE2E, ProxyJumpLoopIsAConfigErrorEvent) {
  const std::string config = scratch_.Join("loop.conf");
  ASSERT_TRUE(WriteFile(config, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n"));
  const TetherRun run = RunTether({"--log-format", "json", "-F", config, "-L", "0:x:1", "a"});
  EXPECT_EQ(ExpectOneEvent(run, 65, "config_error"), "ProxyJump loop: a -> b -> a");

  // In text the same failure stays the line it was.
  const TetherRun text = RunTether({"-F", config, "-L", "0:x:1", "a"});
  EXPECT_EQ(text.exit_code, 65);
  EXPECT_EQ(text.stderr_text, "tether: ProxyJump loop: a -> b -> a\n");
}

TEST_F(JsonOutputE2E, TieToAMissingProcessIsAUsageErrorEvent) {
  for (const bool fork : {false, true}) {
    std::vector<std::string> args = {"--log-format", "json", "-F",    EmptyConfig(), "--tie-to",
                                     "999999",       "-L",   "0:x:1", "127.0.0.1"};
    if (fork) args.insert(args.begin(), "-f");
    const TetherRun run = RunTether(args);
    EXPECT_EQ(ExpectOneEvent(run, 64, "usage_error").rfind("--tie-to: cannot follow pid 999999", 0),
              0u)
        << (fork ? "with -f" : "without -f");
  }
}

// The format is read from the command line before the rest of it is checked.
TEST_F(JsonOutputE2E, UsageErrorsAreEventsWhenTheCommandLineAsksForJson) {
  TetherRun run = RunTether({"--log-format", "json", "-L", "bad", "h"});
  EXPECT_EQ(ExpectOneEvent(run, 64, "usage_error"),
            "bad -L 'bad': expected [bind_address:]port:host:hostport");
  run = RunTether({"-L", "0:x:1", "--bogus", "--log-format=json", "h"});
  EXPECT_NE(ExpectOneEvent(run, 64, "usage_error").find("--bogus"), std::string::npos);
  run = RunTether({"-L", "0:x:1", "h", "--log-format"});
  EXPECT_EQ(run.stderr_text, "tether: option --log-format needs a value\n");
}

TEST_F(JsonOutputE2E, LogFileThatCannotBeOpenedIsAnEventOnStderr) {
  const TetherRun run = RunTether({"--log-format", "json", "-E", scratch_.Join("missing/dir/t.log"),
                                   "-F", EmptyConfig(), "-L", "0:x:1", "h"});
  EXPECT_NE(ExpectOneEvent(run, 73, "listen_failed").find("cannot open log file"),
            std::string::npos);
}

// Out of file descriptors at each step of a -f start in turn (configuration file, ready pipe,
// event loop, socket): whichever runs out, stderr holds one JSON event, and the ready pipe's
// failure is among them, named, instead of a silent exit 70.
TEST_F(JsonOutputE2E, EveryDescriptorShortageIsAnEvent) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer runtime needs descriptors of its own (at start and for its checks) and
  // writes its own reports when they run out: this runs in the plain build only.
  GTEST_SKIP() << "needs free descriptors in the sanitizer runtime";
#endif
  const std::string closed_port = std::to_string(FreeTcpPort());
  bool pipe_failure_seen = false;
  for (int limit = 4; limit <= 12; ++limit) {
    SCOPED_TRACE("RLIMIT_NOFILE " + std::to_string(limit));
    const TetherRun run = RunTether({"--log-format", "json", "-f", "-F", EmptyConfig(), "-p",
                                     closed_port, "-L", "0:x:1", "127.0.0.1"},
                                    {"prlimit", "--nofile=" + std::to_string(limit)});
    EXPECT_TRUE(run.all_json) << run.stderr_text;
    ASSERT_EQ(run.events.size(), 1u) << run.stderr_text;
    EXPECT_EQ(Member(run.events[0], "exit_code"), std::to_string(run.exit_code.value_or(-1)));
    if (Member(run.events[0], "message").rfind("pipe2: ", 0) == 0) {
      pipe_failure_seen = true;
      EXPECT_EQ(run.exit_code, 70);
      EXPECT_EQ(Member(run.events[0], "event"), "internal_error");
    }
  }
  EXPECT_TRUE(pipe_failure_seen);
}

}  // namespace
}  // namespace tether::testing
