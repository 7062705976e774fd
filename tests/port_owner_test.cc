#include "tether/port_owner.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <ostream>
#include <string>

#include "support/net_util.h"
#include "support/temp_dir.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

// This process's command line as /proc shows it, arguments joined by spaces.
std::string OwnCommandLine() {
  std::string text = testing::ReadFile("/proc/self/cmdline");
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

// True when `command` is this process's command line, possibly shortened with "...".
bool IsOwnCommandLine(const std::string& command) {
  const std::string full = OwnCommandLine();
  if (command == full) return true;
  const std::string ellipsis = "...";
  if (command.size() <= ellipsis.size() ||
      command.compare(command.size() - ellipsis.size(), ellipsis.size(), ellipsis) != 0) {
    return false;
  }
  const std::string kept = command.substr(0, command.size() - ellipsis.size());
  return !kept.empty() && full.compare(0, kept.size(), kept) == 0;
}

struct FamilyCase {
  std::string name;
  std::string address;
  bool ipv6;
};

void PrintTo(const FamilyCase& c, std::ostream* os) { *os << c.name; }

class PortOwnerTcpTest : public ::testing::TestWithParam<FamilyCase> {};

TEST_P(PortOwnerTcpTest, FindsThisProcessListening) {
  std::string error;
  UniqueFd listener = testing::ListenTcp(GetParam().address, 0, &error);
  if (!listener && GetParam().ipv6) GTEST_SKIP() << "no IPv6 loopback: " << error;
  ASSERT_TRUE(listener) << error;
  const uint16_t port = testing::LocalPort(listener.get());

  std::optional<SocketHolder> holder = FindTcpListener(port, GetParam().ipv6);
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(holder->pid, getpid());
  EXPECT_EQ(holder->uid, getuid());
  EXPECT_TRUE(IsOwnCommandLine(holder->command)) << holder->command;

  const std::string description = DescribeHolder(holder);
  const std::string prefix = "in use by pid " + std::to_string(getpid()) + " (";
  EXPECT_EQ(description, prefix + holder->command + ")");
}

TEST_P(PortOwnerTcpTest, IgnoresTheOtherFamily) {
  std::string error;
  UniqueFd listener = testing::ListenTcp(GetParam().address, 0, &error);
  if (!listener && GetParam().ipv6) GTEST_SKIP() << "no IPv6 loopback: " << error;
  ASSERT_TRUE(listener) << error;
  const uint16_t port = testing::LocalPort(listener.get());
  EXPECT_EQ(FindTcpListener(port, !GetParam().ipv6), std::nullopt);
}

TEST_P(PortOwnerTcpTest, ClosedListenerIsNotFound) {
  std::string error;
  UniqueFd listener = testing::ListenTcp(GetParam().address, 0, &error);
  if (!listener && GetParam().ipv6) GTEST_SKIP() << "no IPv6 loopback: " << error;
  ASSERT_TRUE(listener) << error;
  const uint16_t port = testing::LocalPort(listener.get());
  listener.Reset();
  EXPECT_EQ(FindTcpListener(port, GetParam().ipv6), std::nullopt);
}

TEST_P(PortOwnerTcpTest, ConnectedSocketIsNotAListener) {
  std::string error;
  UniqueFd listener = testing::ListenTcp(GetParam().address, 0, &error);
  if (!listener && GetParam().ipv6) GTEST_SKIP() << "no IPv6 loopback: " << error;
  ASSERT_TRUE(listener) << error;
  UniqueFd client =
      testing::ConnectTcp(GetParam().address, testing::LocalPort(listener.get()), &error);
  ASSERT_TRUE(client) << error;
  // The client's own port carries only an established connection.
  EXPECT_EQ(FindTcpListener(testing::LocalPort(client.get()), GetParam().ipv6), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(PortOwner, PortOwnerTcpTest,
                         ::testing::Values(FamilyCase{"Ipv4", "127.0.0.1", false},
                                           FamilyCase{"Ipv6", "::1", true}),
                         [](const ::testing::TestParamInfo<FamilyCase>& param_info) {
                           return param_info.param.name;
                         });

struct DescribeCase {
  std::string name;
  std::optional<SocketHolder> holder;
  std::string expected;
};

void PrintTo(const DescribeCase& c, std::ostream* os) { *os << c.name; }

class PortOwnerDescribeTest : public ::testing::TestWithParam<DescribeCase> {};

TEST_P(PortOwnerDescribeTest, DescribesHolder) {
  EXPECT_EQ(DescribeHolder(GetParam().holder), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    PortOwner, PortOwnerDescribeTest,
    ::testing::Values(
        DescribeCase{"Nobody", std::nullopt, "in use"},
        DescribeCase{"VisibleProcess", SocketHolder{4242, "ssh -N -L 5432:localhost:5432 db", 1000},
                     "in use by pid 4242 (ssh -N -L 5432:localhost:5432 db)"},
        // Another user's process names itself: what it chose must not reach the terminal.
        DescribeCase{"ProcessNameWithCsi",
                     SocketHolder{7,
                                  "x\x9b"
                                  "2J\xc2\x9b"
                                  "0m",
                                  1000},
                     "in use by pid 7 (x\\x9b2J\\xc2\\x9b0m)"},
        DescribeCase{"ProcessNameWithBidiOverride",
                     SocketHolder{7,
                                  "ssh \xe2\x80\xae"
                                  "evil",
                                  1000},
                     "in use by pid 7 (ssh \\xe2\\x80\\xaeevil)"},
        DescribeCase{"ProcessNameWithEscape", SocketHolder{7, "a\x1b]0;t\x07", 1000},
                     "in use by pid 7 (a\\x1b]0;t\\x07)"},
        DescribeCase{"InvisibleProcessOfRoot", SocketHolder{0, "", 0},
                     "in use by a process of user root (uid 0), which tether cannot see"},
        DescribeCase{"InvisibleProcessOfUnknownUid", SocketHolder{0, "", 3999999},
                     "in use by a process of user ? (uid 3999999), which tether cannot see"}),
    [](const ::testing::TestParamInfo<DescribeCase>& param_info) { return param_info.param.name; });

TEST(PortOwnerTest, NothingListeningOnAFreePort) {
  std::string error;
  UniqueFd held = testing::ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(held) << error;
  const uint16_t port = testing::LocalPort(held.get());
  held.Reset();
  EXPECT_EQ(FindTcpListener(port, false), std::nullopt);
  EXPECT_EQ(FindTcpListener(port, true), std::nullopt);
}

TEST(PortOwnerTest, FindsThisProcessListeningOnUnixSocket) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.Join("live.sock");
  UniqueFd listener = testing::ListenUnix(path);
  ASSERT_TRUE(listener);

  std::optional<SocketHolder> holder = FindUnixListener(path);
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(holder->pid, getpid());
  EXPECT_TRUE(IsOwnCommandLine(holder->command)) << holder->command;
}

TEST(PortOwnerTest, BoundButNotListeningUnixSocketIsNotFound) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.Join("bound.sock");
  UniqueFd bound = testing::ListenUnix(path, /*listen_too=*/false);
  ASSERT_TRUE(bound);
  EXPECT_EQ(FindUnixListener(path), std::nullopt);
}

TEST(PortOwnerTest, UnixPathWithoutSocketIsNotFound) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(FindUnixListener(dir.Join("absent.sock")), std::nullopt);
}

}  // namespace
}  // namespace tether
