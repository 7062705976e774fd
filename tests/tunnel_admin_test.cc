#include "tether/tunnel_admin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tether {
namespace {

std::optional<AdminCommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "tether");
  return ParseAdminCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(AdminCommandLine, OnlyListOrStopInFirstPlaceIsACommand) {
  EXPECT_FALSE(Parse({}));
  EXPECT_FALSE(Parse({"-L", "1:a:2", "list"}));  // a host named "list"
  EXPECT_FALSE(Parse({"lists"}));
  EXPECT_FALSE(Parse({"--", "list"}));
  std::optional<AdminCommandLine> list = Parse({"list"});
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->exit_code);
  EXPECT_EQ(list->command.kind, AdminCommand::Kind::kList);
  EXPECT_FALSE(list->command.json);
  list = Parse({"list", "--json"});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->command.json);
  std::optional<AdminCommandLine> stop = Parse({"stop", ":5432"});
  ASSERT_TRUE(stop);
  EXPECT_FALSE(stop->exit_code);
  EXPECT_EQ(stop->command.kind, AdminCommand::Kind::kStop);
  EXPECT_EQ(stop->command.target, ":5432");
}

struct UsageCase {
  std::vector<const char*> args;
  int exit_code;
  std::string output;  ///< the whole text, or its start for help
};

class AdminUsageTest : public testing::TestWithParam<UsageCase> {};

TEST_P(AdminUsageTest, EndsWithoutRunning) {
  std::optional<AdminCommandLine> parsed = Parse(GetParam().args);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->exit_code, GetParam().exit_code);
  EXPECT_EQ(parsed->output.substr(0, GetParam().output.size()), GetParam().output);
}

INSTANTIATE_TEST_SUITE_P(
    TunnelAdmin, AdminUsageTest,
    testing::Values(
        UsageCase{{"list", "--help"}, 0, "Usage: tether list [--json]\n"},
        UsageCase{{"stop", "-h"}, 0, "Usage: tether stop PID | :PORT | all\n"},
        UsageCase{{"list", "-v"}, 64, "tether: list: unexpected argument '-v'"},
        UsageCase{{"list", "--json", "x"}, 64, "tether: list: unexpected argument 'x'"},
        UsageCase{{"stop"}, 64, "tether: usage: tether stop PID | :PORT | all"},
        UsageCase{{"stop", "1", "2"}, 64, "tether: usage: tether stop PID | :PORT | all"},
        UsageCase{{"stop", ":0"}, 64, "tether: stop: bad port ':0' (expected :1-65535)"},
        UsageCase{{"stop", ":65536"}, 64, "tether: stop: bad port ':65536' (expected :1-65535)"},
        UsageCase{{"stop", ":"}, 64, "tether: stop: bad port ':' (expected :1-65535)"},
        UsageCase{{"stop", "0"}, 64, "tether: stop: bad target '0' (expected PID, :PORT or all)"},
        UsageCase{{"stop", "-1"}, 64, "tether: stop: bad target '-1' (expected PID, :PORT or all)"},
        UsageCase{
            {"stop", "ALL"}, 64, "tether: stop: bad target 'ALL' (expected PID, :PORT or all)"},
        UsageCase{{"stop", "12\n"},
                  64,
                  "tether: stop: bad target '12\\x0a' (expected PID, :PORT or all)"}));

RegistryEntry Entry(pid_t pid, std::vector<uint16_t> ports) {
  RegistryEntry entry;
  entry.pid = pid;
  for (uint16_t port : ports) {
    entry.forwards.push_back({"127.0.0.1:" + std::to_string(port), "db:1", port});
  }
  return entry;
}

TEST(StopTarget, MatchesPidPortOrAll) {
  std::string error;
  const RegistryEntry entry = Entry(42, {5432, 8080});
  auto matches = [&](const char* text) {
    std::optional<StopTarget> target = ParseStopTarget(text, &error);
    return target && StopTargetMatches(*target, entry);
  };
  EXPECT_TRUE(matches("all"));
  EXPECT_TRUE(matches("42"));
  EXPECT_FALSE(matches("43"));
  EXPECT_FALSE(matches("4"));
  EXPECT_TRUE(matches(":5432"));
  EXPECT_TRUE(matches(":8080"));
  EXPECT_FALSE(matches(":42"));
  EXPECT_FALSE(StopTargetMatches(*ParseStopTarget(":1", &error), Entry(1, {})));
}

ListedTunnel Sample() {
  ListedTunnel tunnel;
  tunnel.entry.pid = 4242;
  tunnel.entry.started_unix = 1000;
  tunnel.entry.ttl_end_unix = 1000 + 8 * 3600;
  tunnel.entry.forwards = {{"127.0.0.1:5432", "db:5432", 5432}, {"/tmp/s", "/run/x", 0}};
  tunnel.entry.destination = "db";
  tunnel.entry.user = "alice";
  tunnel.entry.tied_to = 77;
  tunnel.tied_command = "bash";
  tunnel.status = TunnelStatus{"up", 2, 2048, 10, 3723, 25077};
  return tunnel;
}

TEST(ListFormat, TableAlignsColumnsAndCountsTheArrowAsOneColumn) {
  ListedTunnel silent = Sample();
  silent.entry.pid = 7;
  silent.entry.forwards = {{"[::1]:1", "h:2", 1}};
  silent.entry.user = "";
  silent.entry.ttl_end_unix.reset();
  silent.tied_command = "";
  silent.status.reset();
  EXPECT_EQ(FormatListTable({Sample(), silent}, 1000 + 90),
            "PID   FORWARDS                                   DESTINATION  UP      TTL LEFT  "
            "TIED TO    CONNS  IN       OUT   STATE\n"
            "4242  127.0.0.1:5432 \u2192 db:5432, /tmp/s \u2192 /run/x  alice@db     1h2m3s  "
            "6h57m57s  77 (bash)  2      2.0 KiB  10 B  up\n"
            "7     [::1]:1 \u2192 h:2                              db           1m30s   none      "
            "77         ?      ?        ?     ?\n");
}

TEST(ListFormat, EmptyTableIsTheHeader) {
  EXPECT_EQ(FormatListTable({}, 0),
            "PID  FORWARDS  DESTINATION  UP  TTL LEFT  TIED TO  CONNS  IN  OUT  STATE\n");
  EXPECT_EQ(FormatListJson({}, 0), "[]\n");
}

TEST(ListFormat, JsonHasEveryField) {
  ListedTunnel silent = Sample();
  silent.status.reset();
  silent.entry.destination = "d\"b";
  EXPECT_EQ(FormatListJson({Sample(), silent}, 1000 + 60),
            "[\n"
            "  {\"pid\": 4242, \"forwards\": [{\"listen\": \"127.0.0.1:5432\", \"target\": "
            "\"db:5432\", \"port\": 5432, \"kind\": \"local\"}, {\"listen\": \"/tmp/s\", "
            "\"target\": \"/run/x\", "
            "\"port\": 0, \"kind\": \"local\"}], \"destination\": \"db\", \"user\": \"alice\", "
            "\"state\": \"up\", "
            "\"started\": 1000, \"up_seconds\": 3723, \"ttl_left_seconds\": 25077, \"tied_to\": "
            "{\"pid\": 77, \"command\": \"bash\"}, \"connections\": 2, \"bytes_in\": 2048, "
            "\"bytes_out\": 10, \"sessions\": 1},\n"
            "  {\"pid\": 4242, \"forwards\": [{\"listen\": \"127.0.0.1:5432\", \"target\": "
            "\"db:5432\", \"port\": 5432, \"kind\": \"local\"}, {\"listen\": \"/tmp/s\", "
            "\"target\": \"/run/x\", "
            "\"port\": 0, \"kind\": \"local\"}], \"destination\": \"d\\\"b\", \"user\": \"alice\", "
            "\"state\": null, "
            "\"started\": 1000, \"up_seconds\": 60, \"ttl_left_seconds\": 28740, \"tied_to\": "
            "{\"pid\": 77, \"command\": \"bash\"}, \"connections\": null, \"bytes_in\": null, "
            "\"bytes_out\": null, \"sessions\": null}\n"
            "]\n");
}

TEST(ListFormat, JsonNamesADynamicForwardsKind) {
  ListedTunnel socks = Sample();
  socks.entry.forwards = {{"127.0.0.1:1080", "socks", 1080, ForwardKind::kDynamic}};
  const std::string json = FormatListJson({socks}, 1000 + 60);
  EXPECT_NE(json.find("{\"listen\": \"127.0.0.1:1080\", \"target\": \"socks\", \"port\": 1080, "
                      "\"kind\": \"dynamic\"}"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace tether
