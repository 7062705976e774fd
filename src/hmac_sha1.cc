#include "tether/hmac_sha1.h"

#include <string>

namespace tether {
namespace {

uint32_t RotateLeft(uint32_t value, int bits) { return (value << bits) | (value >> (32 - bits)); }

void Compress(std::array<uint32_t, 5>* state, const uint8_t* block) {
  uint32_t w[80];
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t* word = block + 4 * i;
    w[i] = (uint32_t{word[0]} << 24) | (uint32_t{word[1]} << 16) | (uint32_t{word[2]} << 8) |
           uint32_t{word[3]};
  }
  for (int i = 16; i < 80; ++i) w[i] = RotateLeft(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = (*state)[0], b = (*state)[1], c = (*state)[2], d = (*state)[3], e = (*state)[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f = 0, k = 0;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    const uint32_t next = RotateLeft(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = RotateLeft(b, 30);
    b = a;
    a = next;
  }
  (*state)[0] += a;
  (*state)[1] += b;
  (*state)[2] += c;
  (*state)[3] += d;
  (*state)[4] += e;
}

}  // namespace

Sha1Digest Sha1(std::string_view data) {
  std::array<uint32_t, 5> state = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  std::string padded(data);
  const uint64_t bit_length = uint64_t{data.size()} * 8;
  padded += static_cast<char>(0x80);
  while (padded.size() % 64 != 56) padded += '\0';
  for (int shift = 56; shift >= 0; shift -= 8) {
    padded += static_cast<char>((bit_length >> shift) & 0xff);
  }
  for (size_t offset = 0; offset < padded.size(); offset += 64) {
    Compress(&state, reinterpret_cast<const uint8_t*>(padded.data() + offset));
  }
  Sha1Digest digest{};
  for (size_t i = 0; i < 20; ++i) {
    digest[i] = static_cast<uint8_t>(state[i / 4] >> (24 - 8 * (i % 4)));
  }
  return digest;
}

Sha1Digest HmacSha1(std::string_view key, std::string_view data) {
  constexpr size_t kBlock = 64;
  std::string block_key(key);
  if (block_key.size() > kBlock) {
    const Sha1Digest hashed = Sha1(key);
    block_key.assign(reinterpret_cast<const char*>(hashed.data()), hashed.size());
  }
  block_key.resize(kBlock, '\0');
  std::string inner(kBlock, '\0');
  std::string outer(kBlock, '\0');
  for (size_t i = 0; i < kBlock; ++i) {
    inner[i] = static_cast<char>(block_key[i] ^ 0x36);
    outer[i] = static_cast<char>(block_key[i] ^ 0x5c);
  }
  const Sha1Digest inner_digest = Sha1(inner + std::string(data));
  return Sha1(outer + std::string(reinterpret_cast<const char*>(inner_digest.data()),
                                  inner_digest.size()));
}

}  // namespace tether
