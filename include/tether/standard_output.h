#pragma once

#include <string>
#include <string_view>

namespace tether {

/// Writes all of `text` to standard output and reports whether it arrived: a script reads
/// tether's answer there (the address -f picked, `tether list`), so a failed write (a full
/// disk, /dev/full, a closed pipe) must not pass as success. Bypasses stdio's buffer, so
/// the error is known at once; false with *error ("cannot write to standard output: ...").
bool WriteToStdout(std::string_view text, std::string* error);

}  // namespace tether
