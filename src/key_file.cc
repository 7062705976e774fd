#include "tether/key_file.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tether/base64.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

constexpr char kOpensshBegin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr char kOpensshEnd[] = "-----END OPENSSH PRIVATE KEY-----";
// The magic includes its terminating NUL byte.
constexpr std::string_view kOpensshMagic("openssh-key-v1\0", 15);
constexpr size_t kMaxKeyFileSize = size_t{64} * 1024;

void InspectOpensshKey(const std::string& text, KeyFileInfo* info) {
  size_t begin = text.find(kOpensshBegin) + sizeof(kOpensshBegin) - 1;
  size_t end = text.find(kOpensshEnd);
  if (end == std::string::npos || end < begin) return;
  std::optional<std::string> blob = Base64Decode(text.substr(begin, end - begin));
  if (!blob || std::string_view(*blob).substr(0, kOpensshMagic.size()) != kOpensshMagic) return;
  WireReader reader(std::string_view(*blob).substr(kOpensshMagic.size()));
  std::string cipher, kdf, kdf_options, public_blob;
  uint32_t keys = 0;
  if (!reader.ReadString(&cipher) || !reader.ReadString(&kdf) || !reader.ReadString(&kdf_options) ||
      !reader.ReadU32(&keys) || !reader.ReadString(&public_blob)) {
    return;
  }
  // No cipher name at all is a broken file, not an encrypted key (ssh-keygen writes "none").
  if (cipher.empty()) return;
  info->cipher = cipher;
  info->encrypted = cipher != "none";
  WireReader(public_blob).ReadString(&info->key_type);
  OPENSSL_cleanse(blob->data(), blob->size());  // an unencrypted key is in there
}

void InspectPemKey(const std::string& text, KeyFileInfo* info) {
  info->encrypted = text.find("ENCRYPTED") != std::string::npos;
  bool pkcs8 = text.find("BEGIN PRIVATE KEY") != std::string::npos ||
               text.find("BEGIN ENCRYPTED PRIVATE KEY") != std::string::npos;
  info->format = pkcs8 ? "pkcs8" : "pem";
  info->cipher = info->encrypted ? "pem" : "none";
  if (text.find("BEGIN RSA PRIVATE KEY") != std::string::npos) info->key_type = "ssh-rsa";
  if (text.find("BEGIN EC PRIVATE KEY") != std::string::npos) info->key_type = "ecdsa";
  if (text.find("BEGIN DSA PRIVATE KEY") != std::string::npos) info->key_type = "ssh-dss";
}

// Reads up to kMaxKeyFileSize bytes of a regular file.
bool ReadKeyText(const std::string& path, std::string* text) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  text->assign(kMaxKeyFileSize, '\0');
  in.read(text->data(), static_cast<std::streamsize>(text->size()));
  text->resize(static_cast<size_t>(in.gcount()));
  return true;
}

// OpenSSL's passphrase callback: hands over the passphrase it was given, never prompts.
int GivePassphrase(char* buffer, int size, int rwflag, void* user) {
  (void)rwflag;
  const auto* passphrase = static_cast<const std::string_view*>(user);
  if (size <= 0 || passphrase->size() > static_cast<size_t>(size)) return -1;
  memcpy(buffer, passphrase->data(), passphrase->size());
  return static_cast<int>(passphrase->size());
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

KeyLoadError LoadPemRsaKey(const std::string& text, bool encrypted, std::string_view passphrase,
                           EvpPkeyPtr* key, std::string* detail) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) {
    *detail = "out of memory";
    return KeyLoadError::kMalformed;
  }
  EvpPkeyPtr loaded(PEM_read_bio_PrivateKey(bio.get(), nullptr, &GivePassphrase, &passphrase));
  ERR_clear_error();  // OpenSSL's queue would otherwise outlive the attempt
  if (!loaded) {
    *detail = encrypted ? "incorrect passphrase" : "not a private key OpenSSL can read";
    return encrypted ? KeyLoadError::kWrongPassphrase : KeyLoadError::kMalformed;
  }
  if (!IsRsaKey(loaded.get())) {
    *detail = "not an RSA key";
    return KeyLoadError::kUnsupported;
  }
  *key = std::move(loaded);
  return KeyLoadError::kNone;
}

}  // namespace

KeyLoadError LoadRsaKeyFile(const std::string& path, std::string_view passphrase, EvpPkeyPtr* key,
                            std::string* detail) {
  std::string text;
  if (!ReadKeyText(path, &text)) {
    *detail = "cannot read";
    return KeyLoadError::kMalformed;
  }
  KeyLoadError result;
  if (text.find(kOpensshBegin) != std::string::npos) {
    result = LoadOpensshRsaKey(text, passphrase, key, detail);
  } else {
    KeyFileInfo info;
    InspectPemKey(text, &info);
    result = LoadPemRsaKey(text, info.encrypted, passphrase, key, detail);
  }
  OPENSSL_cleanse(text.data(), text.size());
  return result;
}

KeyFileInfo InspectKeyFile(const std::string& path) {
  KeyFileInfo info;
  std::string text;
  if (!ReadKeyText(path, &text)) return info;
  info.readable = true;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    info.mode = st.st_mode & 07777;
    // As ssh: only a key of the user's own is judged; another owner's is their business.
    info.too_open = st.st_uid == getuid() && (st.st_mode & 077) != 0;
  }
  if (text.find(kOpensshBegin) != std::string::npos) {
    info.format = "openssh";
    InspectOpensshKey(text, &info);
  } else {
    InspectPemKey(text, &info);
  }
  OPENSSL_cleanse(text.data(), text.size());
  return info;
}

}  // namespace tether
