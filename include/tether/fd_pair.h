#pragma once

#include <optional>
#include <string>

#include "tether/unique_fd.h"

namespace tether {

/// Two connected descriptors, each owned: a pipe's read end (`first`) and write end
/// (`second`), or the two ends of a socket pair. Both are close-on-exec, so a child
/// keeps only the end it dup2()s onto a standard descriptor.
struct FdPair {
  UniqueFd first;
  UniqueFd second;
};

/// pipe2() with O_CLOEXEC. nullopt (with *error "pipe2: reason") if it fails.
std::optional<FdPair> OpenPipe(std::string* error);

/// socketpair(AF_UNIX, type | SOCK_CLOEXEC); `type` is SOCK_STREAM, perhaps with
/// SOCK_NONBLOCK. nullopt (with *error "socketpair: reason") if it fails.
std::optional<FdPair> OpenSocketPair(int type, std::string* error);

}  // namespace tether
