#include "tether/socks_request.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace tether {
namespace {

constexpr uint8_t kSocks4 = 4;
constexpr uint8_t kSocks5 = 5;
constexpr uint8_t kCommandConnect = 1;
constexpr uint8_t kMethodNoAuthentication = 0x00;
constexpr uint8_t kMethodNoneAcceptable = 0xFF;
constexpr uint8_t kAddressIpv4 = 1;
constexpr uint8_t kAddressDomain = 3;
constexpr uint8_t kAddressIpv6 = 4;
// SOCKS5 reply codes (RFC 1928 6).
constexpr uint8_t kReplySucceeded = 0x00;
constexpr uint8_t kReplyGeneralFailure = 0x01;
constexpr uint8_t kReplyNotAllowed = 0x02;
constexpr uint8_t kReplyHostUnreachable = 0x04;
constexpr uint8_t kReplyConnectionRefused = 0x05;
constexpr uint8_t kReplyCommandNotSupported = 0x07;
constexpr uint8_t kReplyAddressNotSupported = 0x08;
// SOCKS4 reply codes.
constexpr uint8_t kSocks4Granted = 0x5A;
constexpr uint8_t kSocks4Rejected = 0x5B;
// VN, CD, DSTPORT, DSTIP: the fixed part of a SOCKS4 request.
constexpr size_t kSocks4Fixed = 8;
// VER, CMD, RSV, ATYP: what a SOCKS5 request starts with.
constexpr size_t kSocks5RequestHead = 4;
constexpr size_t kMaxNameLength = 255;

uint8_t Byte(std::string_view bytes, size_t index) { return static_cast<uint8_t>(bytes[index]); }

uint16_t Port(std::string_view bytes, size_t index) {
  return static_cast<uint16_t>((Byte(bytes, index) << 8) | Byte(bytes, index + 1));
}

// VER, REP, RSV, ATYP=IPv4, BND.ADDR 0.0.0.0, BND.PORT 0: the bound address means nothing
// to a client of a forward, and ssh sends the same.
std::string Socks5Reply(uint8_t code) {
  return std::string{
      static_cast<char>(kSocks5), static_cast<char>(code), 0, kAddressIpv4, 0, 0, 0, 0, 0, 0};
}

// VN=0, CD, DSTPORT, DSTIP (ignored by clients).
std::string Socks4Reply(uint8_t code) {
  return std::string{0, static_cast<char>(code), 0, 0, 0, 0, 0, 0};
}

std::string AddressText(int family, std::string_view bytes) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  inet_ntop(family, bytes.data(), text.data(), text.size());
  return text.data();
}

// A name goes to the server as it is; control bytes never name a host and would only
// reach the log and sshd's.
bool IsPlausibleName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::none_of(name.begin(), name.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7f;
         });
}

}  // namespace

SocksStep SocksRequestParser::Feed(std::string_view bytes) {
  if (status_ != SocksStatus::kNeedMore) {
    if (status_ == SocksStatus::kDone) buffer_.append(bytes.substr(0, Room()));
    return SocksStep{status_, "", status_ == SocksStatus::kError ? last_reason_ : ""};
  }
  buffer_.append(bytes.substr(0, Room()));
  // One chunk may hold the SOCKS5 greeting and the request: both answers go out together.
  std::string replies;
  for (;;) {
    const bool was_greeted = greeted_;
    SocksStep step = Parse();
    replies += step.reply;
    if (step.status == SocksStatus::kNeedMore && greeted_ != was_greeted) continue;
    if (step.status == SocksStatus::kNeedMore && Room() == 0) {
      const std::string reason =
          "request longer than " + std::to_string(kMaxHandshakeBytes) + " bytes";
      step = version_ == SocksVersion::kSocks4 ? Fail(Socks4Reply(kSocks4Rejected), reason)
                                               : Fail(Socks5Reply(kReplyGeneralFailure), reason);
      replies += step.reply;
    }
    step.reply = std::move(replies);
    return step;
  }
}

SocksStep SocksRequestParser::Parse() {
  const std::string_view data = std::string_view(buffer_).substr(consumed_);
  if (greeted_) return ParseSocks5Request();
  if (data.empty()) return NeedMore();
  switch (Byte(data, 0)) {
    case kSocks4:
      version_ = SocksVersion::kSocks4;
      return ParseSocks4();
    case kSocks5:
      version_ = SocksVersion::kSocks5;
      return ParseSocks5Greeting();
    default:
      return Fail("", "not a SOCKS request (version " + std::to_string(Byte(data, 0)) + ")");
  }
}

// VN, CD, DSTPORT, DSTIP, USERID, NUL; SOCKS4a: DSTIP 0.0.0.x (x > 0), then the name and NUL.
SocksStep SocksRequestParser::ParseSocks4() {
  const std::string_view data = std::string_view(buffer_).substr(consumed_);
  if (data.size() < 2) return NeedMore();
  if (Byte(data, 1) != kCommandConnect) {
    return Fail(Socks4Reply(kSocks4Rejected), "SOCKS4 command " + std::to_string(Byte(data, 1)) +
                                                  " not supported (only CONNECT)");
  }
  if (data.size() < kSocks4Fixed) return NeedMore();
  const size_t user_end = data.find('\0', kSocks4Fixed);
  if (user_end == std::string_view::npos) return NeedMore();
  const std::string_view address = data.substr(4, 4);
  const bool socks4a = Byte(address, 0) == 0 && Byte(address, 1) == 0 && Byte(address, 2) == 0 &&
                       Byte(address, 3) != 0;
  size_t end = user_end + 1;
  if (socks4a) {
    const size_t name_end = data.find('\0', end);
    if (name_end == std::string_view::npos) return NeedMore();
    const std::string_view name = data.substr(end, name_end - end);
    if (!IsPlausibleName(name)) {
      return Fail(Socks4Reply(kSocks4Rejected),
                  "SOCKS4a host name is empty, too long or has a control character");
    }
    target_.host = std::string(name);
    end = name_end + 1;
  } else {
    target_.host = AddressText(AF_INET, address);
  }
  target_.port = Port(data, 2);
  consumed_ += end;
  status_ = SocksStatus::kDone;
  return SocksStep{SocksStatus::kDone, "", ""};
}

// VER, NMETHODS, METHODS: tether offers "no authentication" only, as ssh does.
SocksStep SocksRequestParser::ParseSocks5Greeting() {
  const std::string_view data = std::string_view(buffer_).substr(consumed_);
  if (data.size() < 2) return NeedMore();
  const size_t count = Byte(data, 1);
  if (data.size() < 2 + count) return NeedMore();
  const std::string_view methods = data.substr(2, count);
  if (methods.find(static_cast<char>(kMethodNoAuthentication)) == std::string_view::npos) {
    return Fail(std::string{static_cast<char>(kSocks5), static_cast<char>(kMethodNoneAcceptable)},
                "SOCKS5 client offers no method without authentication");
  }
  consumed_ += 2 + count;
  greeted_ = true;
  return NeedMore(
      std::string{static_cast<char>(kSocks5), static_cast<char>(kMethodNoAuthentication)});
}

// VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT.
SocksStep SocksRequestParser::ParseSocks5Request() {
  const std::string_view data = std::string_view(buffer_).substr(consumed_);
  if (data.empty()) return NeedMore();
  if (Byte(data, 0) != kSocks5) {
    return Fail(Socks5Reply(kReplyGeneralFailure),
                "SOCKS5 request of version " + std::to_string(Byte(data, 0)));
  }
  if (data.size() < 2) return NeedMore();
  if (Byte(data, 1) != kCommandConnect) {
    return Fail(
        Socks5Reply(kReplyCommandNotSupported),
        "SOCKS5 command " + std::to_string(Byte(data, 1)) + " not supported (only CONNECT)");
  }
  if (data.size() < kSocks5RequestHead) return NeedMore();
  size_t address_size = 0;
  size_t address_start = kSocks5RequestHead;
  const uint8_t type = Byte(data, 3);
  if (type == kAddressIpv4) {
    address_size = 4;
  } else if (type == kAddressIpv6) {
    address_size = 16;
  } else if (type == kAddressDomain) {
    if (data.size() < kSocks5RequestHead + 1) return NeedMore();
    address_size = Byte(data, kSocks5RequestHead);
    address_start += 1;
  } else {
    return Fail(Socks5Reply(kReplyAddressNotSupported),
                "SOCKS5 address type " + std::to_string(type) + " not supported");
  }
  const size_t end = address_start + address_size + 2;
  if (data.size() < end) return NeedMore();
  const std::string_view address = data.substr(address_start, address_size);
  if (type == kAddressDomain) {
    if (!IsPlausibleName(address)) {
      return Fail(Socks5Reply(kReplyHostUnreachable),
                  "SOCKS5 host name is empty or has a control character");
    }
    target_.host = std::string(address);
  } else {
    target_.host = AddressText(type == kAddressIpv4 ? AF_INET : AF_INET6, address);
  }
  target_.port = Port(data, address_start + address_size);
  consumed_ += end;
  status_ = SocksStatus::kDone;
  return SocksStep{SocksStatus::kDone, "", ""};
}

SocksStep SocksRequestParser::Fail(std::string reply, std::string reason) {
  status_ = SocksStatus::kError;
  last_reason_ = reason;
  return SocksStep{SocksStatus::kError, std::move(reply), std::move(reason)};
}

SocksStep SocksRequestParser::NeedMore(std::string reply) {
  return SocksStep{SocksStatus::kNeedMore, std::move(reply), ""};
}

SocksOutcome SocksOutcomeOfOpenError(std::string_view error) {
  if (error.find("(connect failed)") != std::string_view::npos) {
    return SocksOutcome::kConnectionRefused;
  }
  if (error.find("(administratively prohibited)") != std::string_view::npos) {
    return SocksOutcome::kNotAllowed;
  }
  return SocksOutcome::kGeneralFailure;
}

std::string SocksOpenReply(SocksVersion version, SocksOutcome outcome) {
  if (version == SocksVersion::kSocks4) {
    return Socks4Reply(outcome == SocksOutcome::kSucceeded ? kSocks4Granted : kSocks4Rejected);
  }
  switch (outcome) {
    case SocksOutcome::kSucceeded:
      return Socks5Reply(kReplySucceeded);
    case SocksOutcome::kNotAllowed:
      return Socks5Reply(kReplyNotAllowed);
    case SocksOutcome::kHostUnreachable:
      return Socks5Reply(kReplyHostUnreachable);
    case SocksOutcome::kConnectionRefused:
      return Socks5Reply(kReplyConnectionRefused);
    case SocksOutcome::kGeneralFailure:
      break;
  }
  return Socks5Reply(kReplyGeneralFailure);
}

}  // namespace tether
