#include "tether/display_format.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tether {
namespace {

TEST(FormatBytes, BinaryUnitsOneDecimal) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 20), "3.0 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{5} << 40), "5.0 TiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16384.0 PiB");
}

TEST(FormatForwards, ArrowsCommasAndEscapedAddresses) {
  EXPECT_EQ(FormatForwards({}), "");
  EXPECT_EQ(FormatForwards({{"127.0.0.1:5432", "db:5432", 5432}}), "127.0.0.1:5432 \u2192 db:5432");
  EXPECT_EQ(FormatForwards({{"127.0.0.1:1", "a:2", 1}, {"/tmp/x.sock", "/run/y\n.sock", 0}}),
            "127.0.0.1:1 \u2192 a:2, /tmp/x.sock \u2192 /run/y\\x0a.sock");
  EXPECT_EQ(FormatForwards({{"127.0.0.1:1080", "socks", 1080, ForwardKind::kDynamic},
                            {"127.0.0.1:1", "a:2", 1}}),
            "127.0.0.1:1080 (dynamic, SOCKS), 127.0.0.1:1 \u2192 a:2");
}

}  // namespace
}  // namespace tether
