#include "tether/logging.h"

#include <fcntl.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

#include "tether/json_text.h"
#include "tether/message_text.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

constexpr char kFilePattern[] = "%Y-%m-%dT%H:%M:%S%z tether[%P]: %l: %v";

/// The event being logged while LogEvent runs. spdlog hands a formatter only the rendered
/// text, so the event's name and fields travel beside it; logging is synchronous, the
/// formatter runs on the logging thread (the pool's setup threads log too), and a line
/// logged straight through spdlog finds none here.
struct PendingEvent {
  std::string_view name;
  std::initializer_list<LogField> fields;
};
thread_local const PendingEvent* pending_event = nullptr;

LogFormat configured_format = LogFormat::kText;

spdlog::level::level_enum LevelFor(int verbosity, bool quiet) {
  if (quiet) return spdlog::level::err;
  if (verbosity >= 2) return spdlog::level::trace;
  if (verbosity == 1) return spdlog::level::debug;
  return spdlog::level::info;
}

/// "2026-11-25T18:16:31.123Z": RFC 3339, UTC, milliseconds.
std::string Rfc3339Utc(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t whole = seconds.count();
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof(text) - length, ".%03dZ", static_cast<int>(millis));
  return text;
}

void AppendMember(std::string_view key, std::string_view value, bool is_number, std::string* line) {
  line->push_back(',');
  AppendJsonString(key, line);
  line->push_back(':');
  if (is_number) {
    line->append(value);
  } else {
    AppendJsonString(value, line);
  }
}

/// Writes each log line as one JSON object; a line that did not come through LogEvent
/// gets the event name "log".
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool newline) : newline_(newline) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"" + Rfc3339Utc(msg.time) + "\"";
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    AppendMember("level", std::string_view(level.data(), level.size()), false, &line);
    AppendMember("pid", std::to_string(getpid()), true, &line);
    AppendMember("event", pending_event != nullptr ? pending_event->name : "log", false, &line);
    AppendMember("message", std::string_view(msg.payload.data(), msg.payload.size()), false, &line);
    if (pending_event != nullptr) {
      for (const LogField& field : pending_event->fields) {
        AppendMember(field.key, field.text, field.is_number, &line);
      }
    }
    line += newline_ ? "}\n" : "}";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(newline_);
  }

 private:
  bool newline_;  ///< false for syslog, which takes a message, not a line
};

/// Appends each formatted line to a file descriptor it owns, with one write() per line:
/// nothing is buffered, so a line is in the file once logged, and O_APPEND keeps lines of
/// two tethers sharing a file whole.
class FdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FdSink(UniqueFd fd) : fd_(std::move(fd)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* data = line.data();
    size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_.get(), data, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk must not stop the tunnel
      data += n;
      left -= static_cast<size_t>(n);
    }
  }
  void flush_() override {}

 private:
  UniqueFd fd_;
};

// Opens -E's file as ssh opens its log file: append, create 0600, never truncate, and
// never create a missing directory. Two refusals beyond ssh: a symbolic link as the last
// component (O_NOFOLLOW: a tether run by root must not append to whatever file a link in a
// writable directory points at), and anything but a regular file or a character device
// (/dev/null); O_NONBLOCK lets open() return at once for a FIFO nobody reads.
UniqueFd OpenLogFile(const std::string& path, std::string* error) {
  const std::string prefix = "cannot open log file " + EscapeForMessage(path) + ": ";
  UniqueFd fd(::open(path.c_str(),
                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
                     0600));
  if (!fd) {
    const int saved = errno;
    struct stat st {};
    if (saved == ELOOP && lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      *error = prefix + "it is a symbolic link (name the file it points to)";
    } else if (saved == ENXIO) {
      *error = prefix + "it is a FIFO or socket that nobody reads";
    } else {
      *error = prefix + std::strerror(saved);
    }
    return UniqueFd();
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
    *error = prefix + "not a regular file";
    return UniqueFd();
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

void Install(std::shared_ptr<spdlog::logger> logger, spdlog::level::level_enum level) {
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
}

void SetFormat(spdlog::logger* logger, LogFormat format, std::string_view text_pattern) {
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>(/*newline=*/true));
  } else {
    logger->set_pattern(std::string(text_pattern));
  }
}

void Emit(spdlog::level::level_enum level, std::string_view event, std::string_view message,
          std::initializer_list<LogField> fields) {
  const PendingEvent pending{event, fields};
  pending_event = &pending;
  spdlog::default_logger_raw()->log(level, spdlog::string_view_t(message.data(), message.size()));
  pending_event = nullptr;
}

}  // namespace

bool ConfigureLogging(int verbosity, bool quiet, LogFormat format, const std::string& log_file,
                      std::string* error) {
  spdlog::level::level_enum level = LevelFor(verbosity, quiet);
  configured_format = format;
  // Loggers are made directly, not through spdlog's factories, which refuse a second
  // logger of the same name while the first is registered.
  if (log_file.empty()) {
    auto logger = std::make_shared<spdlog::logger>(
        "tether", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    SetFormat(logger.get(), format, "tether: %v");
    Install(std::move(logger), level);
    return true;
  }
  UniqueFd fd = OpenLogFile(log_file, error);
  if (!fd) return false;
  auto logger = std::make_shared<spdlog::logger>("tether", std::make_shared<FdSink>(std::move(fd)));
  SetFormat(logger.get(), format, kFilePattern);
  Install(std::move(logger), level);
  return true;
}

void LogToSyslog(LogFormat format) {
  spdlog::level::level_enum level = spdlog::default_logger()->level();
  const bool json = format == LogFormat::kJson;
  configured_format = format;
  auto logger = std::make_shared<spdlog::logger>(
      "tether", std::make_shared<spdlog::sinks::syslog_sink_mt>("tether", LOG_PID, LOG_DAEMON,
                                                                /*enable_formatting=*/json));
  if (json) {
    logger->set_formatter(std::make_unique<JsonFormatter>(/*newline=*/false));
  } else {
    logger->set_pattern("%v");
  }
  Install(std::move(logger), level);
}

LogFormat ConfiguredLogFormat() { return configured_format; }

std::string RenderLogText(std::string_view text, std::initializer_list<LogField> fields) {
  std::string out;
  while (!text.empty()) {
    const size_t open = text.find('{');
    const size_t close = open == std::string_view::npos ? open : text.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(text.substr(0, open));
    const std::string_view key = text.substr(open + 1, close - open - 1);
    const LogField* field = nullptr;
    for (const LogField& candidate : fields) {
      if (candidate.key == key) field = &candidate;
    }
    out.append(field != nullptr ? std::string_view(field->text)
                                : text.substr(open, close - open + 1));
    text.remove_prefix(close + 1);
  }
  out.append(text);
  return out;
}

void LogEvent(spdlog::level::level_enum level, std::string_view event, std::string_view text,
              std::initializer_list<LogField> fields) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  Emit(level, event, RenderLogText(text, fields), fields);
}

void LogEventText(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                  std::initializer_list<LogField> fields) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  Emit(level, event, message, fields);
}

}  // namespace tether
