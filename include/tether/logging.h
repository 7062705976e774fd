#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace tether {

/// --log-format: lines for people, or one JSON object per line for log shippers.
enum class LogFormat { kText, kJson };

/// Sends log lines to stderr, or appends them to `log_file` (-E). Text: "tether: message"
/// on stderr, "TIME tether[PID]: LEVEL: message" in a file. JSON: one object per event and
/// line, {"time":..., "level":..., "pid":..., "event":..., "message":..., fields...}.
/// Default: lifecycle lines and warnings; -v adds one line per client connection; -vv more
/// detail; -q only errors. The file is opened as ssh opens its log: appended to, created
/// 0600, its directory never created; a symbolic link, a FIFO or socket, or a directory
/// is refused. Returns false (with *error) if the file cannot be opened.
bool ConfigureLogging(int verbosity, bool quiet, LogFormat format, const std::string& log_file,
                      std::string* error);

/// The format given to the last ConfigureLogging or LogToSyslog; text before either.
LogFormat ConfiguredLogFormat();

/// After -f has detached without -E: log to syslog (daemon facility) instead of stderr, in
/// the same format.
void LogToSyslog(LogFormat format);

/// One detail of a log event: a JSON member in --log-format json, a {key} in the text.
struct LogField {
  LogField(std::string_view field_key, std::string_view value) : key(field_key), text(value) {}
  LogField(std::string_view field_key, const char* value) : key(field_key), text(value) {}
  LogField(std::string_view field_key, const std::string& value) : key(field_key), text(value) {}
  LogField(std::string_view field_key, uint64_t value)
      : key(field_key), text(std::to_string(value)), is_number(true) {}
  LogField(std::string_view field_key, int value)
      : key(field_key), text(std::to_string(value)), is_number(true) {}

  std::string_view key;  ///< snake_case; never "time", "level", "pid", "event" or "message"
  std::string text;      ///< the value as text; a decimal number when is_number
  bool is_number = false;
};

/// Logs one event. `event` is a stable snake_case name that scripts may match on
/// ("forward_listening", "client_closed"); `text` is the line people read, in which each
/// {key} naming one of `fields` is replaced by its value. In JSON the rendered text is
/// "message" and every field is a member of its own. Fields never carry secrets.
void LogEvent(spdlog::level::level_enum level, std::string_view event, std::string_view text,
              std::initializer_list<LogField> fields = {});

/// As LogEvent for a message already written out (a Failure's, a warning), which is taken
/// as it is: braces in it are not placeholders.
void LogEventText(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                  std::initializer_list<LogField> fields = {});

/// The text of LogEvent: `text` with each {key} of `fields` replaced; other braces stay.
std::string RenderLogText(std::string_view text, std::initializer_list<LogField> fields);

}  // namespace tether
