#include "tether/ssh_config.h"

#include <gtest/gtest.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "support/param_text.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether {
namespace {

using ::testing::TestWithParam;
using ::testing::Values;

// ---------------------------------------------------------------------------------------
// Pattern lists

struct PatternCase {
  std::string host;
  std::string patterns;
  bool expected;
};

void PrintTo(const PatternCase& c, std::ostream* os) {
  *os << "host " << ParamText(c.host) << " patterns " << ParamText(c.patterns);
}

class SshConfigPatternTest : public TestWithParam<PatternCase> {};

TEST_P(SshConfigPatternTest, MatchesLikeSsh) {
  EXPECT_EQ(MatchHostPatterns(GetParam().host, GetParam().patterns), GetParam().expected)
      << "host " << GetParam().host << " patterns " << GetParam().patterns;
}

INSTANTIATE_TEST_SUITE_P(
    SshConfig, SshConfigPatternTest,
    Values(PatternCase{"db", "db", true}, PatternCase{"db", "DB", false},
           PatternCase{"db", "d", false}, PatternCase{"db", "db2", false},
           PatternCase{"db", "*", true}, PatternCase{"", "*", true},
           PatternCase{"db.example.com", "*.example.com", true},
           PatternCase{"example.com", "*.example.com", false}, PatternCase{"db1", "db?", true},
           PatternCase{"db", "db?", false}, PatternCase{"db12", "db?", false},
           PatternCase{"a.b.c", "a*c", true}, PatternCase{"abcbc", "*bc", true},
           PatternCase{"aXbXc", "a*b*c", true}, PatternCase{"ab", "a*b*c", false},
           PatternCase{"db", "web,db", true}, PatternCase{"db", "web db", true},
           PatternCase{"db", "web, \tdb", true}, PatternCase{"db", "*,!db", false},
           PatternCase{"db", "!db,*", false}, PatternCase{"web", "*,!db", true},
           PatternCase{"db", "!web", false}, PatternCase{"db", "!web,db", true},
           PatternCase{"bastion", "* !bast*", false}, PatternCase{"db", "", false},
           PatternCase{"x*y", "x\\*y", false}, PatternCase{"10.0.0.7", "10.0.0.?", true},
           PatternCase{"10.0.0.17", "10.0.0.?", false}));

TEST(SshConfigPattern, LongPathologicalPatternIsFast) {
  const std::string text(20000, 'a');
  std::string pattern;
  for (int i = 0; i < 2000; ++i) pattern += "*a";
  pattern += "*b";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(MatchPattern(text, pattern));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// ---------------------------------------------------------------------------------------
// Loading files

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

class SshConfigFixture : public ::testing::Test {
 protected:
  // Writes a file ssh would accept (not writable by others), creating parent directories.
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_.Join(name);
    for (size_t slash = path.find('/', dir_.path().size() + 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      mkdir(path.substr(0, slash).c_str(), 0700);
    }
    EXPECT_TRUE(testing::WriteFile(path, Expand(content)));
    chmod(path.c_str(), 0600);
    return path;
  }

  // "{dir}" stands for the temporary directory, which is also the home directory.
  std::string Expand(const std::string& text) const { return Replace(text, "{dir}", dir_.path()); }

  SshConfigContext Context(const std::string& host) const {
    SshConfigContext context;
    context.host = host;
    context.local_user = "alice";
    context.home = dir_.path();
    return context;
  }

  std::optional<SshConfig> Load(const std::string& path, const SshConfigContext& context) {
    error_.clear();
    warnings_.clear();
    return SshConfig::Load({{path, SshConfigRole::kUser}}, context, &error_, &warnings_);
  }

  testing::TempDir dir_;
  std::string error_;
  std::vector<std::string> warnings_;
};

// One config text, one destination, the values expected for one key.
struct ValueCase {
  std::string name;
  std::string config;
  std::string host;
  std::string key;
  std::vector<std::string> expected;  ///< GetAll(key); "{dir}" is the home directory
};

void PrintTo(const ValueCase& c, std::ostream* os) { *os << c.name; }

class SshConfigValueTest : public SshConfigFixture,
                           public ::testing::WithParamInterface<ValueCase> {};

TEST_P(SshConfigValueTest, ResolvesLikeSsh) {
  const ValueCase& c = GetParam();
  const std::string path = Write("config", c.config);
  const std::optional<SshConfig> config = Load(path, Context(c.host));
  ASSERT_TRUE(config.has_value()) << error_;
  std::vector<std::string> expected;
  for (const std::string& value : c.expected) expected.push_back(Expand(value));
  EXPECT_EQ(config->GetAll(c.key), expected) << config->Dump();
  if (expected.empty()) {
    EXPECT_EQ(config->Get(c.key), std::nullopt);
  } else {
    EXPECT_EQ(config->Get(c.key), expected.front());
  }
}

std::string CaseName(const ::testing::TestParamInfo<ValueCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(
    SshConfig, SshConfigValueTest,
    Values(
        ValueCase{
            "FirstHostBlockWins", "Host db\n Port 1\nHost db\n Port 2\n", "db", "port", {"1"}},
        ValueCase{"SpecificBeforeStar",
                  "Host db\n User dbuser\nHost *\n User everyone\n",
                  "db",
                  "user",
                  {"dbuser"}},
        ValueCase{"StarAppliesToOthers",
                  "Host db\n User dbuser\nHost *\n User everyone\n",
                  "web",
                  "user",
                  {"everyone"}},
        ValueCase{"StarFirstShadowsLater",
                  "Host *\n User everyone\nHost db\n User dbuser\n",
                  "db",
                  "user",
                  {"everyone"}},
        ValueCase{"TopLinesApplyToAll", "Port 7\nHost db\n Port 8\n", "db", "port", {"7"}},
        ValueCase{"SeveralPatterns", "Host web db\n Port 9\n", "db", "port", {"9"}},
        ValueCase{"HostNoCommaList", "Host web,db\n Port 9\n", "db", "port", {}},
        ValueCase{"HostCaseSensitive", "Host db\n Port 9\n", "DB", "port", {}},
        ValueCase{"Negation", "Host * !bastion\n ProxyJump none\n Port 3\n", "bastion", "port", {}},
        ValueCase{"NegationOthers", "Host * !bastion\n Port 3\n", "db", "port", {"3"}},
        ValueCase{"NegationOnlyNeverMatches", "Host !bastion\n Port 3\n", "db", "port", {}},
        ValueCase{"Wildcard", "Host db?.prod\n Port 4\n", "db1.prod", "port", {"4"}},
        ValueCase{"MatchAll", "Host other\nMatch all\n Port 5\n", "db", "port", {"5"}},
        ValueCase{"MatchHostUsesHostName",
                  "Host db\n HostName db.internal\nMatch host *.internal\n User inner\n",
                  "db",
                  "user",
                  {"inner"}},
        ValueCase{"MatchHostCaseInsensitive", "Match host DB\n User u\n", "db", "user", {"u"}},
        ValueCase{"MatchOriginalHost",
                  "Host db\n HostName db.internal\nMatch originalhost db\n User orig\n",
                  "db",
                  "user",
                  {"orig"}},
        ValueCase{"MatchOriginalHostNotHostName",
                  "Host db\n HostName x\nMatch originalhost x\n User orig\n",
                  "db",
                  "user",
                  {}},
        ValueCase{"MatchUserFromConfig",
                  "Host db\n User bob\nMatch user bob\n Port 6\n",
                  "db",
                  "port",
                  {"6"}},
        ValueCase{"MatchUserDefaultsToLocal", "Match user alice\n Port 6\n", "db", "port", {"6"}},
        ValueCase{"MatchLocalUser", "Match localuser al*\n Port 6\n", "db", "port", {"6"}},
        ValueCase{"MatchNegatedCriterion", "Match !host db\n Port 6\n", "db", "port", {}},
        ValueCase{"MatchCriteriaAnd", "Match host db user nobody\n Port 6\n", "db", "port", {}},
        ValueCase{"MatchCommaListNegation", "Match host *,!db\n Port 6\n", "db", "port", {}},
        ValueCase{"MatchEqualsForm", "Match host=db\n Port 6\n", "db", "port", {"6"}},
        ValueCase{
            "MatchCanonicalFalseWithoutFinal", "Match canonical\n Port 6\n", "db", "port", {}},
        ValueCase{"MatchExecSkippedWhenHostDiffers",
                  "Match host other exec false\n Port 6\n",
                  "db",
                  "port",
                  {}},
        ValueCase{"MatchFinalRereads",
                  "Host db\n HostName DB.internal\nMatch final host db.internal\n User fin\n",
                  "db",
                  "user",
                  {"fin"}},
        ValueCase{"FinalPassHostLineSeesHostName",
                  "Host db\n HostName db.internal\nMatch final\nHost db.internal\n Port 6\n",
                  "db",
                  "port",
                  {"6"}},
        ValueCase{"KeyEqualsValue", "Port=2200\n", "db", "port", {"2200"}},
        ValueCase{"KeySpaceEqualsValue", "Port = 2200\n", "db", "port", {"2200"}},
        ValueCase{"CaseInsensitiveKeys", "pORT 2200\n", "db", "port", {"2200"}},
        ValueCase{"QuotedValue", "User \"bob smith\"\n", "db", "user", {"bob smith"}},
        ValueCase{"SingleQuotedValue", "User 'bob smith'\n", "db", "user", {"bob smith"}},
        ValueCase{"EscapedQuote", "User a\\\"b\n", "db", "user", {"a\"b"}},
        ValueCase{"TrailingComment", "Port 2200 # the usual\n", "db", "port", {"2200"}},
        ValueCase{"HashInsideWordKept", "User a#b\n", "db", "user", {"a#b"}},
        ValueCase{
            "CommentAndBlankLines", "# Port 1\n\n   \t\n  # x\nPort 2\n", "db", "port", {"2"}},
        ValueCase{"CrLfLines", "Host db\r\n  Port 2\r\n", "db", "port", {"2"}},
        ValueCase{"UnknownKeyIgnored", "FrobnicateLevel 11\nPort 2\n", "db", "port", {"2"}},
        ValueCase{"IdentityFilesAccumulate",
                  "Host db\n IdentityFile /k/db\nHost *\n IdentityFile /k/all\n IdentityFile "
                  "/k/db\n",
                  "db",
                  "identityfile",
                  {"/k/db", "/k/all"}},
        ValueCase{"CertificateFilesAccumulate",
                  "CertificateFile /c1\nCertificateFile /c2\n",
                  "db",
                  "certificatefile",
                  {"/c1", "/c2"}},
        ValueCase{"KnownHostsFirstLineWins",
                  "UserKnownHostsFile /a /b\nUserKnownHostsFile /c\n",
                  "db",
                  "userknownhostsfile",
                  {"/a", "/b"}},
        ValueCase{"LocalForwardAccumulates",
                  "LocalForward 5432 db:5432\nLocalForward [::1]:8080 /run/web.sock\n",
                  "db",
                  "localforward",
                  {"5432:db:5432", "[::1]:8080:/run/web.sock"}},
        ValueCase{"DynamicForwardAccumulates",
                  "DynamicForward 1080\nDynamicForward [::1]:0\n",
                  "db",
                  "dynamicforward",
                  {"1080", "[::1]:0"}},
        ValueCase{"SendEnvAddAndRemove",
                  "SendEnv LANG LC_*\nSendEnv LC_ALL\nSendEnv -LC_*\n",
                  "db",
                  "sendenv",
                  {"LANG"}},
        ValueCase{"TokensInIdentityFile",
                  "User bob\nPort 2222\nIdentityFile ~/%h-%p-%r-%u-%n\n",
                  "DB",
                  "identityfile",
                  {"{dir}/db-2222-bob-alice-DB"}},
        ValueCase{
            "TokenHomeAndPercent", "IdentityFile %d/100%%\n", "db", "identityfile", {"{dir}/100%"}},
        ValueCase{"TokensInKnownHosts",
                  "UserKnownHostsFile ~/kh_%h %d/kh2\n",
                  "db",
                  "userknownhostsfile",
                  {"{dir}/kh_db", "{dir}/kh2"}},
        ValueCase{
            "HostNameExpandsH", "HostName %h.example.COM\n", "db", "hostname", {"db.example.com"}},
        ValueCase{"HostNameDefaultsToHostLowercased", "Port 1\n", "DB", "hostname", {"db"}},
        ValueCase{"HostNameAddressKeepsCase", "HostName FE80::1\n", "db", "hostname", {"FE80::1"}},
        ValueCase{"HostNameAddressCanonical", "HostName 10.1\n", "db", "hostname", {"10.0.0.1"}},
        ValueCase{"HostNameWithPercentKeepsCase",
                  "HostName Fe80::1%%Eth0\n",
                  "db",
                  "hostname",
                  {"Fe80::1%Eth0"}},
        ValueCase{"TokenHUsesHostName",
                  "HostName db.internal\nIdentityFile /k/%h\n",
                  "db",
                  "identityfile",
                  {"/k/db.internal"}},
        ValueCase{"TildeOnly", "IdentityFile ~\n", "db", "identityfile", {"{dir}/"}},
        ValueCase{"TildeInCertificateFile",
                  "CertificateFile ~/.ssh/c\n",
                  "db",
                  "certificatefile",
                  {"{dir}/.ssh/c"}},
        ValueCase{"TildeInIdentityAgent",
                  "IdentityAgent ~/agent.sock\n",
                  "db",
                  "identityagent",
                  {"{dir}/agent.sock"}},
        ValueCase{"IdentityAgentNone", "IdentityAgent none\n", "db", "identityagent", {"none"}},
        ValueCase{"IdentityAgentEnv",
                  "IdentityAgent SSH_AUTH_SOCK\n",
                  "db",
                  "identityagent",
                  {"SSH_AUTH_SOCK"}},
        ValueCase{"FlagNormalized", "IdentitiesOnly TRUE\n", "db", "identitiesonly", {"yes"}},
        ValueCase{"StrictNormalized",
                  "StrictHostKeyChecking no\n",
                  "db",
                  "stricthostkeychecking",
                  {"false"}},
        ValueCase{
            "TimeInSeconds", "ServerAliveInterval 1m30s\n", "db", "serveraliveinterval", {"90"}},
        ValueCase{"TimeNoneLeavesUnset",
                  "ConnectTimeout none\nConnectTimeout 9\n",
                  "db",
                  "connecttimeout",
                  {"9"}},
        ValueCase{"AliasChallengeResponse",
                  "ChallengeResponseAuthentication no\n",
                  "db",
                  "kbdinteractiveauthentication",
                  {"no"}},
        ValueCase{"ProxyCommandVerbatim",
                  "ProxyCommand ssh -W %h:%p \"jump host\"\n",
                  "db",
                  "proxycommand",
                  {"ssh -W %h:%p \"jump host\""}}),
    CaseName);

TEST_F(SshConfigFixture, CommandLineUserAndPortWin) {
  const std::string path =
      Write("config", "User fileuser\nPort 1\nMatch user cli\n  IdentityFile /k/%r-%p\n");
  SshConfigContext context = Context("db");
  context.user = "cli";
  context.port = 2022;
  const std::optional<SshConfig> config = Load(path, context);
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("user"), "cli");
  EXPECT_EQ(config->Get("port"), "2022");
  EXPECT_EQ(config->GetAll("IdentityFile"), std::vector<std::string>{"/k/cli-2022"});
}

TEST_F(SshConfigFixture, PortMayBeAServiceName) {
  if (getservbyname("ssh", "tcp") == nullptr) GTEST_SKIP() << "no /etc/services";
  const std::optional<SshConfig> config = Load(Write("config", "Port ssh\n"), Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "22");
}

TEST_F(SshConfigFixture, UserFileThenSystemFile) {
  const std::string user = Write("user_config", "Host db\n Port 1\n");
  const std::string system = Write("system_config", "Port 2\nUser sys\n");
  const std::optional<SshConfig> config =
      SshConfig::Load({{user, SshConfigRole::kUser}, {system, SshConfigRole::kSystem}},
                      Context("db"), &error_, &warnings_);
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "1");
  EXPECT_EQ(config->Get("user"), "sys");
}

TEST_F(SshConfigFixture, DumpIsSortedKeyValueLines) {
  const std::string path =
      Write("config", "User bob\nUserKnownHostsFile /a /b\nIdentityFile /k1\nIdentityFile /k2\n");
  const std::optional<SshConfig> config = Load(path, Context("DB"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Dump(),
            "hostname db\nidentityfile /k1\nidentityfile /k2\nuser bob\n"
            "userknownhostsfile /a /b\n");
}

TEST_F(SshConfigFixture, DefaultFilesAreUserThenSystem) {
  const std::vector<SshConfigFile> files = DefaultSshConfigFiles("/home/a");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "/home/a/.ssh/config");
  EXPECT_EQ(files[0].role, SshConfigRole::kUser);
  EXPECT_EQ(files[1].path, "/etc/ssh/ssh_config");
  EXPECT_EQ(files[1].role, SshConfigRole::kSystem);
}

// ---------------------------------------------------------------------------------------
// Include

TEST_F(SshConfigFixture, IncludeGlobReadsInSortedOrder) {
  Write("conf.d/20-b.conf", "Port 20\nUser b\n");
  Write("conf.d/10-a.conf", "Port 10\n");
  Write("conf.d/notes.txt", "Port 99\n");
  const std::string path = Write("config", "Include {dir}/conf.d/*.conf\nPort 1\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "10");
  EXPECT_EQ(config->Get("user"), "b");
}

TEST_F(SshConfigFixture, IncludeRelativeToDotSsh) {
  Write(".ssh/hosts/db", "Host db\n HostName db.internal\n");
  const std::string path = Write("config", "Include hosts/*\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("hostname"), "db.internal");
}

TEST_F(SshConfigFixture, IncludeTildeAndNoMatchIsFine) {
  Write("extra", "User tilde\n");
  const std::string path = Write("config", "Include ~/nothing-here* ~/extra\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("user"), "tilde");
}

TEST_F(SshConfigFixture, IncludedHostLinesDoNotLeakOut) {
  Write("inc", "Host nothing\n User wrong\n");
  const std::string path = Write("config", "Host db\n Include {dir}/inc\n Port 3\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "3");
  EXPECT_EQ(config->Get("user"), std::nullopt);
}

TEST_F(SshConfigFixture, IncludeInInactiveBlockAppliesNothingButIsChecked) {
  Write("inc", "User wrong\nHost *\n Port 4\n");
  std::string path = Write("config", "Host other\n Include {dir}/inc\n");
  std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("user"), std::nullopt);
  EXPECT_EQ(config->Get("port"), std::nullopt);

  const std::string bad = Write("bad", "Port abc\n");
  path = Write("config", "Host other\n Include {dir}/bad\n");
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, bad + ":1: Port: bad port 'abc'");
}

TEST_F(SshConfigFixture, IncludeLoopIsAnError) {
  const std::string path = Write("config", "Include {dir}/config\n");
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, path + ":1: Include nested more than 16 deep (does a file include itself?)");
}

TEST_F(SshConfigFixture, IncludedFileWritableByOthersIsRefused) {
  const std::string inc = Write("inc", "Port 1\n");
  chmod(inc.c_str(), 0666);
  const std::string path = Write("config", "Include {dir}/inc\n");
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, inc + ": bad owner or permissions (must not be writable by group or others)");
}

TEST_F(SshConfigFixture, SystemFileMayNotIncludeTilde) {
  const std::string path = Write("system", "Include ~/x\n");
  EXPECT_FALSE(SshConfig::Load({{path, SshConfigRole::kSystem}}, Context("db"), &error_, &warnings_)
                   .has_value());
  EXPECT_EQ(error_, path + ":1: Include: ~ is not allowed in a system file: '~/x'");
}

// ---------------------------------------------------------------------------------------
// Files that cannot be used

TEST_F(SshConfigFixture, MissingFilesAreSkippedUnlessExplicit) {
  const std::string missing = dir_.Join("absent");
  EXPECT_TRUE(SshConfig::Load({{missing, SshConfigRole::kUser}, {missing, SshConfigRole::kSystem}},
                              Context("db"), &error_, &warnings_)
                  .has_value());
  EXPECT_FALSE(
      SshConfig::Load({{missing, SshConfigRole::kExplicit}}, Context("db"), &error_, &warnings_)
          .has_value());
  EXPECT_EQ(error_, missing + ": No such file or directory");
}

TEST_F(SshConfigFixture, UserFileWritableByOthersIsRefused) {
  const std::string path = Write("config", "Port 1\n");
  chmod(path.c_str(), 0620);
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, path + ": bad owner or permissions (must not be writable by group or others)");
  // -F names a file on purpose: ssh does not check it, only what it includes.
  EXPECT_TRUE(
      SshConfig::Load({{path, SshConfigRole::kExplicit}}, Context("db"), &error_, &warnings_)
          .has_value());
}

TEST_F(SshConfigFixture, UnreadableFileIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string path = Write("config", "Port 1\n");
  chmod(path.c_str(), 0);
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, path + ": Permission denied");
}

TEST_F(SshConfigFixture, OverlongLineIsAnError) {
  const std::string path = Write("config", "Port 1\nUser " + std::string(2 << 20, 'x') + "\n");
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, path + ":2: line longer than 1 MiB");
}

TEST_F(SshConfigFixture, LastLineWithoutNewline) {
  const std::string path = Write("config", "Host db\n Port 7");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "7");
}

// ---------------------------------------------------------------------------------------
// Malformed lines: the exact message, naming file and line

struct ErrorCase {
  std::string name;
  std::string config;
  std::string error;  ///< after "<file>:"
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class SshConfigErrorTest : public SshConfigFixture,
                           public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(SshConfigErrorTest, NamesFileAndLine) {
  const std::string path = Write("config", GetParam().config);
  EXPECT_FALSE(Load(path, Context("db")).has_value());
  EXPECT_EQ(error_, path + ":" + GetParam().error);
}

std::string ErrorName(const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(
    SshConfig, SshConfigErrorTest,
    Values(
        ErrorCase{"MissingValue", "Host db\n  Port\n", "2: Port: missing value"},
        ErrorCase{"MissingValueAfterEquals", "Port=\n", "1: Port: missing value"},
        ErrorCase{"EmptyQuotedValue", "User \"\"\n", "1: User: missing value"},
        ErrorCase{"OnlyComment", "User # nobody\n", "1: User: missing value"},
        ErrorCase{"UnknownKeyWithoutValue", "Frobnicate\n", "1: Frobnicate: missing value"},
        ErrorCase{"BadPort", "# c\nPort abc\n", "2: Port: bad port 'abc'"},
        ErrorCase{"PortZero", "Port 0\n", "1: Port: bad port '0'"},
        ErrorCase{"PortTooBig", "Port 65536\n", "1: Port: bad port '65536'"},
        ErrorCase{"PortInInactiveBlock", "Host other\n Port x\n", "2: Port: bad port 'x'"},
        ErrorCase{"ExtraWords", "Port 22 23\n", "1: Port: extra words after the value"},
        ErrorCase{"BadCount", "ServerAliveCountMax -1\n",
                  "1: ServerAliveCountMax: bad number '-1'"},
        ErrorCase{"BadTime", "ConnectTimeout 5x\n",
                  "1: ConnectTimeout: bad time '5x' (use e.g. 30, 90s, 5m, 1h30m)"},
        ErrorCase{"BadFlag", "IdentitiesOnly maybe\n",
                  "1: IdentitiesOnly: bad value 'maybe' (expected yes, true, no, false)"},
        ErrorCase{"BadStrict", "StrictHostKeyChecking sometimes\n",
                  "1: StrictHostKeyChecking: bad value 'sometimes' (expected yes, true, no, "
                  "false, off, ask, accept-new)"},
        ErrorCase{"UnclosedQuote", "Host db\n User \"bob\n", "2: invalid quotes"},
        ErrorCase{"UnclosedQuoteInKeyword", "\"User bob\n", "1: invalid quotes"},
        ErrorCase{"HostWithoutPattern", "Host\n", "1: Host: missing value"},
        ErrorCase{"HostEmptyPattern", "Host \"\"\n", "1: Host: empty pattern"},
        ErrorCase{"MatchWithoutCriteria", "Match # x\n", "1: Match: no criteria"},
        ErrorCase{"MatchMissingArgument", "Match host\n", "1: Match host: missing argument"},
        ErrorCase{"MatchUnknownCriterion", "Match planet mars\n",
                  "1: Match: unsupported criterion 'planet'"},
        ErrorCase{"MatchAllCombined", "Match all host db\n",
                  "1: Match: 'all' cannot be combined with other criteria"},
        ErrorCase{"MatchExec", "Host db\n Port 1\nMatch exec \"test -f /x\"\n Port 2\n",
                  "3: Match exec is not supported"},
        ErrorCase{"MatchExecAfterTrueCriterion", "Match host db exec true\n",
                  "1: Match exec is not supported"},
        ErrorCase{"MatchLocalNetwork", "Match localnetwork 10.0.0.0/8\n",
                  "1: Match localnetwork is not supported"},
        ErrorCase{"NoneNotAlone", "UserKnownHostsFile none /x\n",
                  "1: UserKnownHostsFile: \"none\" must appear alone"},
        ErrorCase{"LocalForwardWithoutTarget", "LocalForward 8080\n",
                  "1: LocalForward: missing target, expected [bind_address:]port "
                  "host:hostport"},
        ErrorCase{"LocalForwardBad", "LocalForward 8080 db:0\n",
                  "1: LocalForward: bad value '8080 db:0': target port 0 is out of range "
                  "(1-65535)"},
        ErrorCase{"DynamicForwardBad", "DynamicForward 1080:web:80\n",
                  "1: DynamicForward: bad value '1080:web:80': expected [bind_address:]port; put "
                  "an IPv6 address in [brackets]"},
        ErrorCase{"SendEnvWithEquals", "SendEnv A=1\n", "1: SendEnv: bad variable name 'A=1'"},
        ErrorCase{"UnknownToken", "IdentityFile ~/%x\n", "1: IdentityFile: unknown token %x"},
        ErrorCase{"UnsupportedTokenC", "UserKnownHostsFile /k/%C\n",
                  "1: UserKnownHostsFile: %C is not supported by tether"},
        ErrorCase{"PercentAtEnd", "IdentityFile /k/%\n", "1: IdentityFile: '%' at the end"},
        ErrorCase{"HostNameOnlyTakesH", "HostName %p.example\n", "1: HostName: unknown token %p"},
        ErrorCase{"UnsetEnvironmentVariable", "UserKnownHostsFile ${TETHER_TEST_SURELY_UNSET}/kh\n",
                  "1: UserKnownHostsFile: environment variable TETHER_TEST_SURELY_UNSET is "
                  "not set"}),
    ErrorName);

// ---------------------------------------------------------------------------------------
// Warnings

TEST_F(SshConfigFixture, UnsupportedButMeaningfulKeysWarnWhenTheyApply) {
  const std::string path = Write("config",
                                 "Host db\n"
                                 "  ProxyCommand nc %h %p\n"
                                 "  PKCS11Provider /usr/lib/p11-kit-proxy.so\n"
                                 "  ControlMaster no\n"
                                 "Host other\n"
                                 "  ProxyJump bastion\n"
                                 "Host *\n"
                                 "  ProxyJump none\n"
                                 "  ControlPath ~/.ssh/cm-%r@%h:%p\n"
                                 "  FrobnicateLevel 11\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(warnings_, (std::vector<std::string>{path + ":2: tether ignores ProxyCommand",
                                                 path + ":3: tether ignores PKCS11Provider",
                                                 path + ":9: tether ignores ControlPath"}));
  // Kept all the same, for the day tether honours them.
  EXPECT_EQ(config->Get("proxycommand"), "nc %h %p");
  EXPECT_EQ(config->Get("proxyjump"), "none");
}

TEST_F(SshConfigFixture, FinalPassDoesNotRepeatWarnings) {
  const std::string path = Write("config", "ProxyCommand nc %h %p\nMatch final\n Port 2\n");
  const std::optional<SshConfig> config = Load(path, Context("db"));
  ASSERT_TRUE(config.has_value()) << error_;
  EXPECT_EQ(config->Get("port"), "2");
  EXPECT_EQ(warnings_, std::vector<std::string>{path + ":1: tether ignores ProxyCommand"});
}

// ---------------------------------------------------------------------------------------
// The real ssh as the oracle: `ssh -G -F file host` never connects and prints what ssh
// resolved. For each case, every listed key must have the same values in both.

struct OracleCase {
  std::string name;
  std::string config;  ///< "{dir}" is the temporary directory
  std::string host;
  std::vector<std::string> keys;
};

void PrintTo(const OracleCase& c, std::ostream* os) { *os << c.name; }

class SshConfigOracleTest : public SshConfigFixture,
                            public ::testing::WithParamInterface<OracleCase> {
 protected:
  // key → values as ssh -G printed them; nullopt when ssh is missing or refused the file.
  std::optional<std::map<std::string, std::vector<std::string>>> RunSshG(const std::string& path,
                                                                         const std::string& host) {
    std::string error;
    auto ssh = testing::Subprocess::Start({"ssh", "-G", "-F", path, host}, {}, &error);
    if (ssh == nullptr) return std::nullopt;
    if (ssh->WaitExit(std::chrono::seconds(20)) != 0) return std::nullopt;
    std::map<std::string, std::vector<std::string>> values;
    std::istringstream lines(ssh->Stdout());
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string key, word;
      words >> key;
      std::vector<std::string>& slot = values[key];
      // ssh prints each IdentityFile on its own line, all known-hosts files on one.
      while (words >> word) slot.push_back(word);
    }
    return values;
  }

  // What ssh uses for ~, %d and %u: the password database, not $HOME.
  SshConfigContext RealContext(const std::string& host) const {
    SshConfigContext context;
    context.host = host;
    const passwd* pw = getpwuid(getuid());
    context.local_user = pw ? pw->pw_name : "";
    context.home = pw ? pw->pw_dir : "";
    return context;
  }
};

TEST_P(SshConfigOracleTest, AgreesWithSshG) {
  const OracleCase& c = GetParam();
  if (access("/usr/bin/ssh", X_OK) != 0) GTEST_SKIP() << "openssh-client is not installed";
  Write("inc/a.conf", "Host db\n  User included\nHost nomatch\n");
  Write("inc/b.conf", "Port 4444\n");
  const std::string path = Write("config", c.config);
  const auto ssh = RunSshG(path, c.host);
  ASSERT_TRUE(ssh.has_value()) << "ssh -G failed on:\n" << Expand(c.config);
  const std::optional<SshConfig> ours = Load(path, RealContext(c.host));
  ASSERT_TRUE(ours.has_value()) << error_;
  for (const std::string& key : c.keys) {
    // ssh prints the StrictHostKeyChecking default as "ask", ServerAliveInterval as 0, ...;
    // every key listed here is set by the case, so both sides hold a configured value.
    auto found = ssh->find(key);
    ASSERT_NE(found, ssh->end()) << "ssh -G printed no " << key;
    std::vector<std::string> mine;
    for (const std::string& value : ours->GetAll(key)) {
      std::istringstream words(value);
      for (std::string word; words >> word;) mine.push_back(word);
    }
    EXPECT_EQ(mine, found->second) << "key " << key << "\n" << ours->Dump();
  }
}

std::string OracleName(const ::testing::TestParamInfo<OracleCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(
    SshConfig, SshConfigOracleTest,
    Values(OracleCase{"FirstWinsAndStarDefaults",
                      "Host db\n  HostName db.internal\n  Port 2201\nHost db web\n  Port 9\n"
                      "  User shared\nHost *\n  User everyone\n  Port 22\n",
                      "db",
                      {"hostname", "port", "user"}},
           OracleCase{"StarDefaultsForOtherHost",
                      "Host db\n  HostName db.internal\n  Port 2201\nHost *\n  User everyone\n"
                      "  Port 2022\n",
                      "web",
                      {"hostname", "port", "user"}},
           OracleCase{"Negation",
                      "Host * !bastion\n  User inner\nHost bastion\n  User outer\n  Port 2200\n",
                      "bastion",
                      {"user", "port"}},
           OracleCase{"MatchHostAfterHostNameAndMatchUser",
                      "Host db\n  HostName %h.Internal\n  User bob\nMatch host *.internal user "
                      "bob\n  Port 2300\nMatch originalhost db\n  ConnectTimeout 1m5s\n",
                      "db",
                      {"hostname", "port", "user", "connecttimeout"}},
           OracleCase{"TokensAndTilde",
                      "Host DB\n  HostName real-%h\n  User bob\n  Port 2022\n  UserKnownHostsFile "
                      "~/kh_%h_%p %d/kh_%r_%u %%%n\n  IdentityAgent ~/agent-%h\n",
                      "DB",
                      {"hostname", "userknownhostsfile", "identityagent"}},
           OracleCase{"IncludeGlobAndBlockIsolation",
                      "Host db\n  Include {dir}/inc/*.conf\n  StrictHostKeyChecking accept-new\n",
                      "db",
                      {"user", "port", "stricthostkeychecking"}},
           OracleCase{"SyntaxForms",
                      "HOST=db\n  port = 2222\n  User \"bob\"   # trailing comment\n"
                      "  IdentityFile=\"/keys/with space\"\n  IdentityFile /keys/b\n"
                      "  IdentitiesOnly TRUE\n  AddressFamily INET6\n  ServerAliveInterval 2m\n"
                      "  ServerAliveCountMax 7\n  PubkeyAuthentication yes\n",
                      "db",
                      {"port", "user", "identitiesonly", "addressfamily", "serveraliveinterval",
                       "serveralivecountmax", "pubkeyauthentication"}},
           OracleCase{"IdentityFilesAccumulateDeduplicated",
                      "Host db\n  IdentityFile /k/db\nHost *\n  IdentityFile /k/all\n"
                      "  IdentityFile /k/db\n",
                      "db",
                      {"identityfile"}},
           OracleCase{"MatchFinalSecondPass",
                      "Host alias\n  HostName Real.Example.com\nMatch final host real.example.com\n"
                      "  User finaluser\nHost real.example.com\n  Port 2200\nMatch canonical\n"
                      "  ConnectTimeout 7\n",
                      "alias",
                      {"hostname", "user", "port", "connecttimeout"}},
           OracleCase{"TimeNoneDoesNotCount",
                      "ConnectTimeout none\nConnectTimeout 45\nStrictHostKeyChecking off\n"
                      "KbdInteractiveAuthentication no\nGatewayPorts yes\n",
                      "db",
                      {"connecttimeout", "stricthostkeychecking", "kbdinteractiveauthentication",
                       "gatewayports"}}),
    OracleName);

// Both refuse the same malformed files (ssh exits 255 without output).
TEST_F(SshConfigFixture, RefusesWhatSshRefuses) {
  if (access("/usr/bin/ssh", X_OK) != 0) GTEST_SKIP() << "openssh-client is not installed";
  const std::vector<std::string> bad = {"Port abc\n",         "Port 22 23\n",       "User \"bob\n",
                                        "Host \"\"\n",        "Host db\n Port\n",   "Match host\n",
                                        "Match all host x\n", "ConnectTimeout 5x\n"};
  for (const std::string& text : bad) {
    const std::string path = Write("config", text);
    std::string error;
    auto ssh = testing::Subprocess::Start({"ssh", "-G", "-F", path, "db"}, {}, &error);
    ASSERT_NE(ssh, nullptr) << error;
    EXPECT_EQ(ssh->WaitExit(std::chrono::seconds(20)), 255) << text;
    EXPECT_FALSE(Load(path, Context("db")).has_value()) << text;
  }
}

}  // namespace
}  // namespace tether
