#include "tether/command_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "tether/event_loop.h"
#include "tether/signal_set.h"
#include "tether/stop_reason.h"

namespace tether {
namespace {

using std::chrono::milliseconds;
using Clock = EventLoop::Clock;

class CommandRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    loop_ = EventLoop::Create(&error);
    ASSERT_NE(loop_, nullptr) << error;
    ASSERT_TRUE(dir_.ok());
    runner_ = std::make_unique<CommandRunner>(
        loop_.get(), [this](StopReason reason) { exits_.push_back(reason); });
  }

  // Starts `argv`, failing the test if it cannot.
  void Start(const std::vector<std::string>& argv,
             const std::map<std::string, std::string>& env = {}) {
    std::string error;
    int status = -1;
    ASSERT_TRUE(runner_->Start(argv, env, &error, &status)) << error;
    ASSERT_TRUE(runner_->running());
    ASSERT_GT(runner_->pid(), 0);
  }

  // Runs the loop until the exit is reported (or `limit` passes); true when it was.
  bool WaitForExit(milliseconds limit = milliseconds(5000)) {
    const auto deadline = Clock::now() + limit;
    while (exits_.empty() && Clock::now() < deadline) loop_->RunOnce(milliseconds(20));
    return !exits_.empty();
  }

  // Waits until the command has created `name` in dir_: its signal dispositions are set.
  bool WaitForFile(const std::string& name) {
    return testing::WaitUntil([&] { return access(dir_.Join(name).c_str(), F_OK) == 0; },
                              milliseconds(5000));
  }

  std::unique_ptr<EventLoop> loop_;
  testing::TempDir dir_;
  std::vector<StopReason> exits_;
  std::unique_ptr<CommandRunner> runner_;  // last: destroyed before what it reports into
};

struct StatusCase {
  std::string name;
  std::vector<std::string> argv;
  int expected;
};

void PrintTo(const StatusCase& c, std::ostream* os) { *os << c.name; }

class CommandRunnerStatusTest : public CommandRunnerTest,
                                public ::testing::WithParamInterface<StatusCase> {};

TEST_P(CommandRunnerStatusTest, ReportsShellStatus) {
  Start(GetParam().argv);
  const pid_t pid = runner_->pid();
  ASSERT_TRUE(WaitForExit());
  ASSERT_EQ(exits_.size(), 1u);
  EXPECT_EQ(exits_[0].exit_code, GetParam().expected);
  EXPECT_EQ(exits_[0].message,
            GetParam().argv.front() + " exited with status " + std::to_string(GetParam().expected));
  EXPECT_FALSE(exits_[0].is_error);
  EXPECT_FALSE(runner_->running());
  errno = 0;
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1) << "the child was not reaped";
  EXPECT_EQ(errno, ECHILD);
}

// Not SIGINT or SIGQUIT: a test binary started in the background by a non-interactive shell
// inherits them ignored, and so does the command.
INSTANTIATE_TEST_SUITE_P(
    CommandRunner, CommandRunnerStatusTest,
    ::testing::Values(StatusCase{"Success", {"true"}, 0},
                      StatusCase{"ExitCode", {"sh", "-c", "exit 3"}, 3},
                      StatusCase{"ExitCode255", {"sh", "-c", "exit 255"}, 255},
                      StatusCase{"KilledBySigterm", {"sh", "-c", "kill -TERM $$"}, 128 + SIGTERM},
                      StatusCase{"KilledBySigkill", {"sh", "-c", "kill -KILL $$"}, 128 + SIGKILL},
                      StatusCase{"KilledBySigusr1", {"sh", "-c", "kill -USR1 $$"}, 128 + SIGUSR1}),
    [](const ::testing::TestParamInfo<StatusCase>& param_info) { return param_info.param.name; });

struct StartFailureCase {
  std::string name;
  std::string program;  // "$DIR/" is replaced by the test's directory
  int expected_status;
  std::string expected_error;
};

void PrintTo(const StartFailureCase& c, std::ostream* os) { *os << c.name; }

class CommandRunnerStartFailureTest : public CommandRunnerTest,
                                      public ::testing::WithParamInterface<StartFailureCase> {};

TEST_P(CommandRunnerStartFailureTest, ReportsWhyItCouldNotRun) {
  std::string program = GetParam().program;
  if (program.rfind("$DIR/", 0) == 0) program = dir_.Join(program.substr(5));
  // A file without any execute bit: not even root may run it.
  ASSERT_TRUE(testing::WriteFile(dir_.Join("not-executable"), "#!/bin/sh\nexit 0\n"));
  ASSERT_EQ(chmod(dir_.Join("not-executable").c_str(), 0644), 0);

  std::string error;
  int status = -1;
  EXPECT_FALSE(runner_->Start({program, "arg"}, {}, &error, &status));
  EXPECT_EQ(status, GetParam().expected_status);
  EXPECT_EQ(error, "cannot run " + program + ": " + GetParam().expected_error);
  EXPECT_FALSE(runner_->running());
  loop_->RunOnce(milliseconds(0));
  EXPECT_TRUE(exits_.empty()) << "a command that never ran reported an exit";
}

INSTANTIATE_TEST_SUITE_P(
    CommandRunner, CommandRunnerStartFailureTest,
    ::testing::Values(StartFailureCase{"MissingAbsolutePath", "/nonexistent/tether-no-such-command",
                                       127, "No such file or directory"},
                      StartFailureCase{"MissingInPath", "tether-no-such-command-in-path", 127,
                                       "No such file or directory"},
                      StartFailureCase{"NotExecutable", "$DIR/not-executable", 126,
                                       "Permission denied"}),
    [](const ::testing::TestParamInfo<StartFailureCase>& param_info) {
      return param_info.param.name;
    });

TEST_F(CommandRunnerTest, ForwardsSignalToTheCommand) {
  Start({"sh", "-c",
         "trap 'exit 7' TERM; : > " + dir_.Join("ready") + "; while :; do sleep 0.05; done"});
  ASSERT_TRUE(WaitForFile("ready"));
  runner_->Forward(SIGTERM);
  ASSERT_TRUE(WaitForExit());
  EXPECT_EQ(exits_[0].exit_code, 7) << "the trap did not run: " << exits_[0].message;
}

struct TerminateCase {
  std::string name;
  std::string script;  // creates "$DIR/ready" once its dispositions are set
  int grace_ms;
  int expected;
  bool needs_kill;  // the grace must pass before it ends
};

void PrintTo(const TerminateCase& c, std::ostream* os) { *os << c.name; }

class CommandRunnerTerminateTest : public CommandRunnerTest,
                                   public ::testing::WithParamInterface<TerminateCase> {};

TEST_P(CommandRunnerTerminateTest, EndsTheCommand) {
  std::string script = GetParam().script;
  script.replace(script.find("$DIR"), 4, dir_.path());
  Start({"sh", "-c", script});
  ASSERT_TRUE(WaitForFile("ready"));

  const auto start = Clock::now();
  runner_->Terminate(milliseconds(GetParam().grace_ms));
  ASSERT_TRUE(WaitForExit());
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(exits_[0].exit_code, GetParam().expected);
  if (GetParam().needs_kill) {
    EXPECT_GE(elapsed, milliseconds(GetParam().grace_ms)) << "SIGKILL came before the grace";
  } else {
    EXPECT_LT(elapsed, milliseconds(GetParam().grace_ms)) << "SIGTERM alone should do";
  }
  loop_->RunOnce(milliseconds(0));
  EXPECT_EQ(exits_.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    CommandRunner, CommandRunnerTerminateTest,
    ::testing::Values(TerminateCase{"HonoursSigterm", ": > $DIR/ready; exec sleep 30", 3000,
                                    128 + SIGTERM, false},
                      // An ignored signal stays ignored across exec, so sleep ignores SIGTERM too.
                      TerminateCase{"IgnoresSigterm", "trap '' TERM; : > $DIR/ready; exec sleep 30",
                                    150, 128 + SIGKILL, true}),
    [](const ::testing::TestParamInfo<TerminateCase>& param_info) {
      return param_info.param.name;
    });

TEST_F(CommandRunnerTest, PassesEnvironment) {
  ASSERT_EQ(setenv("TETHER_TEST_INHERITED", "kept", 1), 0);
  ASSERT_EQ(setenv("TETHER_TEST_OVERRIDDEN", "old", 1), 0);
  Start({"sh", "-c",
         "[ \"$TETHER_TEST_EXTRA\" = 'two words' ] || exit 11; "
         "[ \"$TETHER_TEST_INHERITED\" = kept ] || exit 12; "
         "[ \"$TETHER_TEST_OVERRIDDEN\" = new ] || exit 13; "
         "[ \"$(env | grep -c '^TETHER_TEST_OVERRIDDEN=')\" = 1 ] || exit 14; "
         "exit 0"},
        {{"TETHER_TEST_EXTRA", "two words"}, {"TETHER_TEST_OVERRIDDEN", "new"}});
  unsetenv("TETHER_TEST_INHERITED");
  unsetenv("TETHER_TEST_OVERRIDDEN");
  ASSERT_TRUE(WaitForExit());
  EXPECT_EQ(exits_[0].exit_code, 0) << "11: extra, 12: inherited, 13: override, 14: duplicate";
}

TEST_F(CommandRunnerTest, ChildStartsWithSignalsUnblocked) {
  // tether blocks SIGTERM for its signalfd; the command must still die of it.
  SignalSet signals;
  std::string error;
  ASSERT_TRUE(signals.Install({SIGTERM}, &error)) << error;
  Start({"sh", "-c", ": > " + dir_.Join("ready") + "; exec sleep 30"});
  ASSERT_TRUE(WaitForFile("ready"));
  runner_->Forward(SIGTERM);
  ASSERT_TRUE(WaitForExit(milliseconds(2000))) << "SIGTERM stayed blocked in the child";
  EXPECT_EQ(exits_[0].exit_code, 128 + SIGTERM);
}

TEST_F(CommandRunnerTest, DestructorKillsAndReapsTheCommand) {
  Start({"sleep", "30"});
  const pid_t pid = runner_->pid();
  runner_.reset();
  EXPECT_TRUE(testing::ProcessGone(pid));
  errno = 0;
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1) << "left as a zombie";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(exits_.empty()) << "destruction is not an exit of the command";
}

TEST(CommandRunnerShellStatusTest, DecodesWaitStatus) {
  EXPECT_EQ(CommandRunner::ShellStatus(0), 0);
  EXPECT_EQ(CommandRunner::ShellStatus(3 << 8), 3);
  EXPECT_EQ(CommandRunner::ShellStatus(SIGKILL), 128 + SIGKILL);
}

}  // namespace
}  // namespace tether
