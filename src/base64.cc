#include "tether/base64.h"

#include <openssl/evp.h>

namespace tether {
namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

bool IsBlank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

// OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the work; what stays here is what they do
// not: output without padding, input whose padding is missing, and refusing any character
// but the alphabet, blanks and trailing '='.

std::string Base64Encode(std::string_view bytes, bool pad) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock ends it with NUL
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(length));
  if (!pad) {
    while (!out.empty() && out.back() == '=') out.pop_back();
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  std::string digits;  // the alphabet's characters, without blanks and padding
  bool padding_seen = false;
  for (char c : text) {
    if (IsBlank(c)) continue;
    if (c == '=') {
      padding_seen = true;
      continue;
    }
    if (padding_seen || !IsBase64Char(c)) return std::nullopt;
    digits += c;
  }
  // Each character holds 6 bits; bits short of a whole byte at the end are dropped.
  const size_t bytes = digits.size() * 6 / 8;
  digits.append((4 - digits.size() % 4) % 4, 'A');
  std::string out(digits.size() / 4 * 3, '\0');
  if (EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(digits.data()),
                      static_cast<int>(digits.size())) < 0) {
    return std::nullopt;
  }
  out.resize(bytes);
  return out;
}

}  // namespace tether
