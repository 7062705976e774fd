#include "tether/key_file.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tether/base64.h"

namespace tether {
namespace {

constexpr char kOpensshBegin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr char kOpensshEnd[] = "-----END OPENSSH PRIVATE KEY-----";
// The magic includes its terminating NUL byte.
constexpr std::string_view kOpensshMagic("openssh-key-v1\0", 15);
constexpr size_t kMaxKeyFileSize = size_t{64} * 1024;

// Reads SSH wire-format strings (uint32 length + bytes) from a buffer.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool ReadString(std::string* out) {
    if (data_.size() < 4) return false;
    uint32_t length = (uint8_t(data_[0]) << 24) | (uint8_t(data_[1]) << 16) |
                      (uint8_t(data_[2]) << 8) | uint8_t(data_[3]);
    if (data_.size() - 4 < length) return false;
    out->assign(data_.substr(4, length));
    data_.remove_prefix(4 + length);
    return true;
  }
  bool Skip(size_t n) {
    if (data_.size() < n) return false;
    data_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view data_;
};

void InspectOpensshKey(const std::string& text, KeyFileInfo* info) {
  size_t begin = text.find(kOpensshBegin) + sizeof(kOpensshBegin) - 1;
  size_t end = text.find(kOpensshEnd);
  if (end == std::string::npos || end < begin) return;
  std::optional<std::string> blob = Base64Decode(text.substr(begin, end - begin));
  if (!blob || std::string_view(*blob).substr(0, kOpensshMagic.size()) != kOpensshMagic) return;
  WireReader reader(std::string_view(*blob).substr(kOpensshMagic.size()));
  std::string kdf, kdf_options, public_blob;
  if (!reader.ReadString(&info->cipher) || !reader.ReadString(&kdf) ||
      !reader.ReadString(&kdf_options) || !reader.Skip(4) || !reader.ReadString(&public_blob)) {
    return;
  }
  info->encrypted = info->cipher != "none";
  WireReader(public_blob).ReadString(&info->key_type);
}

void InspectPemKey(const std::string& text, KeyFileInfo* info) {
  info->encrypted = text.find("ENCRYPTED") != std::string::npos;
  info->cipher = info->encrypted ? "pem" : "none";
  if (text.find("BEGIN RSA PRIVATE KEY") != std::string::npos) info->key_type = "ssh-rsa";
  if (text.find("BEGIN EC PRIVATE KEY") != std::string::npos) info->key_type = "ecdsa";
  if (text.find("BEGIN DSA PRIVATE KEY") != std::string::npos) info->key_type = "ssh-dss";
}

}  // namespace

KeyFileInfo InspectKeyFile(const std::string& path) {
  KeyFileInfo info;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return info;
  std::ifstream in(path, std::ios::binary);
  if (!in) return info;
  std::string text(kMaxKeyFileSize, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  info.readable = true;
  if (text.find(kOpensshBegin) != std::string::npos) {
    InspectOpensshKey(text, &info);
  } else {
    InspectPemKey(text, &info);
  }
  return info;
}

}  // namespace tether
