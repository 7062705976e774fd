#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tether/event_loop.h"
#include "tether/failure.h"
#include "tether/jump_chain.h"
#include "tether/tunnel_plan.h"
#include "tether/unique_fd.h"

namespace tether {

/// Sets up the extra sessions of the pool on worker threads, several at once, while the
/// loop's thread keeps serving every connection. A session costs several round trips (TCP,
/// key exchange, authentication, and each jump host's), so a burst of clients over a long
/// link that waited for one session after another waited for all of their setups in turn.
///
/// A worker runs JumpChain::Connect with a plan that never asks anyone (batch mode) and
/// touches nothing but its own session; the finished chain is handed to the loop's thread
/// through an eventfd, and from then on only that thread uses it. Every attempt watches one
/// cancel eventfd as its stop fd, so CancelAll and the destructor end them within one poll
/// (a name lookup in progress finishes first).
class SessionConnector {
 public:
  /// What one attempt made: a connected chain, or why there is none (failure.code is kOk
  /// when it was cancelled).
  struct Outcome {
    std::unique_ptr<JumpChain> chain;
    Failure failure;
    std::vector<std::string> warnings;
  };
  using OnOutcome = std::function<void(Outcome)>;

  /// `plan` must outlive the connector; `on_outcome` runs on the loop's thread, from the
  /// loop's dispatch, once per attempt that was not cancelled.
  SessionConnector(EventLoop* loop, const TunnelPlan& plan, OnOutcome on_outcome);
  ~SessionConnector();
  SessionConnector(const SessionConnector&) = delete;
  SessionConnector& operator=(const SessionConnector&) = delete;

  /// True when the connector could make its eventfds; without them Start always fails.
  bool ok() const { return cancel_.valid() && done_.valid(); }
  /// Starts one more attempt; false when no thread could be started.
  bool Start();
  /// Attempts started whose outcome has not been delivered yet.
  size_t in_flight() const { return attempts_.size(); }
  /// Abandons every attempt in flight, waits for their threads and drops what they made.
  void CancelAll();

 private:
  struct Attempt {
    std::thread thread;
    bool finished = false;  ///< guarded by mutex_
    Outcome outcome;        ///< guarded by mutex_ until finished
  };
  void Work(Attempt* attempt);
  /// On the loop's thread: joins the finished attempts and delivers their outcomes.
  void Collect();

  EventLoop* loop_;
  const TunnelPlan& plan_;
  OnOutcome on_outcome_;
  UniqueFd cancel_;  ///< readable = abandon; polled by every attempt as its stop fd
  UniqueFd done_;    ///< written by each attempt that finished
  std::mutex mutex_;
  std::list<Attempt> attempts_;  ///< the list itself changes on the loop's thread only
};

}  // namespace tether
