#include "tether/channel_pump.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

namespace tether {

ChannelPump::ChannelPump(SshSession* session, LIBSSH2_CHANNEL* channel, UniqueFd local)
    : session_(session), connection_(0, 0, std::move(local), "jump channel"), driver_(session) {
  connection_.AttachChannel(session->get(), channel);
  SessionDriver::Callbacks callbacks;
  callbacks.opened = [](uint64_t, LIBSSH2_CHANNEL*, const std::string&) {};  // opens none
  callbacks.served = [this](Connection* connection, const std::string& failure) {
    // Only the connection to the next hop broke: its session learns it from the socket.
    if (failure.empty()) return;
    spdlog::debug("channel through {} failed: {}", session_->host_label(), failure);
    connection->MarkClosing();
  };
  callbacks.released = [](Connection*) {};  // the channel goes with the session
  callbacks.lost = [this](const std::string& why) { Break(why); };
  driver_.set_callbacks(std::move(callbacks));
  driver_.Serve(&connection_);
}

uint32_t ChannelPump::LocalEvents() const {
  if (broken_ || local_fd() < 0) return 0;
  return connection_.WantedClientEvents();
}

bool ChannelPump::Service(bool session_readable) {
  if (broken_) return false;
  // The socketpair side needs no libssh2 call, so it moves even while a send is pending.
  ReadLocal();
  WriteLocal();
  if (session_readable) driver_.NoteReadable();
  driver_.MarkActive(&connection_);
  // Bounded by the driver; what is left is announced again by the level-triggered fds, or
  // (data already queued inside libssh2) found by the next call.
  for (int round = 0; round < 4 && driver_.Step(); ++round) {
    ReadLocal();
    driver_.MarkActive(&connection_);
  }
  return !broken_;
}

void ChannelPump::SendKeepalive() {
  if (broken_) return;
  driver_.Probe();
  driver_.Step();
}

// A failure on the socketpair means the next session closed its end: nothing more to carry.
void ChannelPump::ReadLocal() {
  if (local_fd() >= 0 && !connection_.ReadFromClient()) connection_.CloseClient();
}

void ChannelPump::WriteLocal() {
  if (local_fd() >= 0 && !connection_.WriteToClient()) connection_.CloseClient();
}

void ChannelPump::Break(const std::string& why) {
  broken_ = true;
  failure_ = {ExitCode::kConnectionLost,
              "connection to " + session_->host_label() + " lost: " + why};
}

}  // namespace tether
