// The client protocol: versioned msgpack frames over ZeroMQ (DEALER -> the node's ROUTER).
//
// A request frame is the msgpack array [magic, version, type, request_id, body]; a reply is
// [magic, version, request_id, code, error, body]. body is the msgpack of the struct named by
// type. A frame that is not of this shape, too large, or of another version is answered
// with a clear error and never changes state.
#ifndef MAGPIE_NODE_CLIENT_PROTOCOL_H_
#define MAGPIE_NODE_CLIENT_PROTOCOL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "node/task.h"
#include "node/watch_protocol.h"

namespace magpie {

inline constexpr const char* kClientMagic = "magpie-client";
inline constexpr uint32_t kClientProtocolVersion = 1;
inline constexpr size_t kMaxClientFrameBytes = 16 * 1024 * 1024;
inline constexpr size_t kMaxTasksPerSubmit = 10000;

enum class RequestType : uint8_t {
  kSubmit = 1,
  kStatus = 2,
  kList = 3,
  kWait = 4,
  kLogs = 5,
  kCancel = 6,
  kRestart = 7,
  kMembers = 8,
  kWatch = 20,  // node/watch_protocol.h (9-19 are for requests being added alongside)
  kProgress = 9,
  kSchedule = 10,
};
const char* RequestTypeName(RequestType t);

// Submits one task or a whole pipeline atomically: every task is stored, or none.
// In spec.after, an entry may be a task id, the name of another task in the same request,
// or the name of an existing task (the most recent one of that name).
struct SubmitRequest {
  std::vector<TaskSpec> tasks;
  bool dry_run = false;  // validate and resolve, store nothing
  MSGPACK_DEFINE_MAP(tasks, dry_run);
};
struct SubmitReply {
  std::vector<std::string> ids;  // in request order
  std::vector<bool> existing;    // true where an idempotency key matched an earlier task
  MSGPACK_DEFINE_MAP(ids, existing);
};

struct StatusRequest {
  std::string id;  // an id, or a task name (the most recent task of that name)
  MSGPACK_DEFINE_MAP(id);
};
struct StatusReply {
  Task task;
  // Why a task that does not run is not running (node/pending_reason.h); "" otherwise.
  std::string pending_reason;
  MSGPACK_DEFINE_MAP(task, pending_reason);
};

struct ListRequest {
  std::string state;       // empty: any
  int64_t since_ms = 0;    // submitted at or after
  uint32_t limit = 1000;   // at most this many, oldest first
  std::string after_id;    // paging: start after this id
  MSGPACK_DEFINE_MAP(state, since_ms, limit, after_id);
};
struct ListReply {
  std::vector<Task> tasks;
  bool truncated = false;
  // Groups this node holds a replica of but whose tasks it left out: its replica has not
  // heard from a leader of the group within five election timeouts, longer than a
  // failover takes (this node is cut off from it, or was removed from the group), so what
  // it holds may be behind by any amount.
  std::vector<std::string> groups_left_out;
  MSGPACK_DEFINE_MAP(tasks, truncated, groups_left_out);
};

// Answers when every task has ended, or at timeout with their states so far.
struct WaitRequest {
  std::vector<std::string> ids;
  int64_t timeout_ms = 1000;
  MSGPACK_DEFINE_MAP(ids, timeout_ms);
};
struct WaitReply {
  std::vector<Task> tasks;
  bool all_ended = false;
  MSGPACK_DEFINE_MAP(tasks, all_ended);
};

// One piece of one stream of an attempt's output, read from whichever node holds it (the
// one that ran it, or a copy on the task group's replicas). A whole output is read by
// asking again from offset + text.size() until offset + text.size() == size, and, while
// the attempt has not ended, until it has (node/logs_reader.h).
struct LogsRequest {
  std::string id;
  bool stderr_stream = false;
  uint32_t attempt = 0;    // 0: the latest
  uint64_t offset = 0;     // first byte wanted, counted from the start of the stream
  uint32_t max_bytes = 0;  // 0 or above kLogsChunkBytes: kLogsChunkBytes
  MSGPACK_DEFINE_MAP(id, stderr_stream, attempt, offset, max_bytes);
};
inline constexpr uint32_t kLogsChunkBytes = 1024 * 1024;
struct LogsReply {
  std::string text;
  // The attempt has ended and text reaches the end of its output, with nothing missing
  // between the offset asked for and text.
  bool complete = false;
  std::string node;  // id of the node that ran the attempt
  // Where text starts: the offset asked for, or later when the only bytes to be had are a
  // copy that kept the last bytes of output larger than its bound (kept_from).
  uint64_t offset = 0;
  uint64_t size = 0;       // the stream's bytes as its process wrote them (so far, if running)
  uint64_t kept_from = 0;  // first byte the answering node holds (0: it holds them all)
  bool ended = false;      // the attempt has ended: size is final
  uint32_t attempt = 0;    // the attempt read; 0: the task has not started one
  uint32_t last_attempt = 0;
  bool task_ended = false;
  std::string node_address;  // of the node that ran the attempt
  std::string source;        // address of the node that answered with these bytes
  MSGPACK_DEFINE_MAP(text, complete, node, offset, size, kept_from, ended, attempt, last_attempt,
                     task_ended, node_address, source);
};

struct CancelRequest {
  std::string id;
  MSGPACK_DEFINE_MAP(id);
};
struct RestartRequest {
  std::string id;
  MSGPACK_DEFINE_MAP(id);
};
// Cancel and Restart answer with the task as it is once the change is committed.
using CancelReply = StatusReply;
using RestartReply = StatusReply;

// A running attempt's word on how far it has got (`magpie progress`, inside the task: the
// CLI reads MAGPIE_TASK_ID and MAGPIE_ATTEMPT). Answered once committed, with the task.
struct ProgressRequest {
  std::string id;
  uint32_t attempt = 0;
  int32_t percent = 0;
  std::string message;
  MSGPACK_DEFINE_MAP(id, attempt, percent, message);
};
using ProgressReply = StatusReply;

// Changes a schedule (docs/schedules.md): action is "pause", "resume" or "rm". Answered once
// committed, with the schedule's record. (`schedule add` is a submit of a spec with a
// schedule; `schedule list` lists state scheduled.)
struct ScheduleRequest {
  std::string id;
  std::string action;
  MSGPACK_DEFINE_MAP(id, action);
};

struct MembersRequest {
  bool unused = false;
  MSGPACK_DEFINE_MAP(unused);
};
struct MemberInfo {
  std::string id;
  std::string address;
  std::string state;  // "alive", "suspect", "dead", "left"
  uint64_t incarnation = 0;
  int32_t slots = 0;
  int32_t running = 0;
  int32_t ready = 0;
  std::map<std::string, std::string> labels;
  int64_t age_ms = 0;  // since the last update heard about it
  int64_t stolen = 0;
  int64_t given = 0;
  MSGPACK_DEFINE_MAP(id, address, state, incarnation, slots, running, ready, labels, age_ms,
                     stolen, given);
};
struct MembersReply {
  std::vector<MemberInfo> members;
  MSGPACK_DEFINE_MAP(members);
};

struct RequestFrame {
  RequestType type = RequestType::kStatus;
  uint64_t request_id = 0;
  std::string body;
};
struct ReplyFrame {
  uint64_t request_id = 0;
  Status status;
  std::string body;
};

std::string EncodeRequest(const RequestFrame& frame);
// Never throws; bad bytes give InvalidArgument with what was wrong.
Result<RequestFrame> DecodeRequest(std::string_view bytes);
std::string EncodeReply(const ReplyFrame& frame);
Result<ReplyFrame> DecodeReply(std::string_view bytes);

// Body helpers: pack any of the structs above, and unpack with errors as values.
template <typename T>
std::string PackBody(const T& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return std::string(buf.data(), buf.size());
}
Result<msgpack::object_handle> UnpackLimited(std::string_view bytes);
template <typename T>
Result<T> UnpackBody(std::string_view bytes) {
  auto oh = UnpackLimited(bytes);
  if (!oh.ok()) return oh.status();
  try {
    T v;
    oh->get().convert(v);
    return v;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed request body: ") + e.what());
  }
}

}  // namespace magpie

MSGPACK_ADD_ENUM(magpie::RequestType);

#endif  // MAGPIE_NODE_CLIENT_PROTOCOL_H_
