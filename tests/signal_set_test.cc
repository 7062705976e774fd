#include "tether/signal_set.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "support/net_util.h"

namespace tether {
namespace {

bool IsBlocked(int signal_number) {
  sigset_t current;
  sigemptyset(&current);
  pthread_sigmask(SIG_BLOCK, nullptr, &current);
  return sigismember(&current, signal_number) == 1;
}

void SetBlocked(int signal_number, bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal_number);
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

// Takes `signal_number` off the pending set, so that a failed test does not die of it once
// the mask is restored.
void DiscardPending(int signal_number) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal_number);
  const timespec no_wait{};
  while (sigtimedwait(&set, nullptr, &no_wait) == signal_number) {
  }
}

struct DeliveryCase {
  std::string name;
  std::vector<int> installed;
  int raised;
};

void PrintTo(const DeliveryCase& c, std::ostream* os) { *os << c.name; }

class SignalSetDeliveryTest : public ::testing::TestWithParam<DeliveryCase> {};

TEST_P(SignalSetDeliveryTest, DeliversRaisedSignalThroughFd) {
  const DeliveryCase& c = GetParam();
  for (int sig : c.installed) ASSERT_FALSE(IsBlocked(sig)) << "blocked before the test";
  SignalSet signals;
  std::string error;
  // Install takes an initializer_list; the table has up to two signals.
  ASSERT_TRUE(c.installed.size() == 1 ? signals.Install({c.installed[0]}, &error)
                                      : signals.Install({c.installed[0], c.installed[1]}, &error))
      << error;
  for (int sig : c.installed) EXPECT_TRUE(IsBlocked(sig)) << strsignal(sig);
  ASSERT_GE(signals.fd(), 0);
  EXPECT_EQ(signals.Read(), std::nullopt) << "nothing raised yet";

  ASSERT_EQ(raise(c.raised), 0);  // pending while blocked: it must not kill the test
  EXPECT_TRUE(testing::WaitReadable(signals.fd(), std::chrono::milliseconds(1000)));
  EXPECT_EQ(signals.Read(), c.raised);
  EXPECT_EQ(signals.Read(), std::nullopt) << "one raise, one delivery";
  DiscardPending(c.raised);
}

INSTANTIATE_TEST_SUITE_P(SignalSet, SignalSetDeliveryTest,
                         ::testing::Values(DeliveryCase{"Usr2", {SIGUSR2}, SIGUSR2},
                                           DeliveryCase{"SecondOfTwo", {SIGUSR2, SIGURG}, SIGURG},
                                           DeliveryCase{"FirstOfTwo", {SIGUSR2, SIGURG}, SIGUSR2},
                                           DeliveryCase{"Winch", {SIGWINCH}, SIGWINCH}),
                         [](const ::testing::TestParamInfo<DeliveryCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(SignalSetTest, IgnoresSigpipe) {
  SignalSet signals;
  std::string error;
  ASSERT_TRUE(signals.Install({SIGUSR2}, &error)) << error;
  struct sigaction action {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_IGN);
}

TEST(SignalSetTest, RestoresThePreviousMaskWhenDestroyed) {
  ASSERT_FALSE(IsBlocked(SIGUSR2));
  SetBlocked(SIGURG, true);  // blocked by someone else before: must stay blocked
  {
    SignalSet signals;
    std::string error;
    ASSERT_TRUE(signals.Install({SIGUSR2, SIGURG}, &error)) << error;
    EXPECT_TRUE(IsBlocked(SIGUSR2));
  }
  EXPECT_FALSE(IsBlocked(SIGUSR2)) << "SIGUSR2 still blocked after the SignalSet is gone";
  EXPECT_TRUE(IsBlocked(SIGURG)) << "a signal blocked before the SignalSet was unblocked";
  SetBlocked(SIGURG, false);
}

TEST(SignalSetTest, UninstalledSetLeavesTheMaskAlone) {
  SetBlocked(SIGURG, true);
  { SignalSet unused; }
  EXPECT_TRUE(IsBlocked(SIGURG));
  SetBlocked(SIGURG, false);
}

}  // namespace
}  // namespace tether
