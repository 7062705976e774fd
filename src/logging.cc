#include "tether/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

namespace tether {
namespace {

spdlog::level::level_enum LevelFor(int verbosity, bool quiet) {
  if (quiet) return spdlog::level::err;
  if (verbosity >= 2) return spdlog::level::trace;
  if (verbosity == 1) return spdlog::level::debug;
  return spdlog::level::info;
}

void Install(std::shared_ptr<spdlog::logger> logger, spdlog::level::level_enum level) {
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

bool ConfigureLogging(int verbosity, bool quiet, const std::string& log_file, std::string* error) {
  spdlog::level::level_enum level = LevelFor(verbosity, quiet);
  if (log_file.empty()) {
    auto logger = spdlog::stderr_logger_st("tether");
    logger->set_pattern("tether: %v");
    Install(std::move(logger), level);
    return true;
  }
  try {
    auto logger = spdlog::basic_logger_st("tether", log_file);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S%z tether[%P]: %l: %v");
    Install(std::move(logger), level);
  } catch (const spdlog::spdlog_ex& e) {
    *error = "cannot open log file " + log_file + ": " + e.what();
    return false;
  }
  return true;
}

void LogToSyslog() {
  spdlog::level::level_enum level = spdlog::default_logger()->level();
  auto logger = spdlog::syslog_logger_st("tether-syslog", "tether", LOG_PID, LOG_DAEMON);
  logger->set_pattern("%v");
  Install(std::move(logger), level);
}

}  // namespace tether
