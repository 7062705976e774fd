#include <gtest/gtest.h>
#include <libssh2.h>

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "support/param_text.h"
#include "support/parse_args.h"
#include "tether/options.h"

namespace tether {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Parses args that must be valid; failures show the error line.
Options ParseValid(const std::vector<std::string>& args) {
  CommandLine result = ParseArgs(args);
  EXPECT_EQ(result.exit_code, std::nullopt) << result.output;
  EXPECT_EQ(result.output, "");
  return result.options;
}

ForwardSpec Forward(uint16_t listen_port, std::string host, uint16_t port) {
  return ForwardSpec{{"", listen_port, ""}, {std::move(host), port, ""}};
}

TEST(CommandLineTest, MinimalTunnelKeepsDefaults) {
  const Options options = ParseValid({"-L", "5432:localhost:5432", "db"});
  EXPECT_EQ(options.forwards, std::vector<ForwardSpec>{Forward(5432, "localhost", 5432)});
  EXPECT_EQ(options.host, "db");
  EXPECT_EQ(options.user, "");
  EXPECT_EQ(options.port, std::nullopt);
  EXPECT_TRUE(options.identity_files.empty());
  EXPECT_EQ(options.host_key_policy, std::nullopt);
  EXPECT_EQ(options.ttl, hours(8));
  EXPECT_EQ(options.idle_timeout, std::nullopt);
  EXPECT_EQ(options.keepalive_interval, seconds(15));
  EXPECT_EQ(options.keepalive_count, 3);
  EXPECT_EQ(options.tie_to, std::nullopt);
  EXPECT_EQ(options.verbosity, 0);
  EXPECT_FALSE(options.quiet || options.fork_after_ready || options.gateway_ports ||
               options.batch_mode);
  EXPECT_EQ(options.log_file, "");
  EXPECT_EQ(options.log_format, LogFormat::kText);
  EXPECT_TRUE(options.command.empty());
}

TEST(CommandLineTest, SessionsBoundsThePool) {
  EXPECT_EQ(ParseArgs({"-L", "1:a:2", "h"}).options.max_sessions, 4);
  EXPECT_EQ(ParseArgs({"--sessions", "1", "-L", "1:a:2", "h"}).options.max_sessions, 1);
  EXPECT_EQ(ParseArgs({"--sessions", "16", "-L", "1:a:2", "h"}).options.max_sessions, 16);
}

TEST(CommandLineTest, LogFormat) {
  EXPECT_EQ(ParseValid({"--log-format", "json", "-L", "1:a:2", "h"}).log_format, LogFormat::kJson);
  EXPECT_EQ(ParseValid({"--log-format=text", "-L", "1:a:2", "h"}).log_format, LogFormat::kText);
  EXPECT_EQ(
      ParseValid({"--log-format=text", "--log-format=json", "-E", "/tmp/t.log", "-L", "1:a:2", "h"})
          .log_format,
      LogFormat::kJson);
}

TEST(CommandLineTest, ForwardsInEveryPlaceAndForm) {
  struct Case {
    std::vector<std::string> args;
    std::vector<ForwardSpec> forwards;
  };
  const ForwardSpec pg = Forward(5432, "db", 5432);
  const ForwardSpec web = Forward(8080, "web", 80);
  const ForwardSpec unix_fwd{{"", 0, "/tmp/d.sock"}, {"", 0, "/run/docker.sock"}};
  const ForwardSpec socks{{"", 1080, ""}, {}, true};
  const ForwardSpec socks_v6{{"::1", 0, ""}, {}, true};
  const Case cases[] = {
      {{"-L5432:db:5432", "h"}, {pg}},
      {{"h", "-L", "5432:db:5432"}, {pg}},
      {{"-L", "5432:db:5432", "-L", "8080:web:80", "h"}, {pg, web}},
      {{"-L", "5432:db:5432", "h", "-L8080:web:80"}, {pg, web}},
      {{"-NL", "5432:db:5432", "h"}, {pg}},
      {{"-fNL5432:db:5432", "h"}, {pg}},
      {{"-L", "/tmp/d.sock:/run/docker.sock", "h"}, {unix_fwd}},
      {{"-o", "LocalForward 8080 web:80", "h"}, {web}},
      {{"-o", "LocalForward=8080 web:80", "-L", "5432:db:5432", "h"}, {pg, web}},
      {{"-o", "LocalForward 8080 web:80", "-o", "localforward 5432 db:5432", "h"}, {web, pg}},
      {{"-D", "1080", "h"}, {socks}},
      {{"-D1080", "-D", "[::1]:0", "h"}, {socks, socks_v6}},
      {{"-D", "1080", "-L", "5432:db:5432", "h"}, {pg, socks}},
      {{"-o", "DynamicForward 1080", "-L", "5432:db:5432", "h"}, {pg, socks}},
      {{"-o", "DynamicForward=[::1]:0", "-D", "1080", "h"}, {socks, socks_v6}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseValid(c.args).forwards, c.forwards) << testing::PrintToString(c.args);
  }
}

TEST(CommandLineTest, CombinedAndIgnoredFlags) {
  const Options options = ParseValid({"-NTfgn", "-L", "1:a:2", "-q", "h"});
  EXPECT_TRUE(options.fork_after_ready);
  EXPECT_TRUE(options.gateway_ports);
  EXPECT_TRUE(options.quiet);
  EXPECT_EQ(options.verbosity, 0);
}

TEST(CommandLineTest, VerbosityCountsEveryV) {
  EXPECT_EQ(ParseValid({"-vvv", "-L", "1:a:2", "h"}).verbosity, 3);
  EXPECT_EQ(ParseValid({"-v", "-L", "1:a:2", "h", "-vv"}).verbosity, 3);
  EXPECT_EQ(ParseValid({"-vNv", "-L", "1:a:2", "h"}).verbosity, 2);
}

TEST(CommandLineTest, DestinationSplitsOnLastAt) {
  struct Case {
    std::string destination;
    std::string user;
    std::string host;
  };
  const Case cases[] = {
      {"db", "", "db"},
      {"alice@db", "alice", "db"},
      {"alice@corp.example@db.example.com", "alice@corp.example", "db.example.com"},
      {"[::1]", "", "::1"},
      {"bob@[fe80::1%eth0]", "bob", "fe80::1%eth0"},
      {"10.0.0.7", "", "10.0.0.7"},
  };
  for (const Case& c : cases) {
    const Options options = ParseValid({"-L", "1:a:2", c.destination});
    EXPECT_EQ(options.user, c.user) << c.destination;
    EXPECT_EQ(options.host, c.host) << c.destination;
  }
}

TEST(CommandLineTest, UserPrecedence) {
  EXPECT_EQ(ParseValid({"-l", "carol", "-L", "1:a:2", "h"}).user, "carol");
  EXPECT_EQ(ParseValid({"-l", "carol", "-L", "1:a:2", "alice@h"}).user, "carol");
  EXPECT_EQ(ParseValid({"-o", "User=dave", "-L", "1:a:2", "alice@h"}).user, "alice");
  EXPECT_EQ(ParseValid({"-o", "User=dave", "-L", "1:a:2", "h"}).user, "dave");
  EXPECT_EQ(ParseValid({"-o", "User=dave", "-l", "carol", "-L", "1:a:2", "h"}).user, "carol");
}

TEST(CommandLineTest, SshOptionFirstValueWins) {
  EXPECT_EQ(ParseValid({"-o", "Port=1", "-o", "Port=2", "-L", "1:a:2", "h"}).port, 1);
  EXPECT_EQ(ParseValid({"-o", "port 3", "-o", "PORT=4", "-L", "1:a:2", "h"}).port, 3);
  EXPECT_EQ(ParseValid({"-o", "  Port  =  5 ", "-L", "1:a:2", "h"}).port, 5);
  EXPECT_EQ(ParseValid({"-oPort=6", "-L", "1:a:2", "h"}).port, 6);
  const Options options = ParseValid(
      {"-o", "StrictHostKeyChecking=no", "-o", "StrictHostKeyChecking=yes", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.host_key_policy, HostKeyPolicy::kOff);
}

TEST(CommandLineTest, ExplicitFlagsWinOverSshOptions) {
  EXPECT_EQ(ParseValid({"-o", "Port=1", "-p", "2", "-L", "1:a:2", "h"}).port, 2);
  EXPECT_EQ(ParseValid({"-p", "2", "-o", "Port=1", "-L", "1:a:2", "h"}).port, 2);
  EXPECT_EQ(ParseValid({"-p", "2", "-p", "3", "-L", "1:a:2", "h"}).port, 3);
  Options options =
      ParseValid({"-o", "ServerAliveInterval=30", "--keepalive", "5s", "-o",
                  "ServerAliveCountMax=9", "--keepalive-count", "2", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.keepalive_interval, seconds(5));
  EXPECT_EQ(options.keepalive_count, 2);
  options = ParseValid({"-o", "GatewayPorts=no", "-g", "-L", "1:a:2", "h"});
  EXPECT_TRUE(options.gateway_ports);
}

TEST(CommandLineTest, ListOptionsAccumulate) {
  const Options options =
      ParseValid({"-o", "IdentityFile=~/.ssh/c", "-i", "a", "-L", "1:a:2", "h", "-i", "b", "-o",
                  "IdentityFile ~/.ssh/d", "-o", "UserKnownHostsFile=/k1 \"/k 2\"", "-o",
                  "UserKnownHostsFile /k3", "-o", "GlobalKnownHostsFile=/g1", "-o",
                  "GlobalKnownHostsFile=/g2"});
  EXPECT_EQ(options.identity_files, (std::vector<std::string>{"a", "b", "~/.ssh/c", "~/.ssh/d"}));
  EXPECT_EQ(options.user_known_hosts_files, (std::vector<std::string>{"/k1", "/k 2", "/k3"}));
  EXPECT_EQ(options.global_known_hosts_file, "/g1");
}

TEST(CommandLineTest, StrictHostKeyCheckingValues) {
  const std::pair<std::string, HostKeyPolicy> cases[] = {
      {"yes", HostKeyPolicy::kStrict}, {"True", HostKeyPolicy::kStrict},
      {"ask", HostKeyPolicy::kStrict}, {"accept-new", HostKeyPolicy::kAcceptNew},
      {"no", HostKeyPolicy::kOff},     {"off", HostKeyPolicy::kOff},
      {"FALSE", HostKeyPolicy::kOff},
  };
  for (const auto& [value, policy] : cases) {
    const Options options =
        ParseValid({"-o", "StrictHostKeyChecking=" + value, "-L", "1:a:2", "h"});
    EXPECT_EQ(options.host_key_policy, policy) << value;
  }
}

TEST(CommandLineTest, OtherSshOptions) {
  Options options =
      ParseValid({"-o", "ConnectTimeout=10", "-o", "BatchMode=yes", "-o", "GatewayPorts=yes", "-o",
                  "ServerAliveInterval=0", "-o", "ServerAliveCountMax=5", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.connect_timeout, seconds(10));
  EXPECT_TRUE(options.batch_mode);
  EXPECT_TRUE(options.gateway_ports);
  EXPECT_EQ(options.keepalive_interval, seconds(0));
  EXPECT_EQ(options.keepalive_count, 5);
  options = ParseValid(
      {"-o", "ConnectTimeout 1m", "-o", "ServerAliveInterval=1m30s", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.connect_timeout, minutes(1));
  EXPECT_EQ(options.keepalive_interval, seconds(90));
}

TEST(CommandLineTest, HarmlessSshOptionsAreIgnored) {
  const Options options = ParseValid({"-o", "ExitOnForwardFailure=yes", "-o", "ControlMaster=no",
                                      "-o", "Compression yes", "-o", "LogLevel=ERROR", "-o",
                                      "ControlPath=none", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.host, "h");
}

TEST(CommandLineTest, FlagsThatStandForConfigLinesComeBeforeDashO) {
  CommandLine parsed =
      ParseArgs({"-o", "Ciphers=aes256-ctr", "-o", "AddressFamily inet6", "-c", "aes128-ctr", "-m",
                 "hmac-sha2-512", "-4", "-b", "127.0.0.2", "-o", "HashKnownHosts=yes", "h"});
  ASSERT_FALSE(parsed.exit_code) << parsed.output;
  EXPECT_EQ(
      parsed.options.ssh_config_lines,
      (std::vector<std::string>{"Ciphers aes128-ctr", "MACs hmac-sha2-512", "BindAddress 127.0.0.2",
                                "AddressFamily inet", "Ciphers aes256-ctr", "AddressFamily inet6",
                                "HashKnownHosts yes"}));
  EXPECT_TRUE(parsed.options.forwards.empty()) << "forwards may come from LocalForward";
  EXPECT_FALSE(parsed.options.print_config);
  EXPECT_TRUE(ParseArgs({"-G", "h"}).options.print_config);
}

TEST(CommandLineTest, LifetimeOptions) {
  Options options = ParseValid({"--ttl", "30m", "--idle-timeout=10m", "--keepalive", "0",
                                "--tie-to", "1234", "-E", "/tmp/t.log", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.ttl, minutes(30));
  EXPECT_EQ(options.idle_timeout, minutes(10));
  EXPECT_EQ(options.keepalive_interval, seconds(0));
  EXPECT_EQ(options.tie_to, 1234);
  EXPECT_EQ(options.log_file, "/tmp/t.log");
  options = ParseValid({"--ttl=none", "--idle-timeout", "none", "-L", "1:a:2", "h"});
  EXPECT_EQ(options.ttl, std::nullopt);
  EXPECT_EQ(options.idle_timeout, std::nullopt);
}

TEST(CommandLineTest, EverythingAfterDoubleDashIsTheCommand) {
  Options options =
      ParseValid({"-L", "1:a:2", "h", "--", "./report.sh", "-p", "5", "--", "-L", "x"});
  EXPECT_EQ(options.command, (std::vector<std::string>{"./report.sh", "-p", "5", "--", "-L", "x"}));
  EXPECT_EQ(options.port, std::nullopt);
  EXPECT_EQ(options.forwards.size(), 1u);
  options = ParseValid({"-L", "1:a:2", "h", "--"});
  EXPECT_TRUE(options.command.empty());
}

TEST(CommandLineTest, HelpListsEveryOption) {
  for (const char* flag : {"--help", "-h"}) {
    const CommandLine result = ParseArgs({flag});
    EXPECT_EQ(result.exit_code, 0);
    for (const char* option : {"--ttl",        "--idle-timeout",
                               "--keepalive",  "--keepalive-count",
                               "--tie-to",     "--help",
                               "--sessions N", "--version",
                               "-L SPEC",      "-p PORT",
                               "-l USER",      "-i FILE",
                               "-o KEY=VALUE", "-g",
                               "-f",           "-E FILE",
                               "-v",           "-q",
                               "-N, -T, -n",   "--log-format FORMAT",
                               "Exit codes:",  "Examples:"}) {
      EXPECT_NE(result.output.find(option), std::string::npos) << option;
    }
    EXPECT_EQ(result.output.rfind("Usage: tether [OPTIONS] [-L|-D|-R SPEC]...", 0), 0u);
  }
}

TEST(CommandLineTest, HelpFitsEightyColumnsAndListsEveryExitCode) {
  const std::string help = ParseArgs({"--help"}).output;
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 80u) << line;
  }
  for (const char* code : {"\n  0 ", "\n  64 ", "\n  65 ", "\n  69 ", "\n  70 ", "\n  73 ",
                           "\n  74 ", "\n  77 ", "\n  other "}) {
    EXPECT_NE(help.find(code), std::string::npos) << code;
  }
}

TEST(CommandLineTest, HelpWinsOverOtherMistakes) {
  EXPECT_EQ(ParseArgs({"--frob", "--help"}).exit_code, 0);
  EXPECT_EQ(ParseArgs({"-L", "bad", "-h"}).exit_code, 0);
}

TEST(CommandLineTest, Version) {
  for (const char* flag : {"--version", "-V"}) {
    const CommandLine result = ParseArgs({flag});
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output, "tether " TETHER_VERSION " (libssh2 " LIBSSH2_VERSION ")");
  }
}

struct ErrorCase {
  std::vector<std::string> args;
  std::string output;
};

// Like a shell line: an argument in quotes when it is empty or holds more than plain
// option characters.
void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << "tether";
  for (const std::string& arg : c.args) {
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789-_.:=@,+/[]") == std::string::npos;
    *os << " " << (plain ? arg : ParamText(arg));
  }
}

class CommandLineErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(CommandLineErrorTest, ExitsWithUsageAndOneLine) {
  const CommandLine result = ParseArgs(GetParam().args);
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_EQ(result.output, GetParam().output);
  EXPECT_EQ(result.output.find('\n'), std::string::npos);
  EXPECT_EQ(result.output.rfind("tether: ", 0), 0u);
}

const std::string kDurationHint = "use e.g. 90s, 5m, 1h30m, 2d or plain seconds";

INSTANTIATE_TEST_SUITE_P(
    CommandLine, CommandLineErrorTest,
    testing::Values(
        ErrorCase{{},
                  "tether: usage: tether [OPTIONS] [-L SPEC]... [user@]host "
                  "[-- COMMAND [ARG]...] (see tether --help)"},
        ErrorCase{{"-L", "1:a:2"}, "tether: missing destination host"},
        ErrorCase{{"-L", "1:a:2", "--", "h"}, "tether: missing destination host"},
        ErrorCase{{"-4", "-6", "h"}, "tether: -4 and -6 exclude each other"},
        ErrorCase{{"-c", "", "h"}, "tether: -c: bad value '' (expected a cipher list)"},
        ErrorCase{{"-b", "", "h"}, "tether: -b: bad value '' (expected an address)"},
        ErrorCase{{"-m", "a\nb", "h"},
                  "tether: MACs: bad value 'a\\x0ab': contains a control character"},
        ErrorCase{{"-o", "HostKeyAlias=x", "h"}, "tether: unknown -o option 'HostKeyAlias'"},
        ErrorCase{{"--frob", "-L", "1:a:2", "h"},
                  "tether: unknown option '--frob' (see tether --help)"},
        ErrorCase{{"-L", "1:a:2", "h", "-x"}, "tether: unknown option '-x' (see tether --help)"},
        ErrorCase{{"-L", "1:a:2", "-Nx", "h"}, "tether: unknown option '-x' (see tether --help)"},
        ErrorCase{{"-L", "1:a:2", "-A", "h"}, "tether: unknown option '-A' (see tether --help)"},
        ErrorCase{{"-L", "1:a:2", "h", "-p"}, "tether: option -p needs a value"},
        ErrorCase{{"-L"}, "tether: option -L needs a value"},
        ErrorCase{{"h", "-fL"}, "tether: option -L needs a value"},
        ErrorCase{{"h", "--ttl"}, "tether: option --ttl needs a value"},
        ErrorCase{{"h", "--ttl=", "-L", "1:a:2"}, "tether: option --ttl needs a value"},
        ErrorCase{{"-L", "1:a:2", "h", "-o", "--"}, "tether: unknown -o option '--'"},
        ErrorCase{{"-L", "5432:db", "h"},
                  "tether: bad -L '5432:db': expected [bind_address:]port:host:hostport"},
        ErrorCase{{"-L", "70000:db:5432", "h"},
                  "tether: bad -L '70000:db:5432': port 70000 is out of range (0-65535)"},
        ErrorCase{{"-L", "1:a:2\n", "h"},
                  "tether: bad -L '1:a:2\\x0a': contains a control character"},
        ErrorCase{{"-L", "1:a:2", "h", "extra"},
                  "tether: unexpected argument 'extra' (put a command after '--')"},
        ErrorCase{{"-L", "1:a:2", "@h"}, "tether: bad destination '@h': empty user name"},
        ErrorCase{{"-L", "1:a:2", "alice@"}, "tether: bad destination 'alice@': missing host"},
        ErrorCase{{"-L", "1:a:2", ""}, "tether: bad destination '': missing host"},
        ErrorCase{{"-L", "1:a:2", "a b"}, "tether: bad destination 'a b': host contains ' '"},
        ErrorCase{{"-L", "1:a:2", "-"}, "tether: bad destination '-': host starts with '-'"},
        ErrorCase{{"-L", "1:a:2", "a@-oProxy"},
                  "tether: bad destination 'a@-oProxy': host starts with '-'"},
        ErrorCase{{"-L", "1:a:2", "[::1]:22"},
                  "tether: bad destination '[::1]:22': host contains '['"},
        ErrorCase{{"-L", "1:a:2", "-p", "0", "h"},
                  "tether: -p: bad value '0' (expected a port 1-65535)"},
        ErrorCase{{"-L", "1:a:2", "-p", "70000", "h"},
                  "tether: -p: bad value '70000' (expected a port 1-65535)"},
        ErrorCase{{"-L", "1:a:2", "-p", "ssh", "h"},
                  "tether: -p: bad value 'ssh' (expected a port 1-65535)"},
        ErrorCase{{"-L", "1:a:2", "-l", "", "h"},
                  "tether: -l: bad value '' (expected a user name)"},
        ErrorCase{{"-L", "1:a:2", "-E", "", "h"},
                  "tether: -E: bad value '' (expected a file name)"},
        ErrorCase{{"-L", "1:a:2", "-o", "Foo=bar", "h"}, "tether: unknown -o option 'Foo'"},
        ErrorCase{{"-L", "1:a:2", "-o", "ProxyCommand nc %h %p", "h"},
                  "tether: unknown -o option 'ProxyCommand'"},
        ErrorCase{{"-L", "1:a:2", "-o", "=yes", "h"}, "tether: bad -o '=yes': expected KEY=VALUE"},
        ErrorCase{{"-L", "1:a:2", "-o", "Port=", "h"}, "tether: -o Port: missing value"},
        ErrorCase{{"-L", "1:a:2", "-o", "Port=abc", "h"},
                  "tether: -o Port: bad value 'abc' (expected a port 1-65535)"},
        ErrorCase{{"-L", "1:a:2", "-o", "Port=1", "-o", "Port=x", "h"},
                  "tether: -o Port: bad value 'x' (expected a port 1-65535)"},
        ErrorCase{{"-L", "1:a:2", "-o", "User=a b", "h"},
                  "tether: -o User: bad value 'a b' (expected one value)"},
        ErrorCase{{"-L", "1:a:2", "-o", "UserKnownHostsFile=\"/a", "h"},
                  "tether: -o UserKnownHostsFile: unterminated quote in '\"/a'"},
        ErrorCase{{"-L", "1:a:2", "-o", "StrictHostKeyChecking=maybe", "h"},
                  "tether: -o StrictHostKeyChecking: bad value 'maybe' (expected yes, "
                  "accept-new or no)"},
        ErrorCase{{"-L", "1:a:2", "-o", "BatchMode=sometimes", "h"},
                  "tether: -o BatchMode: bad value 'sometimes' (expected yes or no)"},
        ErrorCase{{"-L", "1:a:2", "-o", "GatewayPorts=clientspecified", "h"},
                  "tether: -o GatewayPorts: bad value 'clientspecified' (expected yes or no)"},
        ErrorCase{{"-L", "1:a:2", "-o", "ConnectTimeout=0", "h"},
                  "tether: -o ConnectTimeout: bad value '0' (expected more than 0)"},
        ErrorCase{{"-L", "1:a:2", "-o", "ServerAliveInterval=1.5h", "h"},
                  "tether: -o ServerAliveInterval: bad duration '1.5h': " + kDurationHint},
        ErrorCase{{"-L", "1:a:2", "-o", "ServerAliveCountMax=0", "h"},
                  "tether: -o ServerAliveCountMax: bad value '0' (expected a number 1-1000)"},
        ErrorCase{{"-D", "1080:web:80", "h"},
                  "tether: bad -D '1080:web:80': expected [bind_address:]port; put an IPv6 "
                  "address in [brackets]"},
        ErrorCase{{"-D", "/tmp/socks.sock", "h"},
                  "tether: bad -D '/tmp/socks.sock': expected [bind_address:]port"},
        ErrorCase{{"-D", "70000", "h"},
                  "tether: bad -D '70000': port 70000 is out of range (0-65535)"},
        ErrorCase{{"-o", "DynamicForward 1080 web:80", "h"},
                  "tether: -o DynamicForward: bad value '1080 web:80': expected "
                  "[bind_address:]port"},
        ErrorCase{{"-o", "LocalForward 8080", "h"},
                  "tether: -o LocalForward: bad value '8080': expected [bind_address:]port "
                  "host:hostport"},
        ErrorCase{{"-o", "LocalForward 8080 web:0", "h"},
                  "tether: -o LocalForward: bad value '8080 web:0': target port 0 is out of "
                  "range (1-65535)"},
        ErrorCase{{"-L", "1:a:2", "--ttl", "1.5h", "h"},
                  "tether: --ttl: bad duration '1.5h': " + kDurationHint},
        ErrorCase{{"-L", "1:a:2", "--ttl", "0", "h"},
                  "tether: --ttl: bad value '0' (expected more than 0, or none)"},
        ErrorCase{{"-L", "1:a:2", "--idle-timeout", "1m1h", "h"},
                  "tether: --idle-timeout: bad duration '1m1h': units go largest first (d, h, "
                  "m, s), each at most once"},
        ErrorCase{{"-L", "1:a:2", "--keepalive", "-5", "h"},
                  "tether: --keepalive: bad duration '-5': " + kDurationHint},
        ErrorCase{{"-L", "1:a:2", "--keepalive-count", "0", "h"},
                  "tether: --keepalive-count: bad value '0' (expected a number 1-1000)"},
        ErrorCase{{"-L", "1:a:2", "--sessions", "0", "h"},
                  "tether: --sessions: bad value '0' (expected a number 1-16)"},
        ErrorCase{{"-L", "1:a:2", "--sessions", "17", "h"},
                  "tether: --sessions: bad value '17' (expected a number 1-16)"},
        ErrorCase{{"-L", "1:a:2", "--sessions", "two", "h"},
                  "tether: --sessions: bad value 'two' (expected a number 1-16)"},
        ErrorCase{{"-L", "1:a:2", "--log-format", "xml", "h"},
                  "tether: --log-format: bad value 'xml' (expected text or json)"},
        ErrorCase{{"-L", "1:a:2", "--log-format", "JSON", "h"},
                  "tether: --log-format: bad value 'JSON' (expected text or json)"},
        ErrorCase{{"-L", "1:a:2", "--log-format=", "h"},
                  "tether: option --log-format needs a value"},
        ErrorCase{{"-L", "1:a:2", "h", "--log-format"},
                  "tether: option --log-format needs a value"},
        ErrorCase{{"-L", "1:a:2", "--tie-to", "0", "h"},
                  "tether: --tie-to: bad value '0' (expected a process id above 0)"},
        ErrorCase{{"-L", "1:a:2", "--tie-to", "-5", "h"},
                  "tether: --tie-to: bad value '-5' (expected a process id above 0)"},
        ErrorCase{{"-L", "1:a:2", "--tie-to", "99999999999", "h"},
                  "tether: --tie-to: bad value '99999999999' (expected a process id above 0)"}));

LogFormat FormatOn(std::vector<const char*> args) {
  args.insert(args.begin(), "tether");
  return LogFormatOnCommandLine(static_cast<int>(args.size()), args.data());
}

// Read before the rest is checked, so that a usage error is reported in that format too.
TEST(CommandLineTest, LogFormatIsKnownEvenWhenTheRestIsWrong) {
  EXPECT_EQ(FormatOn({"--log-format", "json", "-L", "bad", "h"}), LogFormat::kJson);
  EXPECT_EQ(FormatOn({"--bogus", "--log-format=json"}), LogFormat::kJson);
  EXPECT_EQ(FormatOn({"--log-format=json", "--log-format", "text"}), LogFormat::kText);
  EXPECT_EQ(FormatOn({"--log-format", "yaml", "h"}), LogFormat::kText);
  EXPECT_EQ(FormatOn({"-L", "1:a:2", "h"}), LogFormat::kText);
  EXPECT_EQ(FormatOn({"h", "--log-format"}), LogFormat::kText);
  // A value of another option, or an argument of the command after "--", is not the flag.
  EXPECT_EQ(FormatOn({"-E", "--log-format", "json"}), LogFormat::kText);
  EXPECT_EQ(FormatOn({"-fE", "--log-format", "json"}), LogFormat::kText);
  EXPECT_EQ(FormatOn({"h", "--", "cmd", "--log-format", "json"}), LogFormat::kText);
}

}  // namespace
}  // namespace tether
