#include "tether/socks_request.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/param_text.h"

namespace tether {
namespace {

using namespace std::string_literals;

const std::string kMethodChoice = "\x05\x00"s;
const std::string kSocks4Granted = "\x00\x5a\x00\x00\x00\x00\x00\x00"s;
const std::string kSocks4Rejected = "\x00\x5b\x00\x00\x00\x00\x00\x00"s;

std::string Socks5Reply(char code) { return "\x05"s + code + "\x00\x01\x00\x00\x00\x00\x00\x00"s; }

std::string Greeting() { return "\x05\x01\x00"s; }

std::string Socks5Connect(char type, const std::string& address, uint16_t port) {
  return "\x05\x01\x00"s + type + address + static_cast<char>(port >> 8) +
         static_cast<char>(port & 0xff);
}

std::string Socks5Name(const std::string& name, uint16_t port) {
  return Socks5Connect('\x03', static_cast<char>(name.size()) + name, port);
}

std::string Socks4(char command, uint16_t port, const std::string& ip, const std::string& user) {
  return "\x04"s + command + static_cast<char>(port >> 8) + static_cast<char>(port & 0xff) + ip +
         user + '\0';
}

std::string Socks4a(uint16_t port, const std::string& user, const std::string& name) {
  return Socks4('\x01', port, "\x00\x00\x00\x07"s, user) + name + '\0';
}

const std::string kIpv6Loopback = std::string(15, '\0') + '\x01';

struct GoodCase {
  std::string name;
  std::string input;
  SocksVersion version;
  SocksTarget target;
  std::string replies;  ///< everything sent before the open's reply
  std::string rest;     ///< pipelined data after the request
};

void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }

// Feeds `input` in chunks of `chunk` bytes, collecting the replies.
SocksStep FeedInChunks(SocksRequestParser* parser, const std::string& input, size_t chunk,
                       std::string* replies) {
  SocksStep step;
  for (size_t at = 0; at < input.size(); at += chunk) {
    step = parser->Feed(std::string_view(input).substr(at, chunk));
    *replies += step.reply;
    if (step.status != SocksStatus::kNeedMore) {
      // What comes after the request in a later chunk is kept too (up to the cap).
      if (step.status == SocksStatus::kDone && at + chunk < input.size()) {
        parser->Feed(std::string_view(input).substr(at + chunk));
      }
      break;
    }
  }
  return step;
}

class SocksRequestGoodTest : public testing::TestWithParam<GoodCase> {};

TEST_P(SocksRequestGoodTest, ParsesWholeAndByteAtATime) {
  for (size_t chunk : {GetParam().input.size(), size_t{1}, size_t{3}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    SocksRequestParser parser;
    std::string replies;
    const SocksStep step = FeedInChunks(&parser, GetParam().input, chunk, &replies);
    ASSERT_EQ(step.status, SocksStatus::kDone) << step.reason;
    EXPECT_EQ(parser.status(), SocksStatus::kDone);
    EXPECT_EQ(parser.version(), GetParam().version);
    EXPECT_EQ(parser.target(), GetParam().target);
    EXPECT_EQ(replies, GetParam().replies);
    EXPECT_EQ(parser.rest(), GetParam().rest);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SocksRequest, SocksRequestGoodTest,
    testing::Values(
        GoodCase{"Socks5Ipv4", Greeting() + Socks5Connect('\x01', "\x7f\x00\x00\x01"s, 8080),
                 SocksVersion::kSocks5, SocksTarget{"127.0.0.1", 8080}, kMethodChoice, ""},
        GoodCase{"Socks5Ipv6", Greeting() + Socks5Connect('\x04', kIpv6Loopback, 443),
                 SocksVersion::kSocks5, SocksTarget{"::1", 443}, kMethodChoice, ""},
        GoodCase{"Socks5Name", Greeting() + Socks5Name("db.internal", 5432), SocksVersion::kSocks5,
                 SocksTarget{"db.internal", 5432}, kMethodChoice, ""},
        GoodCase{"Socks5NameOf255Bytes", Greeting() + Socks5Name(std::string(255, 'n'), 1),
                 SocksVersion::kSocks5, SocksTarget{std::string(255, 'n'), 1}, kMethodChoice, ""},
        GoodCase{"Socks5AmongSeveralMethods", "\x05\x03\x02\x01\x00"s + Socks5Name("web", 80),
                 SocksVersion::kSocks5, SocksTarget{"web", 80}, kMethodChoice, ""},
        GoodCase{"Socks5WithPipelinedData",
                 Greeting() + Socks5Name("web", 80) + "GET / HTTP/1.0\r\n\r\n",
                 SocksVersion::kSocks5, SocksTarget{"web", 80}, kMethodChoice,
                 "GET / HTTP/1.0\r\n\r\n"},
        GoodCase{"Socks4", Socks4('\x01', 22, "\x0a\x00\x00\x05"s, "alice"), SocksVersion::kSocks4,
                 SocksTarget{"10.0.0.5", 22}, "", ""},
        GoodCase{"Socks4WithoutUser", Socks4('\x01', 65535, "\xc0\xa8\x01\x02"s, ""),
                 SocksVersion::kSocks4, SocksTarget{"192.168.1.2", 65535}, "", ""},
        GoodCase{"Socks4a", Socks4a(80, "bob", "localhost"), SocksVersion::kSocks4,
                 SocksTarget{"localhost", 80}, "", ""},
        GoodCase{"Socks4aWithPipelinedData", Socks4a(80, "", "web") + "hello\0world"s,
                 SocksVersion::kSocks4, SocksTarget{"web", 80}, "", "hello\0world"s},
        GoodCase{"Socks4LongUserWithinTheCap",
                 Socks4('\x01', 80, "\x01\x02\x03\x04"s, std::string(1000, 'u')),
                 SocksVersion::kSocks4, SocksTarget{"1.2.3.4", 80}, "", ""}));

struct BadCase {
  std::string name;
  std::string input;
  std::string replies;  ///< everything sent, the error reply last
  std::string reason;   ///< a part of the reason
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class SocksRequestBadTest : public testing::TestWithParam<BadCase> {};

TEST_P(SocksRequestBadTest, AnswersTheErrorWholeAndByteAtATime) {
  for (size_t chunk : {GetParam().input.size(), size_t{1}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    SocksRequestParser parser;
    std::string replies;
    const SocksStep step = FeedInChunks(&parser, GetParam().input, chunk, &replies);
    ASSERT_EQ(step.status, SocksStatus::kError);
    EXPECT_EQ(parser.status(), SocksStatus::kError);
    EXPECT_EQ(replies, GetParam().replies);
    EXPECT_NE(step.reason.find(GetParam().reason), std::string::npos) << step.reason;
    // Feeding after the end changes nothing.
    const SocksStep again = parser.Feed("more");
    EXPECT_EQ(again.status, SocksStatus::kError);
    EXPECT_EQ(again.reply, "");
  }
}

INSTANTIATE_TEST_SUITE_P(
    SocksRequest, SocksRequestBadTest,
    testing::Values(
        BadCase{"NotSocks", "GET / HTTP/1.1\r\n", "", "not a SOCKS request (version 71)"},
        BadCase{"TlsHello", "\x16\x03\x01"s, "", "version 22"},
        BadCase{"Socks5NoAcceptableMethod", "\x05\x02\x01\x02"s, "\x05\xff"s,
                "no method without authentication"},
        BadCase{"Socks5NoMethodsAtAll", "\x05\x00"s, "\x05\xff"s,
                "no method without authentication"},
        BadCase{"Socks5Bind", Greeting() + "\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50"s,
                kMethodChoice + Socks5Reply('\x07'), "command 2 not supported"},
        BadCase{"Socks5UdpAssociate", Greeting() + "\x05\x03\x00\x01\x7f\x00\x00\x01\x00\x50"s,
                kMethodChoice + Socks5Reply('\x07'), "command 3 not supported"},
        BadCase{"Socks5UnknownAddressType", Greeting() + "\x05\x01\x00\x02\x7f\x00\x00\x01"s,
                kMethodChoice + Socks5Reply('\x08'), "address type 2 not supported"},
        BadCase{"Socks5RequestOfWrongVersion", Greeting() + "\x04\x01\x00\x01"s,
                kMethodChoice + Socks5Reply('\x01'), "request of version 4"},
        BadCase{"Socks5EmptyName", Greeting() + Socks5Name("", 80),
                kMethodChoice + Socks5Reply('\x04'), "host name is empty"},
        BadCase{"Socks5NameWithControlCharacter", Greeting() + Socks5Name("a\nb", 80),
                kMethodChoice + Socks5Reply('\x04'), "control character"},
        BadCase{"Socks4Bind", Socks4('\x02', 80, "\x7f\x00\x00\x01"s, ""), kSocks4Rejected,
                "SOCKS4 command 2 not supported"},
        BadCase{"Socks4UserIdPastTheCap",
                Socks4('\x01', 80, "\x7f\x00\x00\x01"s, std::string(2000, 'u')), kSocks4Rejected,
                "request longer than 1024 bytes"},
        BadCase{"Socks4aNamePastTheCap", Socks4a(80, "", std::string(1100, 'n')), kSocks4Rejected,
                "request longer than 1024 bytes"},
        BadCase{"Socks4aNameOf256Bytes", Socks4a(80, "", std::string(256, 'n')), kSocks4Rejected,
                "too long"},
        BadCase{"Socks4aEmptyName", Socks4a(80, "", ""), kSocks4Rejected, "empty"}));

TEST(SocksRequest, NeedsMoreUntilTheRequestIsWhole) {
  const std::string input = Greeting() + Socks5Name("web", 80);
  SocksRequestParser parser;
  EXPECT_EQ(parser.Feed("").status, SocksStatus::kNeedMore);
  for (size_t i = 0; i + 1 < input.size(); ++i) {
    const SocksStep step = parser.Feed(input.substr(i, 1));
    EXPECT_EQ(step.status, SocksStatus::kNeedMore) << "byte " << i;
    EXPECT_EQ(step.reply, i == Greeting().size() - 1 ? kMethodChoice : "") << "byte " << i;
  }
  EXPECT_EQ(parser.Feed(input.substr(input.size() - 1)).status, SocksStatus::kDone);
}

TEST(SocksRequest, TakesNoMoreThanTheCapAndSaysHowMuchRoomIsLeft) {
  SocksRequestParser parser;
  EXPECT_EQ(parser.Room(), SocksRequestParser::kMaxHandshakeBytes);
  parser.Feed("\x04\x01\x00\x50\x7f\x00\x00\x01"s);
  EXPECT_EQ(parser.Room(), SocksRequestParser::kMaxHandshakeBytes - 8);
  // Pipelined data after the request is kept only up to the cap; the rest stays unread.
  SocksRequestParser done;
  const std::string request = Socks4('\x01', 80, "\x7f\x00\x00\x01"s, "");
  ASSERT_EQ(done.Feed(request + std::string(5000, 'd')).status, SocksStatus::kDone);
  EXPECT_EQ(done.rest().size(), SocksRequestParser::kMaxHandshakeBytes - request.size());
  EXPECT_EQ(done.Room(), 0u);
}

TEST(SocksRequest, ReasonsNeverCarryTheClientsBytes) {
  SocksRequestParser parser;
  const SocksStep step = parser.Feed(Greeting() + Socks5Name("\x1b[31mevil", 80));
  ASSERT_EQ(step.status, SocksStatus::kError);
  EXPECT_EQ(step.reason.find("evil"), std::string::npos) << step.reason;
  EXPECT_EQ(step.reason.find('\x1b'), std::string::npos);
}

struct OpenErrorCase {
  std::string error;
  SocksOutcome outcome;
};

void PrintTo(const OpenErrorCase& c, std::ostream* os) { *os << ParamText(c.error); }

class SocksOpenErrorTest : public testing::TestWithParam<OpenErrorCase> {};

TEST_P(SocksOpenErrorTest, MapsLibssh2sMessage) {
  EXPECT_EQ(SocksOutcomeOfOpenError(GetParam().error), GetParam().outcome);
}

INSTANTIATE_TEST_SUITE_P(
    SocksRequest, SocksOpenErrorTest,
    testing::Values(
        OpenErrorCase{"Channel open failure (connect failed)", SocksOutcome::kConnectionRefused},
        OpenErrorCase{"Channel open failure (administratively prohibited)",
                      SocksOutcome::kNotAllowed},
        OpenErrorCase{"Channel open failure (resource shortage)", SocksOutcome::kGeneralFailure},
        OpenErrorCase{"Channel open failure (unknown channel type)", SocksOutcome::kGeneralFailure},
        OpenErrorCase{"Channel open failure", SocksOutcome::kGeneralFailure},
        OpenErrorCase{"", SocksOutcome::kGeneralFailure}));

TEST(SocksRequest, OpenRepliesCarryTheRightCodes) {
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks5, SocksOutcome::kSucceeded), Socks5Reply('\x00'));
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks5, SocksOutcome::kGeneralFailure),
            Socks5Reply('\x01'));
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks5, SocksOutcome::kNotAllowed), Socks5Reply('\x02'));
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks5, SocksOutcome::kHostUnreachable),
            Socks5Reply('\x04'));
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks5, SocksOutcome::kConnectionRefused),
            Socks5Reply('\x05'));
  EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks4, SocksOutcome::kSucceeded), kSocks4Granted);
  for (SocksOutcome failure : {SocksOutcome::kGeneralFailure, SocksOutcome::kNotAllowed,
                               SocksOutcome::kHostUnreachable, SocksOutcome::kConnectionRefused}) {
    EXPECT_EQ(SocksOpenReply(SocksVersion::kSocks4, failure), kSocks4Rejected);
  }
}

}  // namespace
}  // namespace tether
