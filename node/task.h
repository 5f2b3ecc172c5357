// What a task is: the spec a user writes, the attempts the system records, and the record
// every replica derives by applying the committed log (DESIGN §3).
#ifndef MAGPIE_NODE_TASK_H_
#define MAGPIE_NODE_TASK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <msgpack.hpp>

namespace magpie {

enum class TaskState : uint8_t {
  kPending = 0,    // waiting on `after`
  kReady = 1,      // may be granted (once not_before has passed)
  kRunning = 2,    // its attempt's process runs (the holder reported it started)
  kSucceeded = 3,
  kFailed = 4,
  kCancelled = 5,
  kBlocked = 6,    // an upstream task failed, was cancelled or is blocked
  // Its process exited successfully with child tasks still going; when they have all
  // ended it runs its merge step (spec.on_children) or ends by their outcomes
  // (docs/children.md). Not an end state.
  kWaiting = 7,
  // Not a task but a schedule (docs/schedules.md): its spec is the template of the tasks
  // its group's leader fires, one committed Fire entry per slot. Ends only by cancel (rm).
  kScheduled = 8,
  // Granted to a node (the attempt holds a lease and a fencing number) whose process has not
  // started yet: held ahead by a thief for a slot that is not free, or between its Grant and
  // the holder's word that the process started (a Started entry, or its Finish).
  kAssigned = 9,
};
const char* TaskStateName(TaskState s);
std::optional<TaskState> ParseTaskState(std::string_view name);
// Every state's name, in the order a task goes through them: for errors that list them.
std::string TaskStateNames();
// An attempt holds a grant: assigned (not started) or running.
inline bool HoldsGrant(TaskState s) { return s == TaskState::kAssigned || s == TaskState::kRunning; }
inline bool IsEnded(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled ||
         s == TaskState::kBlocked;
}

// How one attempt ended.
enum class Outcome : uint8_t {
  kNone = 0,       // still running
  kSucceeded = 1,  // exit code 0
  kFailed = 2,     // non-zero exit, killed by a signal, or could not start
  kTimedOut = 3,   // killed because the task's timeout passed
  kCancelled = 4,  // killed because the task was cancelled
  kLost = 5,       // its node died or lost the lease; the process is gone
};
const char* OutcomeName(Outcome o);

// When a schedule fires (docs/schedules.md). Exactly one of cron and every_ms is set.
struct ScheduleSpec {
  std::string cron;      // five fields, UTC (node/cron.h)
  int64_t every_ms = 0;  // slots at creation + k * every_ms
  // Slots missed while no leader could fire (no quorum, every replica down) beyond the one
  // still on time: run at most this many of the latest of them late; 0 skips them all.
  int32_t catch_up = 0;
  bool no_overlap = false;  // skip a slot while the previous firing's task has not ended
  MSGPACK_DEFINE(cron, every_ms, catch_up, no_overlap);
};

// Records are msgpack arrays, not maps: a third of the bytes and far faster to decode, on
// the hottest path there is (every log entry, every stored record). They stay readable
// across versions as long as fields are only ever appended: an older array converts with
// the new trailing fields left at their defaults, and a newer one's extra fields are ignored.
struct TaskSpec {
  std::string name;
  std::vector<std::string> command;  // argv; "@noop", "@sleep S", "@fail" are built in
  std::map<std::string, std::string> env;
  std::string cwd;
  int32_t priority = 50;  // 0..100, higher first
  std::vector<std::string> after;  // task ids (names are resolved before a Submit is logged)
  std::map<std::string, std::string> labels;  // required of the node that runs it
  int32_t slots = 1;
  int64_t timeout_ms = 0;  // 0: no timeout
  int32_t max_attempts = 3;
  int64_t backoff_ms = 1000;  // first retry delay; doubles per failed attempt
  std::string idempotency_key;
  // Who submitted it, as the client said ("user@host" from the CLI): admission control
  // counts unfinished tasks per submitter (docs/security.md "Limits"). Last on the wire,
  // so records written before it existed still decode.
  std::string submitted_by;
  // Memoisation (docs/caching.md): a task with a cache key and no `after`, submitted to a
  // group that holds a successful run with the same key that ended within kCacheTtl, ends
  // at once with that run's outcome and output. The CLI's `--cache-key auto` hashes the
  // command, environment, directory and declared input files.
  std::string cache_key;
  // Child tasks (docs/children.md): the id of the running task that split itself into this
  // one. A child lives in its parent's group, so the parent's outcome is one group's
  // decision. Empty for a task that is nobody's child.
  std::string parent;
  // The merge step a parent runs once all its children have ended (argv, like command);
  // empty: the parent ends succeeded if every child succeeded, failed otherwise.
  std::vector<std::string> on_children;
  // Set: this is a schedule, and the rest of the spec is its tasks' template.
  ScheduleSpec schedule;
  // Bytes of each output stream copied to the task group's replicas when an attempt ends
  // (the last ones, if it wrote more); 0: the running node's --output-keep-bytes.
  int64_t output_keep_bytes = 0;

  bool is_schedule() const { return !schedule.cron.empty() || schedule.every_ms > 0; }

  MSGPACK_DEFINE(name, command, env, cwd, priority, after, labels, slots, timeout_ms,
                     max_attempts, backoff_ms, idempotency_key, submitted_by, cache_key, parent,
                     on_children, schedule, output_keep_bytes);
};

struct Attempt {
  uint32_t number = 0;  // the fencing token: strictly increasing per task
  std::string node;     // node id of the holder
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  int32_t exit_code = -1;
  int32_t signal = 0;
  Outcome outcome = Outcome::kNone;
  std::string reason;       // human words: "exit 1", "timeout after 5000 ms", "node restarted"
  std::string stolen_from;  // node id the task was stolen from, if it was
  uint32_t restarted_from = 0;  // attempt number this chain restarted (0: none)
  uint64_t life = 0;            // the holder's incarnation when granted
  int64_t granted_ms = 0;       // started_ms is when its process started (0: not yet)
  // Bytes its process wrote to each stream, from its Finish (-1: not known, as for an
  // attempt lost with its node).
  int64_t stdout_bytes = -1;
  int64_t stderr_bytes = -1;

  MSGPACK_DEFINE(number, node, started_ms, ended_ms, exit_code, signal, outcome, reason,
                     stolen_from, restarted_from, life, granted_ms, stdout_bytes, stderr_bytes);
};

// One committed entry that named a task, as `magpie history` shows it (the audit trail).
struct TaskEvent {
  uint64_t index = 0;  // the entry's place in its group's log
  uint64_t term = 0;
  int64_t at_ms = 0;   // the time the entry carries (submitted, granted, ended, ...)
  std::string kind;    // submit, grant, finish, cancel, restart, upstream
  uint32_t attempt = 0;
  std::string node;    // grant: the holder; finish: the attempt's node
  std::string detail;  // words: "stolen from X", "lost: lease ... expired", "refused: ..."
  bool accepted = true;
  TaskState state_after = TaskState::kPending;

  MSGPACK_DEFINE(index, term, at_ms, kind, attempt, node, detail, accepted, state_after);
};
// At most this many events per task record: the first (its submit) and the latest.
inline constexpr size_t kMaxTaskEvents = 64;

struct Task {
  std::string id;  // "<group>-<seq>"
  uint64_t seq = 0;
  TaskSpec spec;
  TaskState state = TaskState::kPending;
  std::vector<Attempt> attempts;
  int64_t submitted_ms = 0;
  int64_t started_ms = 0;   // first attempt's start
  int64_t finished_ms = 0;  // when it reached an end state
  int64_t not_before_ms = 0;  // backoff: not granted before this time
  int32_t failed_attempts = 0;  // counted against max_attempts (lost ones are not)
  int32_t lost_attempts = 0;
  std::string stdout_tail;
  std::string stderr_tail;
  std::string blocked_by;  // the upstream id that blocked it
  std::string end_reason;
  uint32_t restart_of = 0;  // set by Restart: the next attempt records it as restarted_from
  // Upstreams in other groups whose success this task's group has committed (Upstream
  // entries): the task's own record carries them, so snapshots and recovery keep them.
  std::vector<std::string> met_upstreams;
  std::string cached_from;  // a cache hit: the id of the run whose outcome it took
  std::vector<TaskEvent> history;
  // A parent's children, in submission order, and how many of them have not ended. Only
  // children with seq > children_after_seq count: a restart starts a new set.
  std::vector<std::string> children;
  int32_t children_open = 0;
  uint64_t children_after_seq = 0;
  bool merging = false;  // its children have ended and its attempts now run the merge step
  // What the running attempt last said of itself (`magpie progress`); -1: nothing yet.
  int32_t progress_percent = -1;
  std::string progress_message;
  int64_t progress_ms = 0;
  uint32_t progress_attempt = 0;
  // A schedule's record: the latest slot decided (fired or skipped; nothing at or before it
  // fires again), what it did, and whether it is paused.
  int64_t last_slot_ms = 0;
  uint64_t fired = 0;
  uint64_t skipped = 0;
  std::string last_fired;  // id of the latest task it fired
  bool paused = false;
  // A task a schedule fired: which, and for which slot.
  std::string fired_by;
  int64_t slot_ms = 0;

  MSGPACK_DEFINE(id, seq, spec, state, attempts, submitted_ms, started_ms, finished_ms,
                     not_before_ms, failed_attempts, lost_attempts, stdout_tail, stderr_tail,
                     blocked_by, end_reason, restart_of, met_upstreams, cached_from, history,
                     children, children_open, children_after_seq, merging, progress_percent,
                     progress_message, progress_ms, progress_attempt, last_slot_ms, fired,
                     skipped, last_fired, paused, fired_by, slot_ms);

  const Attempt* current_attempt() const { return attempts.empty() ? nullptr : &attempts.back(); }
};

// Checks a spec a user sent; the message says which field is wrong and why.
// Returns an empty string when the spec is valid.
std::string ValidateSpec(const TaskSpec& spec);

// Limits on what a spec may hold, so one request cannot exhaust a node.
inline constexpr size_t kMaxCommandArgs = 4096;
inline constexpr size_t kMaxSpecBytes = 256 * 1024;
inline constexpr size_t kMaxOutputTailBytes = 4096;
// The most of each output stream a task may ask to keep beyond the node that ran it.
inline constexpr int64_t kMaxOutputKeepBytes = int64_t{1} << 30;
inline constexpr int32_t kMaxLostAttempts = 10;
// How long a successful run serves cache hits after it ended.
inline constexpr int64_t kCacheTtlMs = 24LL * 3600 * 1000;
// Children one parent may have (each run's set), and the longest progress message.
inline constexpr size_t kMaxChildren = 100000;
inline constexpr size_t kMaxProgressMessageBytes = 512;

// The group a task id belongs to: ids are <group>-<seq>. Empty if it cannot be an id.
// Names may take this shape too (`part-3`): whether a string of it names a group this
// cluster has decides (NodeCore::IsTaskId).
std::string GroupOfTaskId(const std::string& id);
// The form of the ids nodes make: a home group is the first 8 hex digits of its node's id,
// so an id is 8 lowercase hex digits, '-', and a number. No name may have it (ValidateSpec),
// so a string of this form is an id on every node, whatever that node knows.
bool HasTaskIdForm(std::string_view s);

}  // namespace magpie

// Like MSGPACK_ADD_ENUM, but a number past the last enumerator does not convert (it throws
// msgpack::type_error, which every decoder turns into a Status): task records and entries
// arrive from disk and from peers, and the task table indexes arrays by these values.
#define MAGPIE_MSGPACK_CHECKED_ENUM(enum_name, last)                                          \
  namespace msgpack {                                                                        \
  MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {                                    \
    namespace adaptor {                                                                      \
    template <>                                                                              \
    struct convert<enum_name> {                                                              \
      const msgpack::object& operator()(const msgpack::object& o, enum_name& v) const {      \
        std::underlying_type_t<enum_name> n;                                                 \
        msgpack::operator>>(o, n);                                                           \
        if (n > static_cast<std::underlying_type_t<enum_name>>(last)) throw msgpack::type_error(); \
        v = static_cast<enum_name>(n);                                                       \
        return o;                                                                            \
      }                                                                                      \
    };                                                                                       \
    template <>                                                                              \
    struct object<enum_name> {                                                               \
      void operator()(msgpack::object& o, const enum_name& v) const {                        \
        msgpack::operator<<(o, static_cast<std::underlying_type_t<enum_name>>(v));           \
      }                                                                                      \
    };                                                                                       \
    template <>                                                                              \
    struct object_with_zone<enum_name> {                                                     \
      void operator()(msgpack::object::with_zone& o, const enum_name& v) const {             \
        msgpack::operator<<(o, static_cast<std::underlying_type_t<enum_name>>(v));           \
      }                                                                                      \
    };                                                                                       \
    template <>                                                                              \
    struct pack<enum_name> {                                                                 \
      template <typename Stream>                                                             \
      msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o, const enum_name& v) const { \
        return msgpack::operator<<(o, static_cast<std::underlying_type_t<enum_name>>(v));    \
      }                                                                                      \
    };                                                                                       \
    }                                                                                        \
  }                                                                                          \
  }

MAGPIE_MSGPACK_CHECKED_ENUM(magpie::TaskState, magpie::TaskState::kAssigned)
MAGPIE_MSGPACK_CHECKED_ENUM(magpie::Outcome, magpie::Outcome::kLost)

#endif  // MAGPIE_NODE_TASK_H_
