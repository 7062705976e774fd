#pragma once

#include <string>
#include <string_view>

// In namespace tether, not tether::testing: test files inside namespace tether spell gtest
// as `testing::`, which a tether::testing declared by this header would hide.
namespace tether {

/// Text from a test parameter as gtest's PrintTo shows it (test lists, failures, and the
/// ctest names gtest_discover_tests makes from it): in single quotes, control and non-ASCII
/// bytes as \xNN so it stays one readable line, and beyond ~60 characters cut short with the
/// full size given.
std::string ParamText(std::string_view text);

}  // namespace tether
