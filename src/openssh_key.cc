#include "tether/openssh_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <vector>

#include "tether/base64.h"
#include "tether/bcrypt_pbkdf.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

constexpr std::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----";
// The magic includes its terminating NUL byte.
constexpr std::string_view kMagic("openssh-key-v1\0", 15);

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// A cipher OpenSSH may protect a private key with, as OpenSSL names it.
struct CipherSpec {
  std::string_view ssh_name;
  const EVP_CIPHER* (*evp)();
  size_t key_bytes;
  size_t iv_bytes;
  size_t tag_bytes;  // AEAD only
};

constexpr size_t kBlock = 16;

const CipherSpec kCiphers[] = {
    {"aes128-ctr", EVP_aes_128_ctr, 16, 16, 0},
    {"aes192-ctr", EVP_aes_192_ctr, 24, 16, 0},
    {"aes256-ctr", EVP_aes_256_ctr, 32, 16, 0},
    {"aes128-cbc", EVP_aes_128_cbc, 16, 16, 0},
    {"aes192-cbc", EVP_aes_192_cbc, 24, 16, 0},
    {"aes256-cbc", EVP_aes_256_cbc, 32, 16, 0},
    {"aes128-gcm@openssh.com", EVP_aes_128_gcm, 16, 12, 16},
    {"aes256-gcm@openssh.com", EVP_aes_256_gcm, 32, 12, 16},
};

const CipherSpec* FindCipher(std::string_view name) {
  for (const CipherSpec& spec : kCiphers) {
    if (spec.ssh_name == name) return &spec;
  }
  return nullptr;
}

// A string holding secrets, wiped when it goes.
class SecretBytes {
 public:
  explicit SecretBytes(size_t size) : bytes_(size, '\0') {}
  ~SecretBytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  unsigned char* data() { return reinterpret_cast<unsigned char*>(bytes_.data()); }
  std::string_view view() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

KeyLoadError Fail(KeyLoadError error, std::string* detail, const std::string& why) {
  *detail = why;
  return error;
}

// Decrypts header.sealed into *plain. kWrongPassphrase when an AEAD tag does not match.
KeyLoadError Decrypt(const OpensshKeyHeader& header, const CipherSpec& spec,
                     std::string_view passphrase, SecretBytes* plain, std::string* detail) {
  SecretBytes derived(spec.key_bytes + spec.iv_bytes);
  if (!BcryptPbkdf(passphrase, header.salt, header.rounds, derived.data(), derived.size())) {
    return Fail(KeyLoadError::kMalformed, detail, "bad bcrypt parameters");
  }
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  const unsigned char* key = derived.data();
  const unsigned char* iv = derived.data() + spec.key_bytes;
  const auto* in = reinterpret_cast<const unsigned char*>(header.sealed.data());
  int length = 0, final_length = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), spec.evp(), nullptr, nullptr, nullptr) != 1 ||
      (spec.tag_bytes != 0 && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN,
                                                  static_cast<int>(spec.iv_bytes), nullptr) != 1) ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key, iv) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain->data(), &length, in,
                        static_cast<int>(header.sealed.size())) != 1) {
    return Fail(KeyLoadError::kMalformed, detail, "cannot decrypt with " + header.cipher);
  }
  if (spec.tag_bytes != 0) {
    std::string tag = header.tag;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag.size()),
                            tag.data()) != 1) {
      return Fail(KeyLoadError::kMalformed, detail, "bad authentication tag");
    }
  }
  if (EVP_DecryptFinal_ex(ctx.get(), plain->data() + length, &final_length) != 1) {
    return Fail(KeyLoadError::kWrongPassphrase, detail, "incorrect passphrase");
  }
  return KeyLoadError::kNone;
}

// Reads the decrypted private section: check ints, the key, its comment, the padding.
KeyLoadError ReadPrivateSection(const OpensshKeyHeader& header, std::string_view plain,
                                EvpPkeyPtr* key, std::string* detail) {
  WireReader reader(plain);
  uint32_t check1 = 0, check2 = 0;
  if (!reader.ReadU32(&check1) || !reader.ReadU32(&check2)) {
    return Fail(KeyLoadError::kMalformed, detail, "truncated private section");
  }
  // The two random check ints agree only when the decryption key was right.
  if (check1 != check2) {
    return header.encrypted() ? Fail(KeyLoadError::kWrongPassphrase, detail, "incorrect passphrase")
                              : Fail(KeyLoadError::kMalformed, detail, "check bytes differ");
  }
  std::string_view type, n, e, d, iqmp, p, q, comment;
  if (!reader.ReadString(&type)) {
    return Fail(KeyLoadError::kMalformed, detail, "truncated private section");
  }
  if (type != header.key_type) {
    return Fail(KeyLoadError::kMalformed, detail, "private key type differs from public key");
  }
  if (type != "ssh-rsa") {
    return Fail(KeyLoadError::kUnsupported, detail, "not an RSA key: " + std::string(type));
  }
  if (!reader.ReadString(&n) || !reader.ReadString(&e) || !reader.ReadString(&d) ||
      !reader.ReadString(&iqmp) || !reader.ReadString(&p) || !reader.ReadString(&q) ||
      !reader.ReadString(&comment)) {
    return Fail(KeyLoadError::kMalformed, detail, "truncated RSA key");
  }
  // Padding: 1, 2, 3, ... up to the cipher's block size.
  std::string_view padding = reader.rest();
  if (padding.size() >= (header.encrypted() ? kBlock : 8)) {
    return Fail(KeyLoadError::kMalformed, detail, "too much padding");
  }
  for (size_t i = 0; i < padding.size(); ++i) {
    if (static_cast<uint8_t>(padding[i]) != i + 1) {
      return Fail(KeyLoadError::kMalformed, detail, "bad padding");
    }
  }
  EvpPkeyPtr loaded = RsaKeyFromParts({n, e, d, iqmp, p, q});
  if (!loaded) return Fail(KeyLoadError::kMalformed, detail, "inconsistent RSA key");
  if (RsaPublicBlob(loaded.get()) != header.public_blob) {
    return Fail(KeyLoadError::kMalformed, detail, "private key does not match the public key");
  }
  *key = std::move(loaded);
  return KeyLoadError::kNone;
}

}  // namespace

KeyLoadError ParseOpensshKeyHeader(std::string_view text, OpensshKeyHeader* header,
                                   std::string* detail) {
  size_t begin = text.find(kBegin);
  size_t end = text.find(kEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return Fail(KeyLoadError::kMalformed, detail, "not an OpenSSH private key");
  }
  begin += kBegin.size();
  std::optional<std::string> decoded = Base64Decode(text.substr(begin, end - begin));
  if (!decoded || std::string_view(*decoded).substr(0, kMagic.size()) != kMagic) {
    return Fail(KeyLoadError::kMalformed, detail, "bad base64 or magic");
  }
  // The decoded file holds an unencrypted key in the clear.
  struct Wipe {
    std::string* bytes;
    ~Wipe() { OPENSSL_cleanse(bytes->data(), bytes->size()); }
  } wipe{&*decoded};
  WireReader reader(std::string_view(*decoded).substr(kMagic.size()));
  std::string_view kdf_options;
  uint32_t keys = 0;
  if (!reader.ReadString(&header->cipher) || !reader.ReadString(&header->kdf) ||
      !reader.ReadString(&kdf_options) || !reader.ReadU32(&keys) ||
      !reader.ReadString(&header->public_blob) || !reader.ReadString(&header->sealed)) {
    return Fail(KeyLoadError::kMalformed, detail, "truncated key file");
  }
  if (keys != 1) return Fail(KeyLoadError::kUnsupported, detail, "more than one key");
  if (!WireReader(header->public_blob).ReadString(&header->key_type)) {
    return Fail(KeyLoadError::kMalformed, detail, "bad public key");
  }
  if (header->kdf == "bcrypt") {
    WireReader options(kdf_options);
    if (!options.ReadString(&header->salt) || !options.ReadU32(&header->rounds) ||
        !options.empty()) {
      return Fail(KeyLoadError::kMalformed, detail, "bad bcrypt options");
    }
  } else if (header->kdf != "none" || !kdf_options.empty()) {
    return Fail(KeyLoadError::kUnsupported, detail, "unknown KDF " + header->kdf);
  }
  if (header->encrypted() != (header->kdf != "none")) {
    return Fail(KeyLoadError::kMalformed, detail, "cipher and KDF disagree");
  }
  const CipherSpec* spec = FindCipher(header->cipher);
  if (header->encrypted() && spec == nullptr) {
    return Fail(KeyLoadError::kUnsupported, detail, "unsupported cipher " + header->cipher);
  }
  size_t tag_bytes = spec != nullptr ? spec->tag_bytes : 0;
  std::string_view tag;
  if (!reader.ReadBytes(tag_bytes, &tag) || !reader.empty()) {
    return Fail(KeyLoadError::kMalformed, detail, "bad length after the private section");
  }
  header->tag.assign(tag);
  size_t block = header->encrypted() ? kBlock : 8;
  if (header->sealed.empty() || header->sealed.size() % block != 0) {
    return Fail(KeyLoadError::kMalformed, detail, "private section is not whole blocks");
  }
  return KeyLoadError::kNone;
}

KeyLoadError LoadOpensshRsaKey(std::string_view text, std::string_view passphrase, EvpPkeyPtr* key,
                               std::string* detail, const OpensshKeyLimits& limits) {
  OpensshKeyHeader header;
  KeyLoadError error = ParseOpensshKeyHeader(text, &header, detail);
  if (error != KeyLoadError::kNone) return error;
  if (header.key_type != "ssh-rsa") {
    return Fail(KeyLoadError::kUnsupported, detail, "not an RSA key: " + header.key_type);
  }
  SecretBytes plain(header.sealed.size());
  if (!header.encrypted()) {
    std::copy(header.sealed.begin(), header.sealed.end(), plain.data());
  } else {
    if (header.rounds > limits.max_rounds) {
      return Fail(KeyLoadError::kUnsupported, detail,
                  "bcrypt rounds " + std::to_string(header.rounds) + " above " +
                      std::to_string(limits.max_rounds));
    }
    error = Decrypt(header, *FindCipher(header.cipher), passphrase, &plain, detail);
    if (error != KeyLoadError::kNone) return error;
  }
  return ReadPrivateSection(header, plain.view(), key, detail);
}

}  // namespace tether
