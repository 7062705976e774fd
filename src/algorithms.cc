#include "tether/algorithms.h"

#include <libssh2.h>

#include <algorithm>
#include <memory>

#include "tether/message_text.h"
#include "tether/ssh_config.h"
#include "tether/ssh_handles.h"

namespace tether {
namespace {

std::vector<std::string> SplitCommas(std::string_view list) {
  std::vector<std::string> names;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    names.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return names;
}

std::string JoinCommas(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

bool HasWildcard(const std::string& name) { return name.find_first_of("*?") != std::string::npos; }

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void AddNew(const std::vector<std::string>& names, std::vector<std::string>* out) {
  for (const std::string& name : names) {
    if (!Contains(*out, name)) out->push_back(name);
  }
}

/// The supported names each pattern of `patterns` stands for, in the patterns' order; a
/// plain name libssh2 lacks sets *unknown.
std::vector<std::string> Expand(const std::vector<std::string>& patterns,
                                const std::vector<std::string>& supported, std::string* unknown) {
  std::vector<std::string> names;
  for (const std::string& pattern : patterns) {
    if (!HasWildcard(pattern)) {
      if (Contains(supported, pattern)) {
        AddNew({pattern}, &names);
      } else if (unknown->empty()) {
        *unknown = pattern;
      }
      continue;
    }
    for (const std::string& name : supported) {
      if (MatchPattern(name, pattern)) AddNew({name}, &names);
    }
  }
  return names;
}

/// What this libssh2 can do for one method type, best first.
std::vector<std::string> Supported(LIBSSH2_SESSION* session, int method_type) {
  const char** algorithms = nullptr;
  const int count = libssh2_session_supported_algs(session, method_type, &algorithms);
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.emplace_back(algorithms[i]);
  if (algorithms != nullptr) libssh2_free(session, static_cast<void*>(algorithms));
  return names;
}

}  // namespace

std::optional<std::string> ResolveAlgorithms(std::string_view keyword, std::string_view spec,
                                             const std::vector<std::string>& supported,
                                             const std::vector<std::string>& defaults,
                                             std::string* error) {
  const char mode = spec.empty() ? '\0' : spec.front();
  const bool relative = mode == '+' || mode == '-' || mode == '^';
  std::string unknown;
  const std::vector<std::string> named =
      Expand(SplitCommas(relative ? spec.substr(1) : spec), supported, &unknown);
  std::vector<std::string> result;
  if (mode == '-') {
    // Removing what libssh2 lacks anyway is no mistake.
    unknown.clear();
    const std::vector<std::string> patterns = SplitCommas(spec.substr(1));
    for (const std::string& name : defaults) {
      const bool removed = std::any_of(patterns.begin(), patterns.end(),
                                       [&](const std::string& p) { return MatchPattern(name, p); });
      if (!removed) result.push_back(name);
    }
  } else if (mode == '+') {
    result = defaults;
    AddNew(named, &result);
  } else if (mode == '^') {
    result = named;
    AddNew(defaults, &result);
  } else {
    result = named;
  }
  const std::string prefix = std::string(keyword) + ": ";
  if (!unknown.empty()) {
    *error = prefix + QuoteForMessage(unknown) + " is not supported by libssh2 " + LIBSSH2_VERSION +
             " (it supports " + JoinCommas(supported) + ")";
    return std::nullopt;
  }
  if (result.empty()) {
    *error = prefix + QuoteForMessage(spec) + " leaves no algorithm that libssh2 " +
             LIBSSH2_VERSION + " supports";
    return std::nullopt;
  }
  return JoinCommas(result);
}

bool PlanAlgorithms(const SshConfig& config, AlgorithmPreferences* preferences,
                    std::string* error) {
  SessionPtr session(libssh2_session_init());
  if (!session) {
    *error = "libssh2_session_init failed";
    return false;
  }
  struct Setting {
    const char* keyword;
    int method_type;
    std::string default_list;  ///< empty: all libssh2 supports, in its order
    std::string* out;
  };
  const Setting settings[] = {
      {"Ciphers", LIBSSH2_METHOD_CRYPT_CS, kDefaultCiphers, &preferences->ciphers},
      {"MACs", LIBSSH2_METHOD_MAC_CS, kDefaultMacs, &preferences->macs},
      {"KexAlgorithms", LIBSSH2_METHOD_KEX, "", &preferences->kex},
      {"HostKeyAlgorithms", LIBSSH2_METHOD_HOSTKEY, "", &preferences->host_key},
  };
  for (const Setting& setting : settings) {
    const std::optional<std::string> spec = config.Get(setting.keyword);
    if (!spec) continue;
    const std::vector<std::string> supported = Supported(session.get(), setting.method_type);
    const std::vector<std::string> defaults =
        setting.default_list.empty() ? supported : SplitCommas(setting.default_list);
    std::optional<std::string> list =
        ResolveAlgorithms(setting.keyword, *spec, supported, defaults, error);
    if (!list) return false;
    *setting.out = *list;
  }
  return true;
}

}  // namespace tether
