#include "tether/known_hosts.h"

#include <gtest/gtest.h>
#include <libssh2.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/param_text.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "tether/base64.h"
#include "tether/exit_code.h"
#include "tether/ssh_handles.h"

namespace tether {
namespace {

// A host key made by ssh-keygen, in the two forms the tests need.
struct TestKey {
  std::string line;  // "ssh-ed25519 AAAA..." as known_hosts stores it (no comment)
  ServerHostKey server_key;
};

struct KeySpec {
  std::string placeholder;  // replaced by TestKey::line in known_hosts templates
  std::string keygen_type;
  std::vector<std::string> keygen_args;
  int libssh2_type;
};

const KeySpec kKeySpecs[] = {
    {"$KEY", "ed25519", {}, LIBSSH2_HOSTKEY_TYPE_ED25519},
    {"$OTHER", "ed25519", {}, LIBSSH2_HOSTKEY_TYPE_ED25519},
    {"$ECDSA", "ecdsa", {}, LIBSSH2_HOSTKEY_TYPE_ECDSA_256},
    {"$ECDSA384", "ecdsa", {"-b", "384"}, LIBSSH2_HOSTKEY_TYPE_ECDSA_384},
    {"$RSA", "rsa", {"-b", "1024"}, LIBSSH2_HOSTKEY_TYPE_RSA},  // the smallest: quickest
};

std::optional<TestKey> MakeTestKey(const testing::TempDir& dir, const KeySpec& spec) {
  const std::string path = dir.Join("host_key_" + spec.placeholder.substr(1));
  std::istringstream fields(testing::MakeUserKey(path, spec.keygen_type, "", spec.keygen_args));
  std::string algorithm, base64;
  fields >> algorithm >> base64;
  std::optional<std::string> blob = Base64Decode(base64);
  if (algorithm.empty() || !blob) return std::nullopt;
  return TestKey{algorithm + " " + base64, {*blob, spec.libssh2_type, algorithm, "SHA256:x"}};
}

// Replaces every "$NAME" in `text`, longest names first ($ECDSA384 before $ECDSA).
std::string Expand(std::string text, const std::map<std::string, TestKey>& keys) {
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    for (size_t at; (at = text.find(it->first)) != std::string::npos;) {
      text.replace(at, it->first.size(), it->second.line);
    }
  }
  return text;
}

// libssh2 and the test keys, made once for every suite of this file (ssh-keygen is slow).
struct SharedState {
  SharedState() {
    for (const KeySpec& spec : kKeySpecs) {
      std::optional<TestKey> key = MakeTestKey(dir, spec);
      if (key) keys.emplace(spec.placeholder, *key);
    }
  }
  Libssh2Library library;
  testing::TempDir dir;
  std::map<std::string, TestKey> keys;
};

const SharedState& Shared() {
  static const SharedState state;  // destroyed at exit, after every test's session
  return state;
}

class KnownHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Shared().library.ok());
    ASSERT_EQ(Shared().keys.size(), std::size(kKeySpecs)) << "ssh-keygen failed";
    session_.reset(libssh2_session_init());
    ASSERT_NE(session_, nullptr);
    ASSERT_TRUE(dir_.ok());
  }

  static const TestKey& Key(const std::string& placeholder) {
    return Shared().keys.at(placeholder);
  }
  static std::string Expanded(const std::string& text) { return Expand(text, Shared().keys); }

  std::string UserFile() const { return dir_.Join("home/.ssh/known_hosts"); }
  std::string GlobalFile() const { return dir_.Join("ssh_known_hosts"); }

  // Writes `content` (placeholders expanded) to `path`, creating its directory.
  void WriteKnownHosts(const std::string& path, const std::string& content) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(testing::WriteFile(path, Expanded(content)));
  }

  void HashKnownHosts(const std::string& path) {
    std::string output, error;
    ASSERT_TRUE(testing::RunCommand({"ssh-keygen", "-H", "-f", path}, {}, std::chrono::seconds(10),
                                    &output, &error))
        << error << output;
    ASSERT_EQ(testing::ReadFile(path).find("example"), std::string::npos) << "not hashed";
  }

  std::unique_ptr<KnownHosts> Load(const std::string& host, uint16_t port, HostKeyPolicy policy,
                                   std::vector<std::string>* warnings) {
    HostKeyCheckConfig config;
    config.host = host;
    config.port = port;
    config.user_files = {UserFile()};
    config.global_files = {GlobalFile()};
    config.policy = policy;
    return KnownHosts::Load(session_.get(), config, warnings);
  }

  SessionPtr session_;
  testing::TempDir dir_;
};

struct VerifyCase {
  std::string name;
  std::optional<std::string> user_file;  // nullopt: the file does not exist
  std::string host;
  uint16_t port;
  HostKeyPolicy policy;
  std::string presented;  // placeholder of the key the server shows
  bool accepted;
  std::string message_part;                    // in Failure::message when refused
  std::optional<std::string> user_file_after;  // nullopt: unchanged
  bool hashed;                                 // run ssh-keygen -H over the user file first
  std::string global_file;                     // "" = no global file
};

void PrintTo(const VerifyCase& c, std::ostream* os) { *os << c.name; }

class KnownHostsVerifyTest : public KnownHostsTest,
                             public ::testing::WithParamInterface<VerifyCase> {};

TEST_P(KnownHostsVerifyTest, Verifies) {
  const VerifyCase& c = GetParam();
  if (c.user_file) {
    WriteKnownHosts(UserFile(), *c.user_file);
    if (c.hashed) HashKnownHosts(UserFile());
  }
  if (!c.global_file.empty()) WriteKnownHosts(GlobalFile(), c.global_file);
  const std::string before = testing::ReadFile(UserFile());
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known = Load(c.host, c.port, c.policy, &warnings);
  ASSERT_NE(known, nullptr);
  EXPECT_TRUE(warnings.empty()) << warnings.front();

  Failure failure;
  const bool accepted = known->Verify(Key(c.presented).server_key, &failure);
  EXPECT_EQ(accepted, c.accepted) << failure.message;
  if (!c.accepted) {
    EXPECT_EQ(failure.code, ExitCode::kNotTrusted);
    EXPECT_NE(failure.message.find(c.message_part), std::string::npos) << failure.message;
  }
  const std::string after = testing::ReadFile(UserFile());
  EXPECT_EQ(after, c.user_file_after ? Expanded(*c.user_file_after) : before);

  if (c.accepted && c.user_file_after) {
    // What was appended must be read back as this host's key by a later run.
    std::unique_ptr<KnownHosts> reloaded = Load(c.host, c.port, HostKeyPolicy::kStrict, &warnings);
    ASSERT_NE(reloaded, nullptr);
    EXPECT_TRUE(reloaded->Verify(Key(c.presented).server_key, &failure)) << failure.message;
    EXPECT_TRUE(warnings.empty()) << warnings.front();
  }
}

const std::string kChanged = "REMOTE HOST IDENTIFICATION HAS CHANGED";
const std::string kUnknown = "no ED25519 host key is known for ";

INSTANTIATE_TEST_SUITE_P(
    KnownHosts, KnownHostsVerifyTest,
    ::testing::Values(
        VerifyCase{"Match", "example.com $KEY\n", "example.com", 22, HostKeyPolicy::kStrict, "$KEY",
                   true, "", std::nullopt, false, ""},
        VerifyCase{"MatchIgnoresHostCase", "example.com $KEY\n", "Example.COM", 22,
                   HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, false, ""},
        VerifyCase{"MatchAmongSeveralNames", "alias,example.com,192.0.2.1 $KEY comment\n",
                   "example.com", 22, HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, false,
                   ""},
        VerifyCase{"MatchNonStandardPort", "[example.com]:2222 $KEY\n", "example.com", 2222,
                   HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, false, ""},
        VerifyCase{"MatchEcdsa", "example.com $ECDSA\n", "example.com", 22, HostKeyPolicy::kStrict,
                   "$ECDSA", true, "", std::nullopt, false, ""},
        VerifyCase{"MatchAfterCommentsAndBlankLines",
                   "# comment\n\n   \n\t# indented comment\nexample.com $KEY", "example.com", 22,
                   HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, false, ""},
        VerifyCase{"PlainEntryDoesNotCoverOtherPort", "example.com $KEY\n", "example.com", 2222,
                   HostKeyPolicy::kStrict, "$KEY", false, kUnknown + "[example.com]:2222",
                   std::nullopt, false, ""},
        VerifyCase{"PortEntryDoesNotCoverPort22", "[example.com]:2222 $KEY\n", "example.com", 22,
                   HostKeyPolicy::kStrict, "$KEY", false, kUnknown + "example.com", std::nullopt,
                   false, ""},
        VerifyCase{"OtherHostDoesNotMatch", "example.org $KEY\n", "example.com", 22,
                   HostKeyPolicy::kStrict, "$KEY", false, kUnknown + "example.com", std::nullopt,
                   false, ""},
        VerifyCase{"ChangedKey", "example.com $OTHER\n", "example.com", 22, HostKeyPolicy::kStrict,
                   "$KEY", false, kChanged, std::nullopt, false, ""},
        VerifyCase{"ChangedKeyRefusedEvenWithAcceptNew", "example.com $OTHER\n", "example.com", 22,
                   HostKeyPolicy::kAcceptNew, "$KEY", false, kChanged, std::nullopt, false, ""},
        VerifyCase{"ChangedKeyRefusedEvenWithOff", "example.com $OTHER\n", "example.com", 22,
                   HostKeyPolicy::kOff, "$KEY", false, kChanged, std::nullopt, false, ""},
        VerifyCase{"KnownByOtherTypeIsAChange", "example.com $ECDSA\n", "example.com", 22,
                   HostKeyPolicy::kAcceptNew, "$KEY", false, kChanged, std::nullopt, false, ""},
        VerifyCase{"UnknownStrict", "", "example.com", 22, HostKeyPolicy::kStrict, "$KEY", false,
                   kUnknown + "example.com", std::nullopt, false, ""},
        VerifyCase{"UnknownStrictNoFile", std::nullopt, "example.com", 22, HostKeyPolicy::kStrict,
                   "$KEY", false, kUnknown + "example.com", std::nullopt, false, ""},
        VerifyCase{"AcceptNewAppends", "other.example $OTHER\n", "example.com", 22,
                   HostKeyPolicy::kAcceptNew, "$KEY", true, "",
                   "other.example $OTHER\nexample.com $KEY\n", false, ""},
        VerifyCase{"AcceptNewAfterMissingNewline", "other.example $OTHER", "example.com", 22,
                   HostKeyPolicy::kAcceptNew, "$KEY", true, "",
                   "other.example $OTHER\nexample.com $KEY\n", false, ""},
        VerifyCase{"AcceptNewIntoEmptyFile", "", "example.com", 22, HostKeyPolicy::kAcceptNew,
                   "$KEY", true, "", "example.com $KEY\n", false, ""},
        VerifyCase{"AcceptNewCreatesFile", std::nullopt, "example.com", 22,
                   HostKeyPolicy::kAcceptNew, "$KEY", true, "", "example.com $KEY\n", false, ""},
        VerifyCase{"AcceptNewStoresPortPattern", "", "example.com", 2222, HostKeyPolicy::kAcceptNew,
                   "$KEY", true, "", "[example.com]:2222 $KEY\n", false, ""},
        VerifyCase{"AcceptNewStoresLowercaseHost", "", "Example.COM", 22, HostKeyPolicy::kAcceptNew,
                   "$KEY", true, "", "example.com $KEY\n", false, ""},
        VerifyCase{"OffAppends", "", "example.com", 22, HostKeyPolicy::kOff, "$KEY", true, "",
                   "example.com $KEY\n", false, ""},
        VerifyCase{"HashedMatch", "example.com $KEY\n", "example.com", 22, HostKeyPolicy::kStrict,
                   "$KEY", true, "", std::nullopt, true, ""},
        VerifyCase{"HashedPortMatch", "[example.com]:2222 $KEY\n", "example.com", 2222,
                   HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, true, ""},
        VerifyCase{"HashedPlainEntryDoesNotCoverOtherPort", "example.com $KEY\n", "example.com",
                   2222, HostKeyPolicy::kStrict, "$KEY", false, kUnknown, std::nullopt, true, ""},
        VerifyCase{"HashedChanged", "example.com $OTHER\n", "example.com", 22,
                   HostKeyPolicy::kStrict, "$KEY", false, kChanged, std::nullopt, true, ""},
        VerifyCase{"Revoked", "@revoked example.com $KEY\nexample.com $KEY\n", "example.com", 22,
                   HostKeyPolicy::kStrict, "$KEY", false, "revoked", std::nullopt, false, ""},
        VerifyCase{"RevokedRefusedEvenWithOff", "@revoked * $KEY\n", "example.com", 22,
                   HostKeyPolicy::kOff, "$KEY", false, "revoked", std::nullopt, false, ""},
        VerifyCase{"RevokedOtherKeyDoesNotMatter", "@revoked * $OTHER\nexample.com $KEY\n",
                   "example.com", 22, HostKeyPolicy::kStrict, "$KEY", true, "", std::nullopt, false,
                   ""},
        VerifyCase{"CertAuthorityIsNotTheHostKey", "@cert-authority example.com $KEY\n",
                   "example.com", 22, HostKeyPolicy::kStrict, "$KEY", false,
                   kUnknown + "example.com", std::nullopt, false, ""},
        VerifyCase{"GlobalFileMatch", "", "example.com", 22, HostKeyPolicy::kStrict, "$KEY", true,
                   "", std::nullopt, false, "example.com $KEY\n"},
        VerifyCase{"GlobalFileChanged", "", "example.com", 22, HostKeyPolicy::kAcceptNew, "$KEY",
                   false, kChanged, std::nullopt, false, "example.com $OTHER\n"}),
    [](const ::testing::TestParamInfo<VerifyCase>& param_info) { return param_info.param.name; });

TEST_F(KnownHostsTest, AcceptNewCreatesPrivateDirectoryAndFile) {
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known = Load("example.com", 22, HostKeyPolicy::kAcceptNew, &warnings);
  ASSERT_NE(known, nullptr);
  Failure failure;
  ASSERT_TRUE(known->Verify(Key("$KEY").server_key, &failure)) << failure.message;
  struct stat st {};
  ASSERT_EQ(stat(UserFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir_.Join("home/.ssh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(known->Verify(Key("$KEY").server_key, &failure))
      << "an accepted key is known for the rest of the run: " << failure.message;
}

struct WarningCase {
  std::string name;
  std::string content;
  std::vector<std::string> expected;  // "$FILE" stands for the path
  bool still_matches;                 // "example.com $KEY" in the content is still found
};

void PrintTo(const WarningCase& c, std::ostream* os) { *os << c.name; }

class KnownHostsWarningTest : public KnownHostsTest,
                              public ::testing::WithParamInterface<WarningCase> {};

TEST_P(KnownHostsWarningTest, SkipsBadLinesOneByOne) {
  WriteKnownHosts(UserFile(), GetParam().content);
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known = Load("example.com", 22, HostKeyPolicy::kStrict, &warnings);
  ASSERT_NE(known, nullptr);
  std::vector<std::string> expected;
  for (std::string line : GetParam().expected) {
    expected.push_back(line.replace(line.find("$FILE"), 5, UserFile()));
  }
  EXPECT_EQ(warnings, expected);
  Failure failure;
  EXPECT_EQ(known->Verify(Key("$KEY").server_key, &failure), GetParam().still_matches)
      << failure.message;
}

INSTANTIATE_TEST_SUITE_P(
    KnownHosts, KnownHostsWarningTest,
    ::testing::Values(WarningCase{"UnparsableFirstLine",
                                  "not-a-known-hosts-line\nexample.com $KEY\n",
                                  {"$FILE:1: cannot parse this known_hosts line; skipped"},
                                  true},
                      WarningCase{"MissingKey",
                                  "other.example $KEY\nexample.org\nexample.com $KEY\n",
                                  {"$FILE:2: cannot parse this known_hosts line; skipped"},
                                  true},
                      WarningCase{"TwoBadLinesCountCommentsAndBlanks",
                                  "# comment\n\nbroken\nexample.com $KEY\nalso-broken\n",
                                  {"$FILE:3: cannot parse this known_hosts line; skipped",
                                   "$FILE:5: cannot parse this known_hosts line; skipped"},
                                  true},
                      WarningCase{"CertAuthorityIsSkippedSilently",
                                  "@cert-authority *.example.com $KEY\n",
                                  {},
                                  false}),
    [](const ::testing::TestParamInfo<WarningCase>& param_info) { return param_info.param.name; });

TEST_F(KnownHostsTest, DirectoryInsteadOfFileIsIgnoredWithWarning) {
  ASSERT_EQ(mkdir(dir_.Join("home").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(dir_.Join("home/.ssh").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(UserFile().c_str(), 0700), 0);
  WriteKnownHosts(GlobalFile(), "example.com $KEY\n");
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known = Load("example.com", 22, HostKeyPolicy::kStrict, &warnings);
  ASSERT_NE(known, nullptr);
  EXPECT_EQ(warnings, std::vector<std::string>{UserFile() +
                                               " is a directory, not a known_hosts file; ignored"});
  Failure failure;
  EXPECT_TRUE(known->Verify(Key("$KEY").server_key, &failure))
      << "the other files are still read: " << failure.message;
}

TEST_F(KnownHostsTest, MissingFilesAreNotWarnedAbout) {
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known = Load("example.com", 22, HostKeyPolicy::kStrict, &warnings);
  ASSERT_NE(known, nullptr);
  EXPECT_TRUE(warnings.empty());
}

struct PatternCase {
  std::string host;
  uint16_t port;
  std::string expected;
};

void PrintTo(const PatternCase& c, std::ostream* os) {
  *os << "host " << ParamText(c.host) << " port " << c.port;
}

class KnownHostsPatternTest : public KnownHostsTest,
                              public ::testing::WithParamInterface<PatternCase> {};

TEST_P(KnownHostsPatternTest, NamesHostAsKnownHostsStoresIt) {
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known =
      Load(GetParam().host, GetParam().port, HostKeyPolicy::kStrict, &warnings);
  ASSERT_NE(known, nullptr);
  EXPECT_EQ(known->HostPattern(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(KnownHosts, KnownHostsPatternTest,
                         ::testing::Values(PatternCase{"example.com", 22, "example.com"},
                                           PatternCase{"example.com", 2222, "[example.com]:2222"},
                                           PatternCase{"DB.Example.com", 22, "db.example.com"},
                                           PatternCase{"127.0.0.1", 2200, "[127.0.0.1]:2200"}));

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

struct PreferredCase {
  std::string name;
  std::string user_file;
  uint16_t port;
  std::set<std::string> leading;  // must all come before any other algorithm
};

void PrintTo(const PreferredCase& c, std::ostream* os) { *os << c.name; }

class KnownHostsPreferredTest : public KnownHostsTest,
                                public ::testing::WithParamInterface<PreferredCase> {};

TEST_P(KnownHostsPreferredTest, PutsKnownKeyTypesFirst) {
  WriteKnownHosts(UserFile(), GetParam().user_file);
  std::vector<std::string> warnings;
  std::unique_ptr<KnownHosts> known =
      Load("example.com", GetParam().port, HostKeyPolicy::kStrict, &warnings);
  ASSERT_NE(known, nullptr);

  const char** supported = nullptr;
  const int count =
      libssh2_session_supported_algs(session_.get(), LIBSSH2_METHOD_HOSTKEY, &supported);
  ASSERT_GT(count, 0);
  std::vector<std::string> libssh2_order(supported, supported + count);
  libssh2_free(session_.get(), supported);

  const std::vector<std::string> result = SplitCommas(known->PreferredAlgorithms(session_.get()));
  std::vector<std::string> expected;  // libssh2's order, the leading ones moved up
  for (const std::string& name : libssh2_order) {
    if (GetParam().leading.count(name)) expected.push_back(name);
  }
  ASSERT_EQ(expected.size(), GetParam().leading.size()) << "libssh2 lacks an algorithm";
  for (const std::string& name : libssh2_order) {
    if (!GetParam().leading.count(name)) expected.push_back(name);
  }
  EXPECT_EQ(result, expected);
}

INSTANTIATE_TEST_SUITE_P(
    KnownHosts, KnownHostsPreferredTest,
    ::testing::Values(
        PreferredCase{"UnknownHostKeepsLibssh2Order", "other.example $KEY\n", 22, {}},
        PreferredCase{"Ed25519", "example.com $KEY\n", 22, {"ssh-ed25519"}},
        PreferredCase{"Ecdsa256", "example.com $ECDSA\n", 22, {"ecdsa-sha2-nistp256"}},
        PreferredCase{"Ecdsa384", "example.com $ECDSA384\n", 22, {"ecdsa-sha2-nistp384"}},
        PreferredCase{"Rsa", "example.com $RSA\n", 22, {"ssh-rsa"}},
        PreferredCase{"Ed25519AndRsa",
                      "example.com $RSA\nexample.com $KEY\n",
                      22,
                      {"ssh-ed25519", "ssh-rsa"}},
        PreferredCase{"OnlyForThisPort",
                      "example.com $KEY\n[example.com]:2222 $ECDSA384\n",
                      2222,
                      {"ecdsa-sha2-nistp384"}}),
    [](const ::testing::TestParamInfo<PreferredCase>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace tether
