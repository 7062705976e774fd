#include "tether/forward_spec.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/param_text.h"

namespace tether {
namespace {

Endpoint Tcp(std::string host, uint16_t port) { return Endpoint{std::move(host), port, ""}; }
Endpoint Unix(std::string path) { return Endpoint{"", 0, std::move(path)}; }

// 107 bytes: the longest path sockaddr_un holds with its terminating NUL.
const std::string kLongestPath = "/" + std::string(106, 'p');
const std::string kTooLongPath = "/" + std::string(107, 'p');
const std::string kLongestHost(255, 'h');
const std::string kTooLongHost(256, 'h');

struct ValidCase {
  std::string spec;
  ForwardSpec expected;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << ParamText(c.spec); }

class ForwardSpecValidTest : public testing::TestWithParam<ValidCase> {};

TEST_P(ForwardSpecValidTest, ParsesEveryField) {
  std::string error = "untouched";
  const std::optional<ForwardSpec> spec = ParseForwardSpec(GetParam().spec, &error);
  ASSERT_TRUE(spec.has_value()) << error;
  EXPECT_EQ(*spec, GetParam().expected);
  EXPECT_EQ(error, "untouched");
}

INSTANTIATE_TEST_SUITE_P(
    ForwardSpec, ForwardSpecValidTest,
    testing::Values(
        ValidCase{"5432:db:5432", {Tcp("", 5432), Tcp("db", 5432)}},
        ValidCase{"127.0.0.1:5432:db:5432", {Tcp("127.0.0.1", 5432), Tcp("db", 5432)}},
        ValidCase{"localhost:8080:intranet.example.com:80",
                  {Tcp("localhost", 8080), Tcp("intranet.example.com", 80)}},
        ValidCase{":5432:db:80", {Tcp("*", 5432), Tcp("db", 80)}},
        ValidCase{"*:5432:db:80", {Tcp("*", 5432), Tcp("db", 80)}},
        ValidCase{"[::1]:5432:db:80", {Tcp("::1", 5432), Tcp("db", 80)}},
        ValidCase{"5432:[2001:db8::1]:80", {Tcp("", 5432), Tcp("2001:db8::1", 80)}},
        ValidCase{"[::]:0:[fe80::1%eth0]:22", {Tcp("::", 0), Tcp("fe80::1%eth0", 22)}},
        ValidCase{"[localhost]:80:db:80", {Tcp("localhost", 80), Tcp("db", 80)}},
        ValidCase{"[]:80:db:80", {Tcp("*", 80), Tcp("db", 80)}},
        ValidCase{"0:localhost:5432", {Tcp("", 0), Tcp("localhost", 5432)}},
        ValidCase{"65535:db:65535", {Tcp("", 65535), Tcp("db", 65535)}},
        ValidCase{"00080:db:0080", {Tcp("", 80), Tcp("db", 80)}},
        ValidCase{"5432:/run/postgresql/.s.PGSQL.5432",
                  {Tcp("", 5432), Unix("/run/postgresql/.s.PGSQL.5432")}},
        ValidCase{"127.0.0.1:5432:/run/pg.sock", {Tcp("127.0.0.1", 5432), Unix("/run/pg.sock")}},
        ValidCase{"[::1]:0:/run/pg.sock", {Tcp("::1", 0), Unix("/run/pg.sock")}},
        ValidCase{"/tmp/local.sock:db:5432", {Unix("/tmp/local.sock"), Tcp("db", 5432)}},
        ValidCase{"/tmp/local.sock:[::1]:5432", {Unix("/tmp/local.sock"), Tcp("::1", 5432)}},
        ValidCase{"/tmp/a.sock:/run/b.sock", {Unix("/tmp/a.sock"), Unix("/run/b.sock")}},
        ValidCase{"/tmp/with space.sock:db:1", {Unix("/tmp/with space.sock"), Tcp("db", 1)}},
        ValidCase{kLongestPath + ":" + kLongestPath, {Unix(kLongestPath), Unix(kLongestPath)}},
        ValidCase{"1:" + kLongestHost + ":2", {Tcp("", 1), Tcp(kLongestHost, 2)}}));

struct InvalidCase {
  std::string spec;
  std::string error;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << ParamText(c.spec); }

class ForwardSpecInvalidTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(ForwardSpecInvalidTest, NamesSpecAndProblem) {
  std::string error;
  EXPECT_EQ(ParseForwardSpec(GetParam().spec, &error), std::nullopt);
  EXPECT_EQ(error, GetParam().error);
}

const std::string kShape = "expected [bind_address:]port:host:hostport";

INSTANTIATE_TEST_SUITE_P(
    ForwardSpec, ForwardSpecInvalidTest,
    testing::Values(
        InvalidCase{"", "bad -L '': " + kShape}, InvalidCase{"5432", "bad -L '5432': " + kShape},
        InvalidCase{"5432:db", "bad -L '5432:db': " + kShape},
        InvalidCase{"/tmp/a.sock", "bad -L '/tmp/a.sock': " + kShape},
        InvalidCase{"5432:run/x.sock", "bad -L '5432:run/x.sock': " + kShape},
        InvalidCase{"/a.sock:1:/b.sock", "bad -L '/a.sock:1:/b.sock': " + kShape},
        InvalidCase{"1:/a.sock:2", "bad -L '1:/a.sock:2': " + kShape},
        InvalidCase{"1:2:3:4:5",
                    "bad -L '1:2:3:4:5': " + kShape + "; put an IPv6 address in [brackets]"},
        InvalidCase{"::1:5432:db:80",
                    "bad -L '::1:5432:db:80': " + kShape + "; put an IPv6 address in [brackets]"},
        InvalidCase{"70000:db:5432",
                    "bad -L '70000:db:5432': port 70000 is out of range (0-65535)"},
        InvalidCase{"65536:db:5432",
                    "bad -L '65536:db:5432': port 65536 is out of range (0-65535)"},
        InvalidCase{"99999999999999999999:db:1",
                    "bad -L '99999999999999999999:db:1': port 99999999999999999999 is out of "
                    "range (0-65535)"},
        InvalidCase{"-1:db:5432", "bad -L '-1:db:5432': port '-1' is not a number"},
        InvalidCase{"+80:db:80", "bad -L '+80:db:80': port '+80' is not a number"},
        InvalidCase{"abc:db:80", "bad -L 'abc:db:80': port 'abc' is not a number"},
        InvalidCase{"0x50:db:80", "bad -L '0x50:db:80': port '0x50' is not a number"},
        InvalidCase{":db:5432", "bad -L ':db:5432': missing port"},
        InvalidCase{"127.0.0.1::db:80", "bad -L '127.0.0.1::db:80': missing port"},
        InvalidCase{"5432 :db:80", "bad -L '5432 :db:80': port '5432 ' is not a number"},
        InvalidCase{"5432:db:0", "bad -L '5432:db:0': target port 0 is out of range (1-65535)"},
        InvalidCase{"5432:db:65536",
                    "bad -L '5432:db:65536': target port 65536 is out of range (1-65535)"},
        InvalidCase{"5432:db:", "bad -L '5432:db:': missing target port"},
        InvalidCase{"5432:db:8o", "bad -L '5432:db:8o': target port '8o' is not a number"},
        InvalidCase{"5432:db:80 ", "bad -L '5432:db:80 ': target port '80 ' is not a number"},
        InvalidCase{"5432::80", "bad -L '5432::80': missing target host"},
        InvalidCase{"5432:[]:80", "bad -L '5432:[]:80': missing target host"},
        InvalidCase{"5432:d b:80", "bad -L '5432:d b:80': target host 'd b' contains a space"},
        InvalidCase{"5432:db/x:80", "bad -L '5432:db/x:80': target host 'db/x' contains '/'"},
        InvalidCase{"5432:a]b:80", "bad -L '5432:a]b:80': target host 'a]b' contains ']'"},
        InvalidCase{"a b:5432:db:80",
                    "bad -L 'a b:5432:db:80': bind address 'a b' contains a space"},
        InvalidCase{"[::1:5432:db:80", "bad -L '[::1:5432:db:80': unclosed '['"},
        InvalidCase{"5432:[::1:80", "bad -L '5432:[::1:80': unclosed '['"},
        InvalidCase{"[::1]5432:db:80", "bad -L '[::1]5432:db:80': expected ':' after ']'"},
        InvalidCase{std::string("5432:d\0b:80", 11),
                    "bad -L '5432:d\\x00b:80': contains a control character"},
        InvalidCase{"5432:db:80\n", "bad -L '5432:db:80\\x0a': contains a control character"},
        InvalidCase{"5432:db\t:80", "bad -L '5432:db\\x09:80': contains a control character"},
        InvalidCase{"1:" + kTooLongHost + ":2",
                    "bad -L '1:" + kTooLongHost + ":2': target host is longer than 255 characters"},
        InvalidCase{"5432:" + kTooLongPath,
                    "bad -L '5432:" + kTooLongPath + "': socket path '" + kTooLongPath +
                        "' is 108 bytes, more than the 107 a socket allows"},
        InvalidCase{kTooLongPath + ":db:1",
                    "bad -L '" + kTooLongPath + ":db:1': socket path '" + kTooLongPath +
                        "' is 108 bytes, more than the 107 a socket allows"}));

TEST(ForwardSpecReasonTest, LeavesOutTheSpec) {
  std::string reason;
  EXPECT_EQ(ParseForwardSpecReason("8080:web:0", &reason), std::nullopt);
  EXPECT_EQ(reason, "target port 0 is out of range (1-65535)");
  const std::optional<ForwardSpec> spec = ParseForwardSpecReason("8080:web:80", &reason);
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(*spec, (ForwardSpec{Tcp("", 8080), Tcp("web", 80)}));
}

struct FormatCase {
  Endpoint endpoint;
  std::string text;
};

void PrintTo(const FormatCase& c, std::ostream* os) {
  if (c.endpoint.unix_path.empty()) {
    *os << "host " << ParamText(c.endpoint.host) << " port " << c.endpoint.port;
  } else {
    *os << "path " << ParamText(c.endpoint.unix_path);
  }
}

class FormatEndpointTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatEndpointTest, Formats) {
  EXPECT_EQ(FormatEndpoint(GetParam().endpoint), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(ForwardSpec, FormatEndpointTest,
                         testing::Values(FormatCase{Tcp("127.0.0.1", 5432), "127.0.0.1:5432"},
                                         FormatCase{Tcp("db", 5432), "db:5432"},
                                         FormatCase{Tcp("::1", 8080), "[::1]:8080"},
                                         FormatCase{Tcp("*", 80), "*:80"},
                                         FormatCase{Tcp("", 5432), "localhost:5432"},
                                         FormatCase{Tcp("", 0), "localhost:0"},
                                         FormatCase{Unix("/run/x.sock"), "/run/x.sock"}));

TEST(ForwardSpec, DynamicSpecsAreBindAddressAndPortOnly) {
  struct Case {
    std::string spec;
    Endpoint listen;
  };
  for (const Case& c :
       {Case{"1080", Tcp("", 1080)}, Case{"0", Tcp("", 0)},
        Case{"127.0.0.1:1080", Tcp("127.0.0.1", 1080)}, Case{"[::1]:1080", Tcp("::1", 1080)},
        Case{":1080", Tcp("*", 1080)}, Case{"*:1080", Tcp("*", 1080)}}) {
    std::string error;
    const std::optional<ForwardSpec> spec = ParseDynamicForwardSpec(c.spec, &error);
    ASSERT_TRUE(spec.has_value()) << c.spec << ": " << error;
    EXPECT_TRUE(spec->dynamic) << c.spec;
    EXPECT_EQ(spec->listen, c.listen) << c.spec;
    EXPECT_EQ(spec->target, Endpoint{}) << c.spec;
    EXPECT_EQ(FormatTarget(*spec), "socks");
  }
  struct Bad {
    std::string spec;
    std::string error;
  };
  for (const Bad& c :
       {Bad{"", "bad -D '': missing port"}, Bad{"x", "bad -D 'x': port 'x' is not a number"},
        Bad{"65536", "bad -D '65536': port 65536 is out of range (0-65535)"},
        Bad{"1080:db:80",
            "bad -D '1080:db:80': expected [bind_address:]port; put an IPv6 address in "
            "[brackets]"},
        Bad{"/tmp/s.sock", "bad -D '/tmp/s.sock': expected [bind_address:]port"},
        Bad{"a\nb:1", "bad -D 'a\\x0ab:1': contains a control character"}}) {
    std::string error;
    EXPECT_FALSE(ParseDynamicForwardSpec(c.spec, &error).has_value()) << c.spec;
    EXPECT_EQ(error, c.error);
  }
  EXPECT_EQ(FormatTarget(ForwardSpec{Tcp("", 1), Tcp("db", 5432)}), "db:5432");
}

}  // namespace
}  // namespace tether
