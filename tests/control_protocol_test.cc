#include "tether/control_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace tether {
namespace {

struct RequestCase {
  std::string line;
  std::optional<ControlRequest> expected;
  std::string error;  ///< when expected is nullopt
};

class ControlRequestTest : public testing::TestWithParam<RequestCase> {};

TEST_P(ControlRequestTest, ParsesOrNamesTheProblem) {
  std::string error;
  EXPECT_EQ(ParseControlRequest(GetParam().line, &error), GetParam().expected);
  EXPECT_EQ(error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    ControlProtocol, ControlRequestTest,
    testing::Values(RequestCase{"status", ControlRequest::kStatus, ""},
                    RequestCase{"stop", ControlRequest::kStop, ""},
                    RequestCase{"", std::nullopt, "unknown request ''"},
                    RequestCase{"STOP", std::nullopt, "unknown request 'STOP'"},
                    RequestCase{"stop ", std::nullopt, "unknown request 'stop '"},
                    RequestCase{"stop\r", std::nullopt, "unknown request 'stop\\x0d'"},
                    RequestCase{std::string("st\0p", 4), std::nullopt,
                                "unknown request 'st\\x00p'"},
                    RequestCase{std::string(100, 'x'), std::nullopt,
                                "unknown request '" + std::string(40, 'x') + "'"}));

TEST(ControlProtocol, RequestsRoundTrip) {
  for (ControlRequest request : {ControlRequest::kStatus, ControlRequest::kStop}) {
    std::string text = FormatControlRequest(request);
    ASSERT_EQ(text.back(), '\n');
    std::string error;
    EXPECT_EQ(ParseControlRequest(text.substr(0, text.size() - 1), &error), request);
  }
}

TEST(ControlProtocol, StatusReplyHasFixedTextAndRoundTrips) {
  TunnelStatus status{"up", 3, 1000, 20, 61, 28739};
  EXPECT_EQ(FormatStatusReply(status),
            "ok state=up connections=3 bytes_in=1000 bytes_out=20 up=61 ttl_left=28739 "
            "sessions=1\n");
  status.ttl_left_seconds.reset();
  std::string line = FormatStatusReply(status);
  EXPECT_EQ(line,
            "ok state=up connections=3 bytes_in=1000 bytes_out=20 up=61 ttl_left=none "
            "sessions=1\n");
  std::string error;
  EXPECT_EQ(ParseStatusReply(line.substr(0, line.size() - 1), &error), status);
}

TEST(ControlProtocol, StatusReplyKeysInAnyOrderAndUnknownOnesSkipped) {
  std::string error;
  std::optional<TunnelStatus> status = ParseStatusReply(
      "ok up=5 future=x bytes_out=2 bytes_in=1 connections=0 state=connecting", &error);
  ASSERT_TRUE(status) << error;
  EXPECT_EQ(*status, (TunnelStatus{"connecting", 0, 1, 2, 5, std::nullopt}));
}

struct BadReplyCase {
  std::string line;
  std::string error;
};

class BadStatusReplyTest : public testing::TestWithParam<BadReplyCase> {};

TEST_P(BadStatusReplyTest, IsRejectedWithReason) {
  std::string error;
  EXPECT_EQ(ParseStatusReply(GetParam().line, &error), std::nullopt);
  EXPECT_EQ(error, GetParam().error);
}

const std::string kGood = "state=up connections=1 bytes_in=2 bytes_out=3 up=4";

INSTANTIATE_TEST_SUITE_P(
    ControlProtocol, BadStatusReplyTest,
    testing::Values(
        BadReplyCase{"", "malformed reply ''"}, BadReplyCase{"ok", "malformed reply 'ok'"},
        BadReplyCase{"error not now", "not now"}, BadReplyCase{"error bad\x01", "bad\\x01"},
        BadReplyCase{"ok " + kGood + " up=5", "malformed status field 'up=5'"},
        BadReplyCase{"ok " + kGood + " ttl_left=-1", "malformed status field 'ttl_left=-1'"},
        BadReplyCase{"ok " + kGood + " ttl_left=", "malformed status field 'ttl_left='"},
        BadReplyCase{"ok " + kGood + "  ", "malformed status field ''"},
        BadReplyCase{"ok " + kGood + " =1", "malformed status field '=1'"},
        BadReplyCase{"ok " + kGood + " junk", "malformed status field 'junk'"},
        BadReplyCase{"ok state=UP connections=1 bytes_in=2 bytes_out=3 up=4",
                     "malformed status field 'state=UP'"},
        BadReplyCase{"ok state=up connections=99999999999999999999 bytes_in=2 bytes_out=3 up=4",
                     "malformed status field 'connections=99999999999999999999'"},
        BadReplyCase{"ok state=up connections=+1 bytes_in=2 bytes_out=3 up=4",
                     "malformed status field 'connections=+1'"},
        BadReplyCase{"ok state=up bytes_in=2 bytes_out=3 up=4",
                     "status reply without connections"}));

TEST(ControlProtocol, StopReply) {
  std::string error;
  std::string line = FormatStopReply();
  EXPECT_EQ(line, "ok stopping\n");
  EXPECT_TRUE(ParseStopReply("ok stopping", &error));
  EXPECT_FALSE(ParseStopReply("ok stopped", &error));
  EXPECT_EQ(error, "malformed reply 'ok stopped'");
  EXPECT_FALSE(ParseStopReply("error no", &error));
  EXPECT_EQ(error, "no");
}

TEST(ControlProtocol, ErrorReplyStaysOneLine) {
  EXPECT_EQ(FormatErrorReply("bad\nthing"), "error bad\\x0athing\n");
}

struct LineCase {
  std::string buffer;
  LineState state;
  std::string line;
};

class TakeControlLineTest : public testing::TestWithParam<LineCase> {};

TEST_P(TakeControlLineTest, FindsTheFirstBoundedLine) {
  std::string line = "untouched";
  EXPECT_EQ(TakeControlLine(GetParam().buffer, &line), GetParam().state);
  EXPECT_EQ(line, GetParam().line);
}

INSTANTIATE_TEST_SUITE_P(
    ControlProtocol, TakeControlLineTest,
    testing::Values(
        LineCase{"", LineState::kIncomplete, "untouched"},
        LineCase{"stat", LineState::kIncomplete, "untouched"},
        LineCase{"status\n", LineState::kLine, "status"},
        LineCase{"stop\nstatus\n", LineState::kLine, "stop"}, LineCase{"\n", LineState::kLine, ""},
        LineCase{std::string(kMaxControlLine - 1, 'a') + "\n", LineState::kLine,
                 std::string(kMaxControlLine - 1, 'a')},
        LineCase{std::string(kMaxControlLine - 1, 'a'), LineState::kIncomplete, "untouched"},
        LineCase{std::string(kMaxControlLine, 'a'), LineState::kTooLong, "untouched"},
        LineCase{std::string(kMaxControlLine, 'a') + "\n", LineState::kTooLong, "untouched"}));

}  // namespace
}  // namespace tether
