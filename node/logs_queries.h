// `logs` requests, answered by the driver of whichever node a client asked: it looks the
// task up through the core's routed status path (so the record comes from the group's
// leader, wherever that is), then reads the asked bytes from this node's disk, from the
// node that ran the attempt, or from a copy on the task group's replicas, in that order
// of preference. A copy that kept only the last bytes serves only when nothing whole can
// be had, and the reply says how much it kept.
#ifndef MAGPIE_NODE_LOGS_QUERIES_H_
#define MAGPIE_NODE_LOGS_QUERIES_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/time.h"
#include "node/client_protocol.h"
#include "node/node_core.h"
#include "node/output_reader.h"
#include "node/output_store.h"

namespace magpie {

class LogsQueries {
 public:
  using ReplyFn = std::function<void(const ReplyTo&, const ReplyFrame&)>;
  using AskCoreFn = std::function<void(const ReplyTo&, const RequestFrame&)>;

  // Queries open at once (each may hold a chunk of up to 1 MiB); past it a request is
  // refused (Busy) rather than queued.
  static constexpr size_t kMaxQueries = 256;

  // core, store and reader must outlive this.
  LogsQueries(const NodeCore* core, const OutputStore* store, OutputReader* reader,
              ReplyFn reply, AskCoreFn ask_core, std::shared_ptr<spdlog::logger> logger);
  LogsQueries(const LogsQueries&) = delete;
  LogsQueries& operator=(const LogsQueries&) = delete;

  // local_record: take the task's record from this node's own replicas instead of asking
  // its group's leader (the node is read-only and steps no core).
  void OnRequest(Instant now, const ReplyTo& to, const std::string& body, bool local_record = false);
  // A reply the core sent: true if it answers one of our lookups (it is then consumed).
  bool OnCoreReply(Instant now, const ReplyTo& to, const ReplyFrame& frame);
  // Answers queries that have waited too long.
  void Tick(Instant now);
  Instant NextDeadline() const;

  // Whether a reply route is one of our lookups (never a ZeroMQ identity: those are not
  // allowed to start with a zero byte unless they are the 5-byte generated ones).
  static bool IsLookupRoute(const std::string& route);

 private:
  struct Found {
    OutputChunk chunk;
    std::string source;  // address that served it
  };
  struct Query {
    ReplyTo to;
    LogsRequest req;
    Instant deadline;
    int lookups = 0;
    bool local_record = false;
    std::string cached_from;  // the task whose output a cache hit took
    // Known once the record is in.
    std::string task_id;
    std::string group;
    uint32_t attempt = 0;
    uint32_t last_attempt = 0;
    bool task_ended = false;
    bool ended = false;
    int64_t known_size = -1;
    std::string runner_id;
    std::string runner_address;
    bool runner_gone = false;
    std::deque<std::string> sources;  // addresses still to ask ("" : this node's disk)
    std::set<std::string> tried;
    std::optional<Found> partial;  // the best copy that lacks the asked bytes
    bool waiting_read = false;
    bool runner_silent = false;    // the runner was asked and did not answer
    bool runner_lacks = false;     // the runner answered that it does not have it
    std::vector<std::string> failures;
  };

  void Lookup(Instant now, uint64_t seq, Query& q, const std::string& id);
  void OnRecord(Instant now, uint64_t seq, Query& q, const Task& task);
  void TryNext(Instant now, uint64_t seq);
  void OnAnswer(Instant now, uint64_t seq, const std::string& source, Result<OutputData> answer);
  // Keeps or uses a chunk; true when the query was answered with it.
  bool Consider(uint64_t seq, Query& q, OutputChunk chunk, const std::string& source);
  void AnswerWith(uint64_t seq, Query& q, const OutputChunk& chunk, const std::string& source);
  void AnswerNothingFound(uint64_t seq, Query& q);
  void Fail(uint64_t seq, const Status& status);
  void Finish(uint64_t seq, const ReplyFrame& frame);
  LogsReply ReplyBase(const Query& q) const;

  const NodeCore* core_;
  const OutputStore* store_;
  OutputReader* reader_;
  ReplyFn reply_;
  AskCoreFn ask_core_;
  std::shared_ptr<spdlog::logger> log_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Query> queries_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_LOGS_QUERIES_H_
