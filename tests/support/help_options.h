#pragma once

#include <set>
#include <string>
#include <string_view>

namespace tether::testing {

/// Options as `tether --help` shows them: "--word" or "-X" standing alone, so that
/// "Ctrl-C", "accept-new", "-vv" or "1-1000" do not count. Used to check that the man page
/// and the shell completions name every option of --help.
std::set<std::string> OptionsIn(std::string_view text);

/// The output of `tether --help` (TETHER_BINARY); "" (after a test failure) if it fails.
std::string TetherHelpText();

}  // namespace tether::testing
