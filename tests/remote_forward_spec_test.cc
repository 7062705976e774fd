// -R and RemoteForward: the spec grammar (ssh's, minus what libssh2 1.10 cannot set up), how
// the command line, -o and ssh_config add remote forwards, what the server is asked to bind,
// and what -G prints.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/param_text.h"
#include "support/parse_args.h"
#include "support/temp_dir.h"
#include "tether/exit_code.h"
#include "tether/forward_spec.h"
#include "tether/options.h"
#include "tether/tunnel_plan.h"

namespace tether {
namespace {

Endpoint Tcp(std::string host, uint16_t port) { return Endpoint{std::move(host), port, ""}; }
Endpoint Unix(std::string path) { return Endpoint{"", 0, std::move(path)}; }

struct RemoteValidCase {
  std::string spec;
  ForwardSpec expected;
};

void PrintTo(const RemoteValidCase& c, std::ostream* os) { *os << ParamText(c.spec); }

class RemoteForwardSpecValidTest : public ::testing::TestWithParam<RemoteValidCase> {};

TEST_P(RemoteForwardSpecValidTest, ParsesEveryField) {
  std::string error = "untouched";
  const std::optional<ForwardSpec> spec = ParseRemoteForwardSpec(GetParam().spec, &error);
  ASSERT_TRUE(spec.has_value()) << error;
  EXPECT_EQ(*spec, GetParam().expected);
  EXPECT_EQ(error, "untouched");
}

INSTANTIATE_TEST_SUITE_P(
    RemoteForwardSpec, RemoteForwardSpecValidTest,
    ::testing::Values(
        RemoteValidCase{"8080:localhost:3000", {Tcp("", 8080), Tcp("localhost", 3000)}},
        RemoteValidCase{"0:localhost:3000", {Tcp("", 0), Tcp("localhost", 3000)}},
        RemoteValidCase{"127.0.0.1:8080:web:80", {Tcp("127.0.0.1", 8080), Tcp("web", 80)}},
        RemoteValidCase{":8080:web:80", {Tcp("*", 8080), Tcp("web", 80)}},
        RemoteValidCase{"*:8080:web:80", {Tcp("*", 8080), Tcp("web", 80)}},
        RemoteValidCase{"[::1]:8080:[2001:db8::1]:80", {Tcp("::1", 8080), Tcp("2001:db8::1", 80)}},
        RemoteValidCase{"8080:/run/app.sock", {Tcp("", 8080), Unix("/run/app.sock")}},
        RemoteValidCase{"[::]:0:/run/app.sock", {Tcp("::", 0), Unix("/run/app.sock")}}));

struct RemoteErrorCase {
  std::string spec;
  std::string error;
};

void PrintTo(const RemoteErrorCase& c, std::ostream* os) { *os << ParamText(c.spec); }

class RemoteForwardSpecErrorTest : public ::testing::TestWithParam<RemoteErrorCase> {};

TEST_P(RemoteForwardSpecErrorTest, NamesWhatIsWrong) {
  std::string error;
  EXPECT_FALSE(ParseRemoteForwardSpec(GetParam().spec, &error).has_value());
  EXPECT_EQ(error, GetParam().error);
}

constexpr char kNoStreamlocal[] =
    "a remote Unix socket (streamlocal-forward@openssh.com) is not supported: libssh2 1.10 has "
    "no API for it";
constexpr char kNoRemoteSocks[] =
    "the remote SOCKS form -R [bind_address:]port is not supported; expected "
    "[bind_address:]port:host:hostport";

INSTANTIATE_TEST_SUITE_P(
    RemoteForwardSpec, RemoteForwardSpecErrorTest,
    ::testing::Values(
        RemoteErrorCase{"/tmp/remote.sock:localhost:3000",
                        std::string("bad -R '/tmp/remote.sock:localhost:3000': ") + kNoStreamlocal},
        RemoteErrorCase{
            "/tmp/remote.sock:/tmp/local.sock",
            std::string("bad -R '/tmp/remote.sock:/tmp/local.sock': ") + kNoStreamlocal},
        RemoteErrorCase{"8080", std::string("bad -R '8080': ") + kNoRemoteSocks},
        RemoteErrorCase{"127.0.0.1:8080",
                        std::string("bad -R '127.0.0.1:8080': ") + kNoRemoteSocks},
        RemoteErrorCase{"8080:web:0",
                        "bad -R '8080:web:0': target port 0 is out of range (1-65535)"},
        RemoteErrorCase{"70000:web:80",
                        "bad -R '70000:web:80': port 70000 is out of range (0-65535)"},
        RemoteErrorCase{"8080:web\x01:80",
                        "bad -R '8080:web\\x01:80': contains a control "
                        "character"},
        RemoteErrorCase{"::1:8080:web:80",
                        "bad -R '::1:8080:web:80': expected [bind_address:]port:host:hostport; "
                        "put an IPv6 address in [brackets]"}));

// What the server is asked to bind: ssh's rule, so that a missing bind address never exposes
// the port beyond the server's loopback whatever the client's -g says.
TEST(RemoteForwardBindAddressTest, IsLoopbackUnlessAskedForMore) {
  EXPECT_EQ(RemoteBindAddress(Tcp("", 8080)), "localhost");
  EXPECT_EQ(RemoteBindAddress(Tcp("*", 8080)), "");
  EXPECT_EQ(RemoteBindAddress(Tcp("::1", 8080)), "::1");
  EXPECT_EQ(RemoteBindAddress(Tcp("192.0.2.1", 8080)), "192.0.2.1");
}

// ---------------------------------------------------------------------------------------
// Command line

ForwardSpec Remote(uint16_t port, std::string host, uint16_t target_port) {
  return ForwardSpec{Tcp("", port), Tcp(std::move(host), target_port)};
}

TEST(RemoteForwardCommandLineTest, DashRIsRepeatableAndEnoughWithoutDashL) {
  const CommandLine parsed =
      ParseArgs({"-R", "8080:localhost:3000", "-R", "0:/run/app.sock", "dev"});
  ASSERT_EQ(parsed.exit_code, std::nullopt) << parsed.output;
  EXPECT_TRUE(parsed.options.forwards.empty());
  EXPECT_EQ(parsed.options.remote_forwards,
            (std::vector<ForwardSpec>{Remote(8080, "localhost", 3000),
                                      ForwardSpec{Tcp("", 0), Unix("/run/app.sock")}}));
}

TEST(RemoteForwardCommandLineTest, DashRComesBeforeDashORemoteForward) {
  const CommandLine parsed =
      ParseArgs({"-o", "RemoteForward 9000 web:80", "-L", "1:a:2", "-R", "8080:localhost:3000",
                 "-o", "remoteforward=9001 db:5432", "h"});
  ASSERT_EQ(parsed.exit_code, std::nullopt) << parsed.output;
  EXPECT_EQ(parsed.options.remote_forwards,
            (std::vector<ForwardSpec>{Remote(8080, "localhost", 3000), Remote(9000, "web", 80),
                                      Remote(9001, "db", 5432)}));
  EXPECT_EQ(parsed.options.forwards.size(), 1u);
}

TEST(RemoteForwardCommandLineTest, BadSpecIsAUsageError) {
  const CommandLine parsed = ParseArgs({"-R", "/tmp/r.sock:localhost:80", "h"});
  EXPECT_EQ(parsed.exit_code, static_cast<int>(ExitCode::kUsage));
  EXPECT_NE(parsed.output.find(std::string("bad -R '/tmp/r.sock:localhost:80': ") + kNoStreamlocal),
            std::string::npos)
      << parsed.output;
}

TEST(RemoteForwardCommandLineTest, BadDashORemoteForwardIsAUsageError) {
  const CommandLine parsed = ParseArgs({"-o", "RemoteForward 8080", "h"});
  EXPECT_EQ(parsed.exit_code, static_cast<int>(ExitCode::kUsage));
  EXPECT_NE(parsed.output.find("-o RemoteForward: bad value '8080': expected "
                               "[bind_address:]port host:hostport"),
            std::string::npos)
      << parsed.output;
}

// ---------------------------------------------------------------------------------------
// ssh_config and -G

class RemoteForwardPlanTest : public ::testing::Test {
 protected:
  bool Plan(const std::string& config, Options options, TunnelPlan* plan, Failure* failure) {
    EXPECT_TRUE(testing::WriteFile(dir_.Join("config"), config));
    options.config_file = dir_.Join("config");
    options.host = "dev";
    options.user = "alice";
    return MakeTunnelPlan(options, plan, failure);
  }

  testing::TempDir dir_;
};

TEST_F(RemoteForwardPlanTest, ConfigRemoteForwardsFollowTheCommandLineOnesAndGPrintsThem) {
  Options options;
  options.remote_forwards = {Remote(8080, "localhost", 3000)};
  options.print_config = true;
  TunnelPlan plan;
  Failure failure;
  ASSERT_TRUE(
      Plan("Host dev\n  RemoteForward [::1]:0 /run/app.sock\n"
           "  RemoteForward *:9000 web:80\n",
           options, &plan, &failure))
      << failure.message;
  EXPECT_EQ(plan.remote_forwards,
            (std::vector<ForwardSpec>{Remote(8080, "localhost", 3000),
                                      ForwardSpec{Tcp("::1", 0), Unix("/run/app.sock")},
                                      ForwardSpec{Tcp("*", 9000), Tcp("web", 80)}}));
  EXPECT_NE(plan.resolved_settings.find("remoteforward 8080 [localhost]:3000\n"
                                        "remoteforward [::1]:0 /run/app.sock\n"
                                        "remoteforward [*]:9000 [web]:80\n"),
            std::string::npos)
      << plan.resolved_settings;
}

TEST_F(RemoteForwardPlanTest, RemoteUnixSocketInConfigIsAConfigError) {
  Options options;
  options.print_config = true;
  TunnelPlan plan;
  Failure failure;
  EXPECT_FALSE(Plan("RemoteForward /tmp/r.sock localhost:80\n", options, &plan, &failure));
  EXPECT_EQ(failure.code, ExitCode::kConfig);
  EXPECT_NE(failure.message.find(kNoStreamlocal), std::string::npos) << failure.message;
}

// A tunnel of remote forwards alone is a tunnel: no -L is needed.
TEST_F(RemoteForwardPlanTest, RemoteForwardsAloneMakeATunnel) {
  Options options;
  options.remote_forwards = {Remote(8080, "localhost", 3000)};
  TunnelPlan plan;
  Failure failure;
  EXPECT_TRUE(Plan("", options, &plan, &failure)) << failure.message;
  EXPECT_TRUE(plan.forwards.empty());
  EXPECT_EQ(plan.remote_forwards.size(), 1u);
}

TEST_F(RemoteForwardPlanTest, NoForwardAtAllNamesEveryKind) {
  TunnelPlan plan;
  Failure failure;
  EXPECT_FALSE(Plan("", Options{}, &plan, &failure));
  EXPECT_EQ(failure.code, ExitCode::kUsage);
  EXPECT_NE(failure.message.find("-R [bind_address:]port:host:hostport"), std::string::npos)
      << failure.message;
}

}  // namespace
}  // namespace tether
