#pragma once

#include <string>
#include <vector>

#include "tether/options.h"

// In namespace tether, not tether::testing, for the reason param_text.h gives.
namespace tether {

/// ParseCommandLine on `tether ARGS...`: how the parser tests hand it a command line.
CommandLine ParseArgs(std::vector<std::string> args);

}  // namespace tether
