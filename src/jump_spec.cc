#include "tether/jump_spec.h"

#include <algorithm>
#include <cctype>

#include "tether/message_text.h"
#include "tether/text.h"

namespace tether {
namespace {

constexpr std::string_view kUriScheme = "ssh://";

bool HasControlOrBlank(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

// Splits "host", "host:port", "[v6]" or "[v6]:port" the way ssh's hpdelim does; *reason
// says what is wrong.
bool SplitHostPort(std::string_view text, JumpSpec* spec, std::string* reason) {
  std::string_view host = text;
  std::string_view port;
  bool has_port = false;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *reason = "missing ']' after the IPv6 address";
      return false;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      *reason = "unexpected " + QuoteForMessage(rest) + " after ']'";
      return false;
    }
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      *reason = "an IPv6 address goes in [brackets]";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) {
    *reason = "missing host";
    return false;
  }
  if (host.front() == '-' || host.find_first_of("/[]@") != std::string_view::npos) {
    *reason = "bad host name " + QuoteForMessage(host);
    return false;
  }
  if (has_port) {
    spec->port = ParsePort(port);
    if (!spec->port) {
      *reason = "bad port " + QuoteForMessage(port) + " (expected 1-65535)";
      return false;
    }
  }
  spec->host = std::string(host);
  return true;
}

// One element: "[user@]host[:port]", or the same behind "ssh://" (with an optional
// trailing '/', as a URI may have; a path is refused, as ssh refuses it).
bool ParseElement(std::string_view text, JumpSpec* spec, std::string* reason) {
  if (text.empty()) {
    *reason = "empty element";
    return false;
  }
  if (HasControlOrBlank(text)) {
    *reason = "blanks or control characters";
    return false;
  }
  if (text.size() > kUriScheme.size() &&
      EqualsIgnoreCase(text.substr(0, kUriScheme.size()), kUriScheme)) {
    text.remove_prefix(kUriScheme.size());
    if (text.ends_with('/')) text.remove_suffix(1);
    if (text.find('/') != std::string_view::npos) {
      *reason = "a path is not allowed in an ssh:// jump host";
      return false;
    }
  }
  if (const size_t at = text.rfind('@'); at != std::string_view::npos) {
    if (at == 0) {
      *reason = "empty user name";
      return false;
    }
    spec->user = std::string(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  return SplitHostPort(text, spec, reason);
}

}  // namespace

std::optional<std::vector<JumpSpec>> ParseJumpList(std::string_view text, std::string* error) {
  if (EqualsIgnoreCase(text, "none")) return std::vector<JumpSpec>{};
  std::vector<JumpSpec> hops;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string_view element = text.substr(start, comma - start);
    JumpSpec spec;
    std::string reason;
    if (!ParseElement(element, &spec, &reason)) {
      *error = "bad jump host " + QuoteForMessage(element);
      if (text.find(',') != std::string_view::npos) *error += " in " + QuoteForMessage(text);
      *error += ": " + reason;
      return std::nullopt;
    }
    hops.push_back(std::move(spec));
    if (comma == std::string_view::npos) return hops;
    start = comma + 1;
  }
}

std::string_view JumpListText(std::string_view config_value) {
  config_value = config_value.substr(0, config_value.find('#'));
  while (!config_value.empty() && std::isspace(static_cast<unsigned char>(config_value.back()))) {
    config_value.remove_suffix(1);
  }
  return config_value;
}

std::string FormatJumpSpec(const JumpSpec& spec) {
  std::string text = spec.user.empty() ? "" : spec.user + "@";
  const bool v6 = spec.host.find(':') != std::string::npos;
  text += v6 ? "[" + spec.host + "]" : spec.host;
  if (spec.port) text += ":" + std::to_string(*spec.port);
  return text;
}

}  // namespace tether
