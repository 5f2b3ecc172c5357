// Task output beyond the node that ran it (docs/DESIGN.md "Output"): the driver's part of
// promise 6, kept out of the core because it is all file and network IO. It answers
// `logs` from any node (LogsQueries), serves reads of the output this node holds, and
// copies an ended attempt's output to its group's members before the core hears that the
// attempt ended (OutputCopies). Runs on the driver's thread; never blocks on a peer.
#ifndef MAGPIE_NODE_OUTPUT_SERVICE_H_
#define MAGPIE_NODE_OUTPUT_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/time.h"
#include "gossip/peer_message.h"
#include "node/client_protocol.h"
#include "node/effects.h"
#include "node/logs_queries.h"
#include "node/node_core.h"
#include "node/output_copies.h"
#include "node/output_reader.h"
#include "node/output_store.h"

namespace magpie {

struct OutputServiceOptions {
  std::string data_dir;  // output/ (the executor's) and output-kept/ (copies) are below it
  OutputCopyOptions copies;
};

class OutputService {
 public:
  struct Hooks {
    std::function<void(PeerMessage)> send_peer;
    std::function<void(const ReplyTo&, const ReplyFrame&)> reply;
    // A request for the core, made by the driver at its next turn (not from inside a
    // Ready being carried out).
    std::function<void(const ReplyTo&, const RequestFrame&)> ask_core;
  };

  // core must outlive this.
  OutputService(OutputServiceOptions options, const NodeCore* core, Hooks hooks,
                std::shared_ptr<spdlog::logger> logger);
  OutputService(const OutputService&) = delete;
  OutputService& operator=(const OutputService&) = delete;

  // A peer message: true when it is one of ours (it is then consumed, even if malformed).
  bool OnPeerMessage(Instant now, const PeerMessage& message);
  // local_record: the node is read-only (its core is not stepped): use its own replicas'
  // records instead of asking the task group's leader.
  void OnLogsRequest(Instant now, const ReplyTo& to, const std::string& body, bool local_record);
  // A reply the core sent: true when it answers one of our lookups (consumed).
  bool OnCoreReply(Instant now, const ReplyTo& to, const ReplyFrame& frame);

  void OnStart(const StartProcess& start) { copies_.OnStart(start); }
  // True when the exit waits for its output's copies; it comes back from TakeReleasedExits.
  bool HoldExit(Instant now, const ExecutorEvent& event) { return copies_.Hold(now, event); }
  std::vector<ExecutorEvent> TakeReleasedExits() { return copies_.TakeReleased(); }
  void ReleaseAllExits() { copies_.ReleaseAll(); }

  // Every loop turn: deadlines, and the budget of bytes served per turn.
  void Tick(Instant now);
  Instant NextDeadline() const;

  uint64_t dropped_messages() const { return dropped_; }

 private:
  void ServeRead(const std::string& from, const OutputRead& read);

  const std::shared_ptr<spdlog::logger> log_;
  const NodeCore* core_;
  Hooks hooks_;
  OutputStore store_;
  OutputReader reader_;
  LogsQueries queries_;
  OutputCopies copies_;
  uint64_t served_this_turn_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_OUTPUT_SERVICE_H_
