// Private RSA keys in every format ssh-keygen writes, read by LoadRsaKeyFile (OpenSSL for
// PEM and PKCS#8, tether's own parser for the OpenSSH format), and the parser's refusals.

#include "tether/openssh_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "tether/base64.h"
#include "tether/key_file.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

using testing::ReadFile;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteFile;

constexpr char kPassphrase[] = "correct horse";

bool Keygen(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ssh-keygen", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output, error;
  return RunCommand(argv, {}, std::chrono::seconds(60), &output, &error);
}

// "ssh-rsa AAAA... comment" -> the decoded blob.
std::string BlobOfPublicLine(const std::string& line) {
  size_t begin = line.find(' ') + 1;
  size_t end = line.find(' ', begin);
  return Base64Decode(line.substr(begin, end - begin)).value_or("");
}

// One RSA key, written once per suite in each format and cipher.
class RsaKeyFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ASSERT_TRUE(Keygen({"-t", "rsa", "-b", "2048", "-N", "", "-f", Path("base")}));
    public_blob_ = new std::string(BlobOfPublicLine(ReadFile(Path("base.pub"))));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete public_blob_;
  }

  static std::string Path(const std::string& name) { return dir_->Join(name); }

  // A copy of the suite's key, rewritten by ssh-keygen -p with these options.
  static std::string Variant(const std::string& name, const std::string& passphrase,
                             const std::vector<std::string>& options) {
    std::string path = Path(name);
    if (!WriteFile(path, ReadFile(Path("base"))) || chmod(path.c_str(), 0600) != 0) return "";
    std::vector<std::string> args = {"-p", "-P", "", "-N", passphrase, "-f", path};
    args.insert(args.end(), options.begin(), options.end());
    return Keygen(args) ? path : "";
  }

  static TempDir* dir_;
  static std::string* public_blob_;
};

TempDir* RsaKeyFiles::dir_ = nullptr;
std::string* RsaKeyFiles::public_blob_ = nullptr;

struct Format {
  const char* name;
  const char* passphrase;
  std::vector<std::string> options;
};

const Format kFormats[] = {
    {"openssh", "", {}},
    {"openssh-aes256-ctr", kPassphrase, {"-a", "4"}},
    {"openssh-aes128-ctr", kPassphrase, {"-a", "2", "-Z", "aes128-ctr"}},
    {"openssh-aes256-cbc", kPassphrase, {"-a", "2", "-Z", "aes256-cbc"}},
    {"openssh-aes192-cbc", kPassphrase, {"-a", "2", "-Z", "aes192-cbc"}},
    {"openssh-aes256-gcm", kPassphrase, {"-a", "2", "-Z", "aes256-gcm@openssh.com"}},
    {"openssh-aes128-gcm", kPassphrase, {"-a", "2", "-Z", "aes128-gcm@openssh.com"}},
    {"pem", "", {"-m", "PEM"}},
    {"pem-encrypted", kPassphrase, {"-m", "PEM"}},
    {"pkcs8", "", {"-m", "PKCS8"}},
    {"pkcs8-encrypted", kPassphrase, {"-m", "PKCS8"}},
};

TEST_F(RsaKeyFiles, EveryFormatLoadsTheSameKey) {
  for (const Format& format : kFormats) {
    SCOPED_TRACE(format.name);
    std::string path = Variant(format.name, format.passphrase, format.options);
    ASSERT_FALSE(path.empty());
    KeyFileInfo info = InspectKeyFile(path);
    EXPECT_EQ(info.encrypted, std::string(format.passphrase) != "");
    EXPECT_FALSE(info.too_open);
    EvpPkeyPtr key;
    std::string detail;
    ASSERT_EQ(LoadRsaKeyFile(path, format.passphrase, &key, &detail), KeyLoadError::kNone)
        << detail;
    EXPECT_EQ(RsaPublicBlob(key.get()), *public_blob_);
    std::string signature;
    ASSERT_TRUE(RsaSign(key.get(), "rsa-sha2-512", "data", &signature));
    EXPECT_TRUE(RsaVerify(key.get(), "rsa-sha2-512", "data", signature));
    EXPECT_FALSE(RsaVerify(key.get(), "rsa-sha2-256", "data", signature));
  }
}

TEST_F(RsaKeyFiles, WrongPassphraseIsToldApartInEveryEncryptedFormat) {
  for (const Format& format : kFormats) {
    if (std::string(format.passphrase).empty()) continue;
    SCOPED_TRACE(format.name);
    std::string path = Variant(format.name, format.passphrase, format.options);
    ASSERT_FALSE(path.empty());
    for (const char* wrong : {"wrong horse", ""}) {
      EvpPkeyPtr key;
      std::string detail;
      EXPECT_EQ(LoadRsaKeyFile(path, wrong, &key, &detail), KeyLoadError::kWrongPassphrase)
          << detail;
      EXPECT_FALSE(key);
    }
  }
}

TEST_F(RsaKeyFiles, KnownRoundsAndPassphraseFromSshKeygenDecrypt) {
  // bcrypt_pbkdf checked end to end: ssh-keygen chose salt and wrote the key with 16 rounds.
  std::string path = Variant("rounds16", "tether-pass", {"-a", "16"});
  ASSERT_FALSE(path.empty());
  OpensshKeyHeader header;
  std::string detail;
  ASSERT_EQ(ParseOpensshKeyHeader(ReadFile(path), &header, &detail), KeyLoadError::kNone);
  EXPECT_EQ(header.kdf, "bcrypt");
  EXPECT_EQ(header.rounds, 16u);
  EXPECT_EQ(header.salt.size(), 16u);
  EXPECT_EQ(header.cipher, "aes256-ctr");
  EvpPkeyPtr key;
  ASSERT_EQ(LoadRsaKeyFile(path, "tether-pass", &key, &detail), KeyLoadError::kNone) << detail;
  EXPECT_EQ(RsaPublicBlob(key.get()), *public_blob_);
}

TEST_F(RsaKeyFiles, OtherKeyTypesAreLeftToLibssh2) {
  std::string ed25519 = Path("id_ed25519");
  ASSERT_TRUE(Keygen({"-t", "ed25519", "-N", "", "-f", ed25519}));
  std::string ecdsa = Path("id_ecdsa");
  ASSERT_TRUE(Keygen({"-t", "ecdsa", "-N", "", "-m", "PEM", "-f", ecdsa}));
  for (const std::string& path : {ed25519, ecdsa}) {
    EvpPkeyPtr key;
    std::string detail;
    EXPECT_EQ(LoadRsaKeyFile(path, "", &key, &detail), KeyLoadError::kUnsupported) << path;
  }
}

TEST_F(RsaKeyFiles, TooOpenKeyIsFlaggedAsSshDoes) {
  std::string path = Variant("open", "", {});
  ASSERT_FALSE(path.empty());
  for (mode_t mode : {0640, 0604, 0660, 0602}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_TRUE(InspectKeyFile(path).too_open) << std::oct << mode;
  }
  for (mode_t mode : {0600, 0400, 0700}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_FALSE(InspectKeyFile(path).too_open) << std::oct << mode;
  }
}

// The decoded body of an unencrypted OpenSSH key, to be tampered with and armored again.
class TamperedKey : public RsaKeyFiles {
 protected:
  void SetUp() override {
    std::string text = ReadFile(Path("base"));
    size_t begin = text.find('\n') + 1;
    size_t end = text.find("-----END");
    body_ = Base64Decode(text.substr(begin, end - begin)).value_or("");
    ASSERT_FALSE(body_.empty());
    // Where the private section starts: after its length, which follows the public blob.
    size_t blob_at = body_.find(*public_blob_);
    ASSERT_NE(blob_at, std::string::npos);
    private_at_ = blob_at + public_blob_->size() + 4;
  }

  static std::string Armor(const std::string& body) {
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + Base64Encode(body) +
           "\n-----END OPENSSH PRIVATE KEY-----\n";
  }

  KeyLoadError Load(const std::string& body) {
    EvpPkeyPtr key;
    std::string detail;
    KeyLoadError error = LoadOpensshRsaKey(Armor(body), "", &key, &detail);
    EXPECT_EQ(error == KeyLoadError::kNone, key != nullptr);
    return error;
  }

  std::string body_;
  size_t private_at_ = 0;
};

TEST_F(TamperedKey, UntouchedLoads) { EXPECT_EQ(Load(body_), KeyLoadError::kNone); }

TEST_F(TamperedKey, RefusesEachDamage) {
  struct Case {
    const char* what;
    std::string body;
    KeyLoadError expected;
  };
  std::string check_ints = body_, padding = body_, key_type = body_, modulus = body_;
  check_ints[private_at_ + 3] ^= 1;
  padding[padding.size() - 1] ^= 0x40;
  key_type[private_at_ + 8 + 4 + 4] ^= 1;  // "ssh-rsa" in the private section
  modulus[private_at_ + 8 + 11 + 4 + 40] ^= 1;
  std::string two_keys = body_;
  two_keys[15 + 4 + 4 + 4 + 4 + 4 + 3] = 2;  // magic, "none", "none", "", then the count
  const Case cases[] = {
      {"empty", "", KeyLoadError::kMalformed},
      {"magic only", body_.substr(0, 15), KeyLoadError::kMalformed},
      {"truncated in the header", body_.substr(0, 40), KeyLoadError::kMalformed},
      {"truncated in the private section", body_.substr(0, body_.size() - 9),
       KeyLoadError::kMalformed},
      {"check ints differ", check_ints, KeyLoadError::kMalformed},
      {"bad padding", padding, KeyLoadError::kMalformed},
      {"private type differs", key_type, KeyLoadError::kMalformed},
      {"modulus is not p*q", modulus, KeyLoadError::kMalformed},
      {"two keys", two_keys, KeyLoadError::kUnsupported},
      {"trailing bytes", body_ + "x", KeyLoadError::kMalformed},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Load(c.body), c.expected) << c.what;
  }
  EvpPkeyPtr key;
  std::string detail;
  EXPECT_EQ(LoadOpensshRsaKey("no key here", "", &key, &detail), KeyLoadError::kMalformed);
}

TEST_F(RsaKeyFiles, RoundsAboveTheLimitAreRefusedBeforeAnyWork) {
  std::string path = Variant("many_rounds", kPassphrase, {"-a", "64"});
  ASSERT_FALSE(path.empty());
  EvpPkeyPtr key;
  std::string detail;
  OpensshKeyLimits limits;
  limits.max_rounds = 32;
  EXPECT_EQ(LoadOpensshRsaKey(ReadFile(path), kPassphrase, &key, &detail, limits),
            KeyLoadError::kUnsupported);
  EXPECT_NE(detail.find("rounds"), std::string::npos) << detail;
}

}  // namespace
}  // namespace tether
