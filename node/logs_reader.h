// Reading a task's whole output through a node's client API, chunk by chunk (LogsRequest
// offsets), as `magpie logs` and GET /api/v1/tasks/{id}/logs do: optionally following a
// running attempt until it ends, and on across retries.
//
// LogsCursor holds the rules (which request next, what a reply adds, when it is done) with
// no IO, so they are tested alone; LogsReader drives it with a Client.
#ifndef MAGPIE_NODE_LOGS_READER_H_
#define MAGPIE_NODE_LOGS_READER_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/client.h"
#include "node/client_protocol.h"

namespace magpie {

struct LogsReadOptions {
  std::string id;  // task id or name
  bool stderr_stream = false;
  uint32_t attempt = 0;  // 0: the latest
  // Until the attempt ends, waiting for more; with all_attempts, on to each retry until
  // the task ends.
  bool follow = false;
  bool all_attempts = false;
  uint32_t max_bytes = 0;  // per request (0: the node's chunk size)
  std::chrono::milliseconds poll{250};
  std::chrono::milliseconds call_timeout = Client::kDefaultTimeout;
  // Following, a node that cannot serve for this long ends the read with its error.
  std::chrono::milliseconds error_patience{10000};
};

class LogsCursor {
 public:
  enum class Step {
    kMore,  // ask again now: more bytes are there
    kWait,  // ask again after the poll interval
    kDone,  // nothing more will come
  };
  struct Outcome {
    Step step = Step::kDone;
    std::string text;  // output to pass on, in order
    std::string note;  // for the person reading (a new attempt began), or ""
  };

  explicit LogsCursor(const LogsReadOptions& options);

  LogsRequest NextRequest() const;
  Outcome Apply(const LogsReply& reply);
  // Once done: Ok, or what of the output could not be had (only the last bytes were kept
  // beyond a node that cannot be reached; the task never ran).
  Status status() const { return status_; }
  uint32_t attempt() const { return attempt_; }
  uint64_t offset() const { return offset_; }

 private:
  LogsReadOptions options_;
  uint32_t attempt_ = 0;       // pinned by the first reply (0: ask for the latest)
  uint64_t offset_ = 0;        // next byte wanted
  uint32_t finished_attempt_ = 0;  // following retries: the attempt read to its end
  bool gap_ = false;
  Status status_;
};

class LogsReader {
 public:
  // client must outlive the reader.
  LogsReader(Client* client, LogsReadOptions options);

  // The next piece of output, possibly empty (after a poll interval with nothing new, so a
  // caller can check whether to stop). An error ends the read.
  Result<std::string> Next();
  bool done() const { return done_; }
  // Once done: Ok, or what is missing from what was passed on.
  Status status() const { return cursor_.status(); }
  // Notes since the last call ("attempt 2 began on node ...").
  std::vector<std::string> TakeNotes();
  // The latest reply (its attempt, sizes, where it came from).
  const LogsReply& last() const { return last_; }

 private:
  Client* client_;
  LogsReadOptions options_;
  LogsCursor cursor_;
  LogsReply last_;
  bool done_ = false;
  std::vector<std::string> notes_;
  std::chrono::steady_clock::time_point failing_since_{};
};

}  // namespace magpie

#endif  // MAGPIE_NODE_LOGS_READER_H_
