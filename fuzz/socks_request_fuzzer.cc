// What a SOCKS client sends to a -D forward. Checks: no crash; the parser never holds more
// than its cap; feeding the bytes whole, one at a time, or in chunks whose sizes come from
// the input gives the same status, target, pipelined rest and replies; a request is done
// only with a target whose name is 1-255 bytes without control bytes; replies are the
// sizes SOCKS defines; reasons are one printable line.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/socks_request.h"

using tether::SocksRequestParser;
using tether::SocksStatus;
using tether::SocksStep;
using tether::fuzz::Check;

namespace {

struct Outcome {
  SocksStatus status = SocksStatus::kNeedMore;
  std::string replies;
  std::string reason;
  tether::SocksTarget target;
  std::string rest;
};

// Feeds `input` in pieces of the sizes `chunk` gives, as the tunnel does: never more than
// the room left while the request is incomplete.
template <typename ChunkSize>
Outcome Run(std::string_view input, ChunkSize chunk) {
  SocksRequestParser parser;
  Outcome out;
  size_t at = 0;
  while (at < input.size() && parser.Room() > 0) {
    const size_t size = std::min({chunk(at), input.size() - at, parser.Room()});
    const SocksStep step = parser.Feed(input.substr(at, size));
    at += size;
    Check(parser.Room() <= SocksRequestParser::kMaxHandshakeBytes, "room within the cap");
    out.replies += step.reply;
    out.status = step.status;
    if (step.status == SocksStatus::kError) out.reason = step.reason;
    if (step.status != SocksStatus::kNeedMore) break;
  }
  if (out.status == SocksStatus::kDone) {
    out.target = parser.target();
    // Whatever follows the request is kept, up to the cap.
    parser.Feed(input.substr(at));
    out.rest = std::string(parser.rest());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Outcome whole = Run(input, [](size_t) { return SIZE_MAX; });
  const Outcome bytes = Run(input, [](size_t) { return size_t{1}; });
  const Outcome chunks =
      Run(input, [&](size_t at) { return size_t{1} + static_cast<uint8_t>(input[at]) % 7; });
  for (const Outcome* other : {&bytes, &chunks}) {
    Check(other->status == whole.status, "same status however the bytes come", input);
    Check(other->replies == whole.replies, "same replies however the bytes come", input);
    Check(other->reason == whole.reason, "same reason however the bytes come", input);
    Check(other->target == whole.target, "same target however the bytes come", input);
    Check(other->rest == whole.rest, "same pipelined rest however the bytes come", input);
  }
  if (whole.status == SocksStatus::kDone) {
    Check(!whole.target.host.empty() && whole.target.host.size() <= 255, "target host 1-255 bytes",
          whole.target.host);
    Check(tether::fuzz::IsOneLine(whole.target.host), "target host without control bytes",
          whole.target.host);
    Check(whole.rest.size() <= SocksRequestParser::kMaxHandshakeBytes, "rest within the cap");
    Check(whole.reason.empty(), "no reason when done");
  }
  if (whole.status == SocksStatus::kError) {
    Check(!whole.reason.empty() && tether::fuzz::IsOneLine(whole.reason),
          "reason is one printable line", whole.reason);
  }
  // Replies: SOCKS5's method choice (2 bytes) and/or one error reply (10 bytes SOCKS5, 8
  // bytes SOCKS4), nothing else.
  const size_t n = whole.replies.size();
  Check(n == 0 || n == 2 || n == 8 || n == 10 || n == 12, "replies of SOCKS sizes", whole.replies);
  return 0;
}
