// The shell completions: they name every option of --help, parse, load, and the bash one
// answers real completion requests (COMP_WORDS/COMP_CWORD, as bash sets them) with the
// options, host names of a throwaway ~/.ssh/config and the targets of `tether stop`.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/help_options.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::seconds;

constexpr char kBashScript[] = TETHER_SOURCE_DIR "/completions/tether.bash";
constexpr char kZshScript[] = TETHER_SOURCE_DIR "/completions/_tether";

bool HasProgram(const std::string& name) {
  std::string output, error;
  return RunCommand({"/bin/sh", "-c", "command -v " + name}, SubprocessOptions{}, seconds(10),
                    &output, &error);
}

std::set<std::string> Words(const std::string& text) {
  std::set<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.insert(word);
  return words;
}

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(home_.ok());
    ASSERT_EQ(mkdir(home_.Join(".ssh").c_str(), 0700), 0);
    ASSERT_EQ(mkdir(home_.Join(".ssh/conf.d").c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(home_.Join(".ssh/config"),
                          "# hosts for the completion test\n"
                          "Host db db-replica *.corp !nope\n"
                          "    HostName db.internal\n"
                          "Host=gateway\n"
                          "  host \"quoted\"\n"
                          "Include conf.d/*.conf\n"
                          "Match host x\n"
                          "    User someone\n"));
    // Includes itself back: the reader must not loop.
    ASSERT_TRUE(
        WriteFile(home_.Join(".ssh/conf.d/extra.conf"), "Host included\nInclude ~/.ssh/config\n"));
  }

  SubprocessOptions Environment() const {
    SubprocessOptions options;
    options.env_set = {{"HOME", home_.path()}, {"PATH", home_.Join("bin") + ":/usr/bin:/bin"}};
    return options;
  }

  /// What `_tether` puts in COMPREPLY for the command line `words`, the last being the one
  /// completed; one candidate per line.
  std::string BashComplete(const std::vector<std::string>& words) {
    std::vector<std::string> argv = {
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        "source \"$0\" || exit 1; COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 ));"
        " _tether || exit 1; (( ${#COMPREPLY[@]} == 0 )) || printf '%s\\n' \"${COMPREPLY[@]}\"",
        kBashScript};
    argv.insert(argv.end(), words.begin(), words.end());
    std::string output, error;
    EXPECT_TRUE(RunCommand(argv, Environment(), seconds(20), &output, &error)) << error << "\n"
                                                                               << output;
    return output;
  }

  TempDir home_;
};

TEST(CompletionScriptsTest, NameEveryOptionOfHelp) {
  const std::set<std::string> help = OptionsIn(TetherHelpText());
  ASSERT_TRUE(help.count("-L") && help.count("--log-format")) << "no options found in --help";
  for (const char* script : {kBashScript, kZshScript}) {
    const std::set<std::string> named = OptionsIn(ReadFile(script));
    for (const std::string& option : help) {
      EXPECT_TRUE(named.count(option)) << option << " is in tether --help but not in " << script;
    }
  }
}

TEST_F(CompletionTest, BashScriptParsesAndRegisters) {
  std::string output, error;
  ASSERT_TRUE(RunCommand({"bash", "-n", kBashScript}, Environment(), seconds(10), &output, &error))
      << error << output;
  ASSERT_TRUE(RunCommand({"bash", "--norc", "--noprofile", "-c",
                          "source \"$0\" 2>&1 && complete -p tether", kBashScript},
                         Environment(), seconds(10), &output, &error))
      << error << output;
  EXPECT_EQ(output, "complete -F _tether tether\n");
}

TEST_F(CompletionTest, BashCompletesOptionsAndTheirValues) {
  const std::set<std::string> options = Words(BashComplete({"tether", "-"}));
  for (const std::string& option : OptionsIn(TetherHelpText())) {
    if (option == "--json") continue;  // an option of `tether list`, checked below
    EXPECT_TRUE(options.count(option)) << option;
  }
  EXPECT_EQ(BashComplete({"tether", "--log"}), "--log-format\n");
  EXPECT_EQ(BashComplete({"tether", "--keepalive"}), "--keepalive\n--keepalive-count\n");
  EXPECT_EQ(BashComplete({"tether", "--log-format", ""}), "text\njson\n");
  EXPECT_EQ(BashComplete({"tether", "--log-format", "=", "j"}), "json\n");
  EXPECT_EQ(BashComplete({"tether", "-o", "StrictH"}), "StrictHostKeyChecking=\n");
  EXPECT_EQ(BashComplete({"tether", "--ttl", ""}), "") << "durations are free-form";
  EXPECT_EQ(BashComplete({"tether", "list", ""}), "--json\n--help\n");
}

TEST_F(CompletionTest, BashCompletesHostsFromSshConfig) {
  EXPECT_EQ(
      Words(BashComplete({"tether", ""})),
      (std::set<std::string>{"db", "db-replica", "gateway", "quoted", "included", "list", "stop"}));
  EXPECT_EQ(BashComplete({"tether", "-L", "5432:localhost:5432", "d"}), "db\ndb-replica\n");
  EXPECT_EQ(BashComplete({"tether", "-L", "1:a:2", "alice@g"}), "alice@gateway\n");
  EXPECT_EQ(BashComplete({"tether", "-L", "1:a:2", "inc"}), "included\n");
  // Subcommands only come first: later, "list" would be a host name.
  EXPECT_EQ(BashComplete({"tether", "-L", "1:a:2", "li"}), "");
  ASSERT_EQ(unlink(home_.Join(".ssh/config").c_str()), 0);
  EXPECT_EQ(BashComplete({"tether", "-L", "1:a:2", ""}), "") << "no config, no hosts";
}

TEST_F(CompletionTest, BashCompletesStopTargetsFromTetherList) {
  // A stand-in for the tether on PATH, answering `list --json` as the real one does.
  ASSERT_EQ(mkdir(home_.Join("bin").c_str(), 0700), 0);
  const std::string fake = home_.Join("bin/tether");
  ASSERT_TRUE(WriteFile(
      fake,
      "#!/bin/sh\n"
      "[ \"$1 $2\" = 'list --json' ] || exit 64\n"
      "cat <<'JSON'\n"
      "[\n"
      "  {\"pid\": 4242, \"forwards\": [{\"listen\": \"127.0.0.1:5432\", \"target\": \"db:5432\", "
      "\"port\": 5432, \"kind\": \"local\"}, {\"listen\": \"/tmp/s\", \"target\": \"/run/s\", "
      "\"port\": 0, \"kind\": \"local\"}], \"tied_to\": {\"pid\": 1, \"command\": \"bash\"}},\n"
      "  {\"pid\": 4343, \"forwards\": [{\"listen\": \"127.0.0.1:8080\", \"target\": "
      "\"web:80\", \"port\": 8080, \"kind\": \"local\"}, {\"listen\": \"127.0.0.1:1080\", "
      "\"target\": \"socks\", \"port\": 1080, \"kind\": \"dynamic\"}, {\"listen\": "
      "\"localhost:9000\", \"target\": \"localhost:3000\", \"port\": 9000, \"kind\": "
      "\"remote\"}], \"tied_to\": {\"pid\": 77, \"command\": \"sh\"}}\n"
      "]\n"
      "JSON\n"));
  ASSERT_EQ(chmod(fake.c_str(), 0700), 0);
  EXPECT_EQ(Words(BashComplete({"tether", "stop", ""})),
            (std::set<std::string>{"all", "4242", ":5432", "4343", ":8080", ":1080"}))
      << "a remote forward's port is the server's, not one `stop :PORT` takes";
  EXPECT_EQ(BashComplete({"tether", "stop", ":8"}), ":8080\n");
  EXPECT_EQ(BashComplete({fake, "stop", "a"}), "all\n");
  EXPECT_EQ(BashComplete({"tether", "stop", "4242", ""}), "") << "stop takes one target";
  ASSERT_EQ(unlink(fake.c_str()), 0);
  EXPECT_EQ(BashComplete({"tether", "stop", ""}), "all\n") << "without tether: only all";
}

TEST_F(CompletionTest, ZshScriptLoads) {
  if (!HasProgram("zsh")) GTEST_SKIP() << "zsh is not installed";
  std::string output, error;
  ASSERT_TRUE(RunCommand({"zsh", "-n", kZshScript}, Environment(), seconds(10), &output, &error))
      << error << output;
  output.clear();
  ASSERT_TRUE(RunCommand({"zsh", "-f", "-c",
                          "fpath=(\"${0:h}\" $fpath); autoload -Uz compinit && compinit -u -D &&"
                          " autoload +X _tether && print -r -- $_comps[tether]",
                          kZshScript},
                         Environment(), seconds(20), &output, &error))
      << error << output;
  EXPECT_EQ(output, "_tether\n");
}

TEST_F(CompletionTest, ZshReadsHostsFromSshConfig) {
  if (!HasProgram("zsh")) GTEST_SKIP() << "zsh is not installed";
  std::string output, error;
  // The script's helper functions, without its last line (which completes, and needs zle).
  ASSERT_TRUE(RunCommand(
      {"zsh", "-f", "-c", "eval \"$(sed '$d' \"$0\")\" && _tether_config_hosts", kZshScript},
      Environment(), seconds(20), &output, &error))
      << error << output;
  EXPECT_EQ(Words(output),
            (std::set<std::string>{"db", "db-replica", "gateway", "quoted", "included"}));
}

}  // namespace
}  // namespace tether::testing
