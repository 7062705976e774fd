#include "support/parse_args.h"

namespace tether {

CommandLine ParseArgs(std::vector<std::string> args) {
  args.insert(args.begin(), "tether");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()), argv.data());
}

}  // namespace tether
