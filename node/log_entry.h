// The entries of a group's replicated log. All task state is a function of the committed
// entries, applied in order (DESIGN §4); nothing else changes a task.
#ifndef MAGPIE_NODE_LOG_ENTRY_H_
#define MAGPIE_NODE_LOG_ENTRY_H_

#include <cstdint>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "node/task.h"

namespace magpie {

enum class EntryType : uint8_t {
  kNoop = 0,    // a new leader's first entry
  kSubmit = 1,
  kGrant = 2,
  kFinish = 3,
  kCancel = 4,
  kRestart = 5,
  kUpstream = 6,  // the outcome of an upstream in another group, as its leader reported it
  kProgress = 7,  // what a running attempt said of itself (`magpie progress`)
  kFire = 8,      // a schedule's slot: fired (a new task) or skipped
  kSchedulePause = 9,
  kStarted = 10,  // processes of granted attempts have started
};

// A task in another group that tasks here wait on has ended (or does not exist): the
// dependents' group commits what its leader learned, so every replica agrees on it.
struct UpstreamEntry {
  std::string upstream_id;
  bool exists = true;
  TaskState state = TaskState::kSucceeded;  // an end state
  int64_t finished_ms = 0;
  MSGPACK_DEFINE(upstream_id, exists, state, finished_ms);
};

struct SubmitEntry {
  std::string id;
  uint64_t seq = 0;
  TaskSpec spec;  // `after` holds resolved task ids
  int64_t submitted_ms = 0;
  MSGPACK_DEFINE(id, seq, spec, submitted_ms);
};

struct GrantEntry {
  std::string task_id;
  uint32_t attempt = 0;  // fencing token: previous attempt + 1
  std::string holder;    // node id that runs it
  std::string stolen_from;
  int64_t granted_ms = 0;
  // The holder's incarnation when granted: after a restart the node knows its attempts of
  // earlier lives died with it, and only those.
  uint64_t holder_life = 0;
  MSGPACK_DEFINE(task_id, attempt, holder, stolen_from, granted_ms, holder_life);
};

struct FinishEntry {
  std::string task_id;
  uint32_t attempt = 0;
  Outcome outcome = Outcome::kFailed;
  int32_t exit_code = -1;
  int32_t signal = 0;
  int64_t ended_ms = 0;
  std::string reason;
  std::string stdout_tail;
  std::string stderr_tail;
  // When its process started, for an attempt whose start was not committed before it ended
  // (built-ins, quick processes): 0 if it never started.
  int64_t started_ms = 0;
  // A lost attempt its holder handed back without starting it: it does not count against
  // the lost attempts that fail a task (nothing of it ran, so it cannot be what kills nodes).
  bool handed_back = false;
  int64_t stdout_bytes = -1;  // what the process wrote in all (-1: not known)
  int64_t stderr_bytes = -1;
  MSGPACK_DEFINE(task_id, attempt, outcome, exit_code, signal, ended_ms, reason, stdout_tail,
                     stderr_tail, started_ms, handed_back, stdout_bytes, stderr_bytes);
};

// The holders' word that the processes of these attempts have started: an assigned task
// becomes running. One entry carries every start a leader heard of in one loop turn, so a
// busy group pays one entry per turn, not one per task. A start of an attempt that is no
// longer current is ignored, as a stale Finish is.
struct StartedAttempt {
  std::string task_id;
  uint32_t attempt = 0;
  int64_t started_ms = 0;
  MSGPACK_DEFINE(task_id, attempt, started_ms);
};
struct StartedEntry {
  std::vector<StartedAttempt> starts;
  MSGPACK_DEFINE(starts);
};

struct CancelEntry {
  std::string task_id;
  int64_t at_ms = 0;
  MSGPACK_DEFINE(task_id, at_ms);
};

struct RestartEntry {
  std::string task_id;
  int64_t at_ms = 0;
  MSGPACK_DEFINE(task_id, at_ms);
};

// Progress is committed like everything else a task's record shows, so every replica (and
// so every node's status and dashboard) shows the same. It names the attempt: a report from
// an attempt that is no longer current is refused, as a stale Finish is.
struct ProgressEntry {
  std::string task_id;
  uint32_t attempt = 0;
  int32_t percent = 0;  // 0..100
  std::string message;
  int64_t at_ms = 0;
  MSGPACK_DEFINE(task_id, attempt, percent, message, at_ms);
};

// One slot of a schedule, decided once: the entry carries the slot, and applying it moves
// the schedule's last_slot_ms past it, so a second Fire for the same slot (a new leader's,
// a stale leader's) is refused wherever and whenever it commits.
struct FireEntry {
  std::string schedule_id;
  int64_t slot_ms = 0;
  uint64_t skipped_before = 0;  // earlier slots the leader skipped by the missed-firing policy
  bool run = true;              // false: this slot is skipped too (missed)
  std::string task_id;          // the task it creates when it runs; its spec is the template
  uint64_t seq = 0;
  int64_t at_ms = 0;            // when the leader fired it
  MSGPACK_DEFINE(schedule_id, slot_ms, skipped_before, run, task_id, seq, at_ms);
};

struct SchedulePauseEntry {
  std::string schedule_id;
  bool paused = true;
  int64_t at_ms = 0;
  MSGPACK_DEFINE(schedule_id, paused, at_ms);
};

struct Entry {
  uint64_t index = 0;
  uint64_t term = 0;
  EntryType type = EntryType::kNoop;
  std::string payload;  // msgpack of the entry struct named by type

  MSGPACK_DEFINE(index, term, type, payload);
};

// Encoding: msgpack, with errors returned as values (never thrown across the boundary).
std::string EncodeEntry(const Entry& e);
Result<Entry> DecodeEntry(std::string_view bytes);

// Whether a task entry's payload decodes as the record its type names, as TaskTable::Apply
// will need it to once the entry commits. Noop and types the task table does not apply
// (Raft's own) are not looked at. The core checks entries as they arrive from a leader and
// as they are read back from disk, so a bad one is refused there, not applied.
Status CheckEntryPayload(const Entry& e);

template <typename T>
std::string EncodePayload(const T& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return std::string(buf.data(), buf.size());
}

// Records come from disk and, inside Raft messages and snapshots, from peers: decoding is
// bounded by the record's size. No array or map can hold more elements than there are bytes
// left, so the bound refuses nothing real while a forged length cannot make msgpack
// allocate gigabytes up front (five bytes, an array header, used to ask for 64 GiB).
inline msgpack::unpack_limit RecordLimit(size_t bytes) {
  return msgpack::unpack_limit(/*array=*/bytes, /*map=*/bytes, /*str=*/bytes, /*bin=*/bytes,
                               /*ext=*/bytes, /*depth=*/64);
}

template <typename T>
Result<T> DecodePayload(std::string_view bytes) {
  try {
    size_t offset = 0;
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr,
                                                nullptr, RecordLimit(bytes.size()));
    T v;
    oh.get().convert(v);
    return v;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("undecodable record: ") + e.what());
  }
}

}  // namespace magpie

MSGPACK_ADD_ENUM(magpie::EntryType);

#endif  // MAGPIE_NODE_LOG_ENTRY_H_
