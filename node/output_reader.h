// Reads of task output from other nodes (OutputRead out, OutputData back), each with a
// deadline: the driver's half of a request/answer exchange, matched by sequence number.
// Callbacks run on the driver's thread, from OnData or Tick, never from Read itself.
#ifndef MAGPIE_NODE_OUTPUT_READER_H_
#define MAGPIE_NODE_OUTPUT_READER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "base/status.h"
#include "base/time.h"
#include "gossip/peer_message.h"
#include "node/output_messages.h"

namespace magpie {

class OutputReader {
 public:
  // The answer, or Unavailable when none came in time (Busy when too many are out).
  using Callback = std::function<void(Instant now, Result<OutputData> answer)>;
  using SendFn = std::function<void(PeerMessage)>;

  // Reads out at once; past it, a read fails at once (Busy) instead of queueing.
  static constexpr size_t kMaxOutstanding = 1024;

  OutputReader(std::string self_address, SendFn send);
  OutputReader(const OutputReader&) = delete;
  OutputReader& operator=(const OutputReader&) = delete;

  // Sends `read` (its seq is set here) to `address`; `done` gets the answer or the failure.
  void Read(Instant now, const std::string& address, OutputRead read, Duration timeout, Callback done);
  // An answer from a peer: false if it matches no read (late, or not ours).
  bool OnData(Instant now, const OutputData& data);
  // Fails the reads whose deadline passed.
  void Tick(Instant now);
  Instant NextDeadline() const;
  size_t outstanding() const { return pending_.size(); }

 private:
  struct Pending {
    std::string address;
    Instant deadline;
    Callback done;
  };

  const std::string self_address_;
  SendFn send_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Pending> pending_;
  // Failures found in Read (too many out) wait for the next Tick, so no callback runs
  // inside the caller's own call.
  std::map<uint64_t, Pending> failed_now_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_OUTPUT_READER_H_
