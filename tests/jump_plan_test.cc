// How -J and ssh_config ProxyJump become a chain of hops, each planned from ssh_config for
// its own name, as `ssh -J` does it (see jump_plan.h).
#include "tether/jump_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace tether {
namespace {

using std::chrono::seconds;
using testing::TempDir;
using testing::WriteFile;
using Hops = std::vector<std::string>;

class JumpPlanTest : public ::testing::Test {
 protected:
  void WriteConfig(const std::string& text) { ASSERT_TRUE(WriteFile(dir_.Join("config"), text)); }

  // Plans `options` (-F the test's config) with its jump chain.
  bool Plan(Options options, TunnelPlan* plan, Failure* failure) {
    options.config_file = dir_.Join("config");
    return MakeTunnelPlan(options, plan, failure) && PlanJumpChain(plan, failure);
  }

  static Options To(const std::string& host, std::optional<std::string> jumps = std::nullopt) {
    Options options;
    options.host = host;
    options.jump_hosts = std::move(jumps);
    options.forwards = {ForwardSpec{{"", 1, ""}, {"localhost", 1, ""}}};
    return options;
  }

  static Hops Names(const TunnelPlan& plan) {
    Hops names;
    for (const JumpHop& hop : plan.jumps) names.push_back(hop.name);
    return names;
  }

  // The hops planned for `options` under `config`, in the order they are reached; planning
  // must succeed.
  Hops HopsFor(const std::string& config, const Options& options) {
    WriteConfig(config);
    TunnelPlan plan;
    Failure failure;
    if (!Plan(options, &plan, &failure)) ADD_FAILURE() << "not planned: " << failure.message;
    return Names(plan);
  }

  // Why planning `options` under `config` fails; planning must fail.
  Failure FailureFor(const std::string& config, const Options& options) {
    WriteConfig(config);
    TunnelPlan plan;
    Failure failure;
    EXPECT_FALSE(Plan(options, &plan, &failure)) << config;
    return failure;
  }

  TempDir dir_;
};

TEST_F(JumpPlanTest, NoJumpHostsUnlessAsked) {
  EXPECT_EQ(HopsFor("Host target\n  Port 2200\n", To("target")), Hops{});
}

TEST_F(JumpPlanTest, EachHopTakesItsOwnConfigBlock) {
  WriteConfig(
      "Host bastion\n  HostName 10.0.0.1\n  Port 2201\n  User ops\n"
      "  IdentityFile /keys/bastion\n  UserKnownHostsFile /kh/bastion\n"
      "  ServerAliveInterval 7\n  ServerAliveCountMax 5\n"
      "Host inner\n  HostName 10.0.0.2\n  User inner-user\n"
      "Host target\n  HostName 10.0.0.3\n");
  TunnelPlan plan;
  Failure failure;
  ASSERT_TRUE(Plan(To("target", "bastion,alice@inner:2222"), &plan, &failure)) << failure.message;
  ASSERT_EQ(Names(plan), (std::vector<std::string>{"bastion", "alice@inner:2222"}));
  const SessionConfig& first = plan.jumps[0].session;
  EXPECT_EQ(first.target.host, "10.0.0.1");
  EXPECT_EQ(first.target.port, 2201);
  EXPECT_EQ(first.auth.user, "ops");
  EXPECT_EQ(first.host_keys.host, "10.0.0.1");
  EXPECT_EQ(first.host_keys.port, 2201);
  EXPECT_EQ(first.host_keys.user_files, std::vector<std::string>{"/kh/bastion"});
  EXPECT_EQ(first.auth.identity_files, std::vector<std::string>{"/keys/bastion"});
  EXPECT_EQ(plan.jumps[0].keepalive_interval, seconds(7));
  EXPECT_EQ(plan.jumps[0].keepalive_count, 5);
  // User and port from the list win over the config, as with `ssh -l alice -p 2222 inner`.
  const SessionConfig& second = plan.jumps[1].session;
  EXPECT_EQ(second.target.host, "10.0.0.2");
  EXPECT_EQ(second.target.port, 2222);
  EXPECT_EQ(second.auth.user, "alice");
  EXPECT_EQ(plan.session.target.host, "10.0.0.3");
}

TEST_F(JumpPlanTest, ConfigProxyJumpAppliesWithoutJ) {
  WriteConfig("Host target\n  ProxyJump bastion:2022 # the way in\n");
  TunnelPlan plan;
  Failure failure;
  ASSERT_TRUE(Plan(To("target"), &plan, &failure)) << failure.message;
  ASSERT_EQ(Names(plan), std::vector<std::string>{"bastion:2022"});
  EXPECT_EQ(plan.jumps[0].session.target.port, 2022);
}

TEST_F(JumpPlanTest, CommandLineWinsAndNoneDisables) {
  const std::string config = "Host target\n  ProxyJump bastion\n";
  EXPECT_EQ(HopsFor(config, To("target", "other")), Hops{"other"});
  EXPECT_EQ(HopsFor(config, To("target", "none")), Hops{});
}

TEST_F(JumpPlanTest, ConfigNoneMeansDirect) {
  EXPECT_EQ(HopsFor("Host target\n  ProxyJump none\nHost *\n  ProxyJump bastion\n", To("target")),
            Hops{});
}

// `ssh -J bastion,inner target` runs `ssh -J bastion -W target inner` and `ssh -W inner
// bastion`: bastion's own ProxyJump applies, inner's is overridden.
TEST_F(JumpPlanTest, OnlyTheFirstHopFollowsItsOwnProxyJump) {
  const std::string config =
      "Host bastion\n  ProxyJump outer\n"
      "Host outer\n  ProxyJump outermost\n"
      "Host inner\n  ProxyJump ignored\n";
  EXPECT_EQ(HopsFor(config, To("target", "bastion,inner")),
            (Hops{"outermost", "outer", "bastion", "inner"}));
}

TEST_F(JumpPlanTest, ProxyJumpLoopIsAConfigError) {
  struct Case {
    std::string config;
    std::string host;
    std::string message;
  };
  const Case cases[] = {
      {"Host *\n  ProxyJump bastion\n", "target", "ProxyJump loop: bastion -> bastion"},
      {"Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", "a", "ProxyJump loop: a -> b -> a"},
      {"Host a\n  ProxyJump x@b\nHost b\n  ProxyJump x@a\n", "a",
       "ProxyJump loop: x@b -> x@a -> x@b"},
  };
  for (const Case& c : cases) {
    const Failure failure = FailureFor(c.config, To(c.host));
    EXPECT_EQ(failure.code, ExitCode::kConfig) << c.config;
    EXPECT_EQ(failure.message, c.message) << c.config;
  }
}

TEST_F(JumpPlanTest, TheSameHostTwiceIsNoLoop) {
  // -J b overrides a's own ProxyJump for a as the destination, so a appears twice, yet the
  // chain ends: c -> a -> b -> a.
  EXPECT_EQ(HopsFor("Host a\n  ProxyJump c\nHost b\n  ProxyJump a\n", To("a", "b")),
            (Hops{"c", "a", "b"}));
}

TEST_F(JumpPlanTest, TooManyHops) {
  std::string list = "h0";
  for (int i = 1; i <= static_cast<int>(kMaxJumpHosts); ++i) list += ",h" + std::to_string(i);
  EXPECT_EQ(FailureFor("", To("target", list)).code, ExitCode::kConfig);
}

TEST_F(JumpPlanTest, CommandLineSshOptionsStayWithTheDestination) {
  WriteConfig("");
  Options options = To("target", "bastion");
  options.user = "cli-user";
  options.port = 2222;
  options.identity_files = {"/cli/key"};
  options.host_key_policy = HostKeyPolicy::kOff;
  options.batch_mode = true;
  options.keepalive_interval = seconds(2);
  options.keepalive_interval_given = true;
  TunnelPlan plan;
  Failure failure;
  ASSERT_TRUE(Plan(options, &plan, &failure)) << failure.message;
  ASSERT_EQ(plan.jumps.size(), 1u);
  const JumpHop& hop = plan.jumps[0];
  EXPECT_EQ(hop.session.target.port, 22);
  EXPECT_NE(hop.session.auth.user, "cli-user");
  EXPECT_TRUE(std::find(hop.session.auth.identity_files.begin(),
                        hop.session.auth.identity_files.end(),
                        "/cli/key") == hop.session.auth.identity_files.end());
  EXPECT_EQ(hop.session.host_keys.policy, HostKeyPolicy::kStrict);
  // What tether applies to the whole run.
  EXPECT_TRUE(hop.session.auth.prompts.batch_mode);
  EXPECT_EQ(hop.keepalive_interval, seconds(2));
}

TEST_F(JumpPlanTest, BadProxyJumpInConfigNamesFileAndLine) {
  const Failure failure = FailureFor("Host other\n  ProxyJump bastion:99999\n", To("target"));
  EXPECT_EQ(failure.code, ExitCode::kConfig);
  EXPECT_EQ(failure.message, dir_.Join("config") +
                                 ":2: ProxyJump: bad jump host 'bastion:99999': bad port "
                                 "'99999' (expected 1-65535)");
}

TEST_F(JumpPlanTest, HopConfigErrorsNameTheHop) {
  // Refused only where it decides something: for the hop, not for the destination.
  const Failure failure =
      FailureFor("Match host bastion exec \"true\"\n  User x\n", To("target", "bastion"));
  EXPECT_EQ(failure.code, ExitCode::kConfig);
  EXPECT_EQ(failure.message.rfind("jump host bastion: ", 0), 0u) << failure.message;
}

}  // namespace
}  // namespace tether
