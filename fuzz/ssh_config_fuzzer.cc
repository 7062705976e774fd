// ssh_config files: ~/.ssh/config, -F files and whatever they Include. The input is one or
// more files separated by lines "#@file" (a comment to ssh): the first becomes
// <home>/.ssh/config, the next ones <home>/.ssh/conf.d/1, 2, ... so that Include,
// Include loops and globs have something to find. <home> is a private scratch directory.
//
// Sandbox: the fuzzer is linked with --wrap=open,--wrap=glob, so every open(2) and glob(3)
// made while SshConfig::Load runs goes through the wrappers below. A path that does not
// resolve inside the scratch directory looks missing (ENOENT) and a glob only lists
// directories inside it, so "Include /etc/*" or "Include ~root/x" read nothing outside.
//
// Checks: no crash, no leak, no hang; a failure is one printable line; on success
// "hostname" is set, Port is 1-65535, every LocalForward is a valid -L spec, no value
// holds a newline, warnings are one line each, and loading again gives the same result.

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tether/forward_spec.h"
#include "tether/ssh_config.h"

using tether::fuzz::Check;

namespace {

constexpr std::string_view kSeparator = "\n#@file\n";
constexpr size_t kMaxFiles = 8;

/// Canonical path of the directory reads are confined to; empty while Load is not running.
std::string sandbox_root;

bool InsideSandbox(const char* path) {
  char* canonical = realpath(path, nullptr);
  if (canonical == nullptr) return false;
  const std::string_view resolved(canonical);
  const bool inside = resolved == sandbox_root ||
                      (resolved.starts_with(sandbox_root) && resolved[sandbox_root.size()] == '/');
  std::free(canonical);  // NOLINT(cppcoreguidelines-no-malloc): realpath's contract
  return inside;
}

void* SandboxOpendir(const char* path) {
  if (!InsideSandbox(path)) {
    errno = ENOENT;
    return nullptr;
  }
  return opendir(path);
}

dirent* SandboxReaddir(void* dir) { return readdir(static_cast<DIR*>(dir)); }
void SandboxClosedir(void* dir) { closedir(static_cast<DIR*>(dir)); }

/// Confines reads to `root` while it lives.
class ScopedSandbox {
 public:
  explicit ScopedSandbox(const std::string& root) { sandbox_root = root; }
  ~ScopedSandbox() { sandbox_root.clear(); }
  ScopedSandbox(const ScopedSandbox&) = delete;
  ScopedSandbox& operator=(const ScopedSandbox&) = delete;
};

}  // namespace

// The linker sends every call to open and glob here (--wrap); __real_* are the originals.
// The reserved names are the ones --wrap defines.
// NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
extern "C" int __real_open(const char* path, int flags, ...);
extern "C" int __real_glob(const char* pattern, int flags,
                           int (*errfunc)(const char* path, int error), glob_t* matches);

extern "C" int __wrap_open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list args;
    va_start(args, flags);
    mode = static_cast<mode_t>(va_arg(args, int));
    va_end(args);
  }
  if (!sandbox_root.empty() && !InsideSandbox(path)) {
    errno = ENOENT;
    return -1;
  }
  return __real_open(path, flags, mode);
}

extern "C" int __wrap_glob(const char* pattern, int flags,
                           int (*errfunc)(const char* path, int error), glob_t* matches) {
  if (!sandbox_root.empty()) {
    flags |= GLOB_ALTDIRFUNC;
    matches->gl_opendir = SandboxOpendir;
    matches->gl_readdir = SandboxReaddir;
    matches->gl_closedir = SandboxClosedir;
    matches->gl_stat = stat;
    matches->gl_lstat = lstat;
  }
  return __real_glob(pattern, flags, errfunc, matches);
}
// NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)

namespace {

struct Fixture {
  tether::fuzz::ScratchDir scratch;
  std::string ssh_dir = scratch.path() + "/.ssh";
  std::string include_dir = ssh_dir + "/conf.d";

  Fixture() {
    std::filesystem::create_directories(include_dir);
    ::chmod(ssh_dir.c_str(), 0700);
    // ${HOME} in a value then names the scratch directory too.
    ::setenv("HOME", scratch.path().c_str(), 1);
  }

  /// Writes the files the input describes and removes those of the previous input.
  void WriteFiles(std::string_view input) const {
    std::filesystem::remove_all(include_dir);
    std::filesystem::create_directory(include_dir);
    for (size_t index = 0;; ++index) {
      const size_t cut = index + 1 < kMaxFiles ? input.find(kSeparator) : std::string_view::npos;
      const std::string path =
          index == 0 ? ssh_dir + "/config" : include_dir + "/" + std::to_string(index);
      tether::fuzz::WriteFile(path, input.substr(0, cut));
      if (cut == std::string_view::npos) return;
      input.remove_prefix(cut + kSeparator.size());
    }
  }
};

struct Loaded {
  std::optional<tether::SshConfig> config;
  std::string error;
  std::vector<std::string> warnings;
};

Loaded Load(const Fixture& fixture) {
  tether::SshConfigContext context;
  context.host = "db";
  context.local_user = "alice";
  context.home = fixture.scratch.path();
  Loaded loaded;
  const ScopedSandbox sandbox(fixture.scratch.path());
  loaded.config =
      tether::SshConfig::Load({{fixture.ssh_dir + "/config", tether::SshConfigRole::kUser}},
                              context, &loaded.error, &loaded.warnings);
  return loaded;
}

void CheckConfig(const tether::SshConfig& config, std::string_view input) {
  Check(config.Get("hostname").has_value(), "hostname is always set", input);
  if (const std::optional<std::string> port = config.Get("port")) {
    const bool digits = !port->empty() && port->size() <= 5 &&
                        port->find_first_not_of("0123456789") == std::string::npos;
    Check(digits && std::stoi(*port) >= 1 && std::stoi(*port) <= 65535, "Port is 1-65535", *port);
  }
  for (const std::string& forward : config.GetAll("localforward")) {
    std::string reason;
    Check(tether::ParseForwardSpecReason(forward, &reason).has_value(),
          "LocalForward is a valid -L spec", forward + " : " + reason);
  }
  for (const std::string& forward : config.GetAll("dynamicforward")) {
    std::string reason;
    Check(tether::ParseDynamicForwardSpecReason(forward, &reason).has_value(),
          "DynamicForward is a valid -D spec", forward + " : " + reason);
  }
  // Dump prints "key value" lines: a value holding a newline or a NUL would break them.
  const std::string dump = config.Dump();
  Check(dump.find('\0') == std::string::npos, "no value holds a NUL byte", dump);
  for (size_t start = 0; start < dump.size();) {
    const size_t end = dump.find('\n', start);
    const std::string_view line = std::string_view(dump).substr(start, end - start);
    const size_t space = line.find(' ');
    Check(space != std::string_view::npos && space > 0 &&
              line.substr(0, space).find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") ==
                  std::string_view::npos,
          "Dump line is 'key value'", dump);
    start = end == std::string::npos ? dump.size() : end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  fixture.WriteFiles(input);

  const Loaded first = Load(fixture);
  for (const std::string& warning : first.warnings) {
    Check(tether::fuzz::IsOneLine(warning), "warning is one printable line", warning);
  }
  if (!first.config) {
    Check(!first.error.empty() && tether::fuzz::IsOneLine(first.error),
          "error is one printable line", first.error);
  } else {
    CheckConfig(*first.config, input);
  }

  const Loaded second = Load(fixture);
  Check(second.config.has_value() == first.config.has_value() && second.error == first.error,
        "loading twice gives the same outcome", first.error + " / " + second.error);
  if (first.config) {
    Check(second.config->Dump() == first.config->Dump(), "loading twice gives the same values",
          first.config->Dump());
  }
  return 0;
}
