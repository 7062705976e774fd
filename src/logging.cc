#include "tether/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tether {

void ConfigureLogging(int verbosity, bool quiet) {
  auto logger = spdlog::stderr_logger_st("tether");
  logger->set_pattern("tether: %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (verbosity >= 1) level = spdlog::level::debug;
  if (verbosity >= 2) level = spdlog::level::trace;
  if (quiet) level = spdlog::level::err;
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace tether
