// The task table: the state every replica derives by applying a group's committed log in
// order. Apply is a pure function of the table and the entry — no clock, no randomness —
// so replicas that applied the same entries hold the same table.
#ifndef MAGPIE_NODE_TASK_TABLE_H_
#define MAGPIE_NODE_TASK_TABLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "node/log_entry.h"
#include "node/task.h"

namespace magpie {

// A running attempt whose task ended under it (cancelled, or with its parent): the node
// that holds it must stop the process.
struct RunningAttemptEnded {
  std::string task_id;
  std::string holder;
  uint32_t attempt = 0;
};

// What applying one entry did, for the core to act on (start or kill processes, answer
// clients). The table has already changed when this is returned.
struct ApplyResult {
  bool accepted = true;      // false: the entry was stale or named an unknown task
  std::string reason;        // why it was not accepted
  const Task* task = nullptr;
  bool was_running = false;  // Cancel: an attempt was running when the task was cancelled
  std::string running_holder;
  uint32_t running_attempt = 0;
};

// Where the records of ended tasks are read back from once they have left memory: the
// group's records in storage (NodeCore), or a test's map. It must hold every record the
// table has handed out through TakeDirty, as it was then.
class TaskRecordStore {
 public:
  virtual ~TaskRecordStore() = default;
  virtual std::optional<Task> Read(const std::string& id) const = 0;
  // The record as stored (msgpack of Task), for answers that only pass it on.
  virtual std::optional<std::string> ReadEncoded(const std::string& id) const {
    std::optional<Task> t = Read(id);
    if (!t.has_value()) return std::nullopt;
    return EncodePayload(*t);
  }
  // The id of every record of the group, in any order, until visit returns false.
  virtual void ForEachId(const std::function<bool(const std::string& id)>& visit) const = 0;
};

// Ended tasks leave memory (docs/DESIGN.md, "Ended tasks live on disk"): once a record is
// ended and written (handed out by TakeDirty, then EvictEnded after the write), only the
// indexes that name it stay (name, idempotency key, cache key, dependents), and any lookup
// reads it back from the store. What Apply decides is the same either way: a record read
// back is the record that was written, so replicas that evicted at different times agree.
class TaskTable {
 public:
  TaskTable() = default;
  TaskTable(const TaskTable&) = delete;
  TaskTable& operator=(const TaskTable&) = delete;

  // Without a store (the default) every record stays in memory.
  void SetRecordStore(const TaskRecordStore* store) { store_ = store; }

  // Puts back a record (recovery, or a snapshot). Indexes are rebuilt by FinishLoad. With
  // in_store, the record is the store's own copy, so an ended one need not be kept.
  void Load(Task task, bool in_store = false);
  void FinishLoad();
  // Forgets everything (a snapshot replaces the table, or the group removed us).
  void Clear();

  // Drops from memory the ended records that are clean: handed out by TakeDirty (or read
  // from the store) and not changed since. Call only once what TakeDirty returned is in
  // the store. Returns how many left.
  size_t EvictEnded();
  // Drops the ended records read back from the store and not changed since; callable
  // between any two calls into the table (a reader's pointer must not outlive its call),
  // so reads (status, wait, list) do not pile records up between writes. Does nothing
  // while records handed out by TakeDirty may not be written yet.
  size_t EvictReadBack();

  ApplyResult Apply(const Entry& entry);

  const Task* Find(const std::string& id) const;
  // Appends the record of `id`, msgpack-encoded as a Task, to out; false if there is none.
  // An ended record that left memory is copied as stored, neither decoded nor brought
  // back into memory (a Wait for 500 tasks answered by decoding them cost a fifth of a
  // leader's CPU under W1).
  bool AppendEncoded(const std::string& id, msgpack::sbuffer* out) const;
  // The most recent task with this name.
  const Task* FindByName(const std::string& name) const;
  const Task* FindByIdempotencyKey(const std::string& key) const;
  // An id or, failing that, a name.
  const Task* Lookup(const std::string& id_or_name) const;

  // Ready tasks in the order they should run: priority high to low, then oldest first.
  // Only tasks whose backoff has passed by now_ms are visited. Stops when visit says false.
  template <typename F>
  void ForEachReady(int64_t now_ms, F&& visit) const {
    for (const auto& key : ready_) {
      const Task& t = tasks_.at(std::get<2>(key));
      if (t.not_before_ms > now_ms) continue;
      if (!visit(t)) return;
    }
  }
  // The earliest backoff end after now_ms among ready tasks, or INT64_MAX.
  int64_t NextNotBefore(int64_t now_ms) const;

  // Visits tasks in submission order starting after the given sequence number. With
  // records in the store this reads them all back: for listings and snapshots, not for
  // every loop turn.
  void ForEachBySeq(uint64_t after_seq, const std::function<bool(const Task&)>& visit) const;
  // The same over the records in memory only: every task not ended, and some ended ones.
  template <typename F>
  void ForEachResidentBySeq(uint64_t after_seq, F&& visit) const {
    for (auto it = by_seq_.upper_bound(after_seq); it != by_seq_.end(); ++it) {
      if (!visit(tasks_.at(it->second))) return;
    }
  }

  // Ids whose records changed since the last call (to persist them).
  std::vector<std::string> TakeDirty();
  // Ids that reached an end state since the last call (to answer waiters).
  std::vector<std::string> TakeEnded();
  // Attempts that were running when their task was cancelled (itself or by its parent's
  // cancel or failure) since the last call: their holders kill them.
  std::vector<RunningAttemptEnded> TakeAttemptsToStop();

  // What an attempt of t runs: its command, or, for a parent whose children have all
  // ended, its merge step with the children's ids and outcomes in the environment
  // (docs/children.md). Every node that starts an attempt asks the group's table for it.
  TaskSpec RunSpec(const Task& t) const;
  // Schedules that fire (docs/schedules.md), in id order; and the spec of the tasks one fires.
  const std::set<std::string>& schedule_ids() const { return schedules_; }
  static TaskSpec FiredSpec(const Task& schedule);
  // Why parent may not take a child now, or "" when it may.
  std::string ChildrenRefusedBy(const Task& parent) const;

  // Every task of the group, in memory or not; and those in memory.
  size_t size() const { return tasks_.size() + evicted_; }
  size_t resident() const { return tasks_.size(); }
  size_t ready_count() const { return ready_.size(); }
  // Ready tasks by priority band, most urgent first: [67, 100], [34, 66], [0, 33].
  std::vector<int32_t> ReadyByBand() const {
    return {ready_by_band_[0], ready_by_band_[1], ready_by_band_[2]};
  }
  static int BandOf(int32_t priority) { return priority >= 67 ? 0 : priority >= 34 ? 1 : 2; }
  size_t CountInState(TaskState s) const { return state_counts_[static_cast<int>(s)]; }
  // Tasks not ended (pending, ready or running), in all and of one submitter.
  size_t Unfinished() const;
  size_t UnfinishedOf(const std::string& submitted_by) const {
    auto it = unfinished_by_submitter_.find(submitted_by);
    return it == unfinished_by_submitter_.end() ? 0 : it->second;
  }
  uint64_t max_seq() const { return max_seq_; }
  uint64_t stale_finishes() const { return stale_finishes_; }
  // Upstreams in other groups that pending tasks here still wait on.
  std::vector<std::string> ForeignWaits() const;
  // Ids of running tasks, in id order (a small set: at most the cluster's slots).
  const std::set<std::string>& running_ids() const { return running_; }

 private:
  using ReadyKey = std::tuple<int32_t, uint64_t, std::string>;  // -priority, seq, id

  // The record of id, in memory or read back into it from the store; nullptr if none.
  Task* Get(const std::string& id) const;
  bool Exists(const std::string& id) const { return Get(id) != nullptr; }
  // Get for an id an index holds: the record must exist.
  Task& At(const std::string& id) const;
  static ReadyKey KeyOf(const Task& t) { return {-t.spec.priority, t.seq, t.id}; }

  // Appends the entry's event to the task's history (the audit trail), refused or not.
  void RecordEvent(const std::string& id, TaskEvent ev, const ApplyResult& r);
  ApplyResult ApplySubmit(const SubmitEntry& e);
  ApplyResult ApplyGrant(const GrantEntry& e);
  ApplyResult ApplyFinish(const FinishEntry& e);
  ApplyResult ApplyCancel(const CancelEntry& e);
  ApplyResult ApplyRestart(const RestartEntry& e);
  ApplyResult ApplyUpstream(const UpstreamEntry& e);
  ApplyResult ApplyProgress(const ProgressEntry& e);
  ApplyResult ApplyStarted(const StartedAttempt& s);
  // The attempt's process started: an assigned task is running from then.
  void MarkStarted(Task& t, Attempt& a, int64_t started_ms);
  ApplyResult ApplyFire(const FireEntry& e);
  ApplyResult ApplySchedulePause(const SchedulePauseEntry& e);
  // Children (docs/children.md).
  bool CountsAsChild(const Task& child, const Task& parent) const {
    return child.seq > parent.children_after_seq;
  }
  // A child's end (or return from it by restart) changes its parent's open count.
  void OnChildOpenChanged(const Task& child, int delta);
  // Parents queued by OnChildOpenChanged: waiting ones whose children have all ended merge
  // or end. Runs until no parent is left to move (a parent's end may finish its own parent).
  void AdvanceParents();
  // End without cancelling children (End does that too).
  void EndOne(Task& t, TaskState s, int64_t at_ms, std::string reason);
  // Cancels every child of root that has not ended, and theirs, at at_ms.
  void CancelChildren(const Task& root, int64_t at_ms);
  bool IsForeign(const Task& t, const std::string& up) const;
  // Upstreams of t not yet succeeded here (foreign ones not yet reported met, which are
  // registered in foreign_waits_).
  int CountUnmet(const Task& t);
  // Cache (docs/caching.md): successful runs by cache key, most recent last, and the lookup
  // a new task makes. Order-independent, so a recovered table picks what the live one did.
  void AddCacheSource(const Task& t);
  void RemoveCacheSource(const Task& t);
  const Task* CacheHitFor(const Task& t) const;

  // Every state change goes through here, so the indexes and counters stay right.
  void SetState(Task& t, TaskState s);
  // Counts t into (+1) or out of (-1) state_counts_ and unfinished_by_submitter_.
  void Count(const Task& t, int delta);
  void Touch(const Task& t) { dirty_.insert(t.id); }
  // Upstream counts that are not yet succeeded; a failed/cancelled/blocked one blocks.
  void ResolveDependencies(Task& t);
  // A task whose attempt ended short of success, with attempts left: ready again, or
  // pending (or blocked) on an upstream restarted while that attempt ran.
  void RetryOnceUpstreamsAllow(Task& t);
  void OnSucceeded(const Task& t);
  void BlockDownstream(const Task& t, int64_t at_ms);
  void UnblockDownstream(const Task& t);
  void End(Task& t, TaskState s, int64_t at_ms, std::string reason);

  // Records in memory (mutable: a const lookup may read one back from the store).
  mutable std::map<std::string, Task> tasks_;
  mutable std::map<uint64_t, std::string> by_seq_;  // of the records in memory
  const TaskRecordStore* store_ = nullptr;
  mutable size_t evicted_ = 0;  // records in the store only
  uint64_t max_seq_ = 0;
  // Ended records that may leave memory at the next EvictEnded if still clean: written by
  // the caller since TakeDirty, or loaded from a snapshot.
  std::vector<std::string> evict_candidates_;
  // Ended records read back from the store: clean copies, free to leave at any time.
  mutable std::vector<std::string> read_back_;
  // The last id the store was asked for and did not have; valid until the next eviction.
  mutable std::string not_stored_;
  std::map<std::string, std::string> by_name_;  // name -> id of the most recent
  std::map<std::string, std::string> by_key_;   // idempotency key -> id
  // cache key -> successful runs (not hits) by (finished_ms, seq, id)
  std::map<std::string, std::set<std::tuple<int64_t, uint64_t, std::string>>> cache_sources_;
  // upstream -> downstream ids, in id order: the same order live and after recovery, so
  // what is derived from walking them (blocked_by) is the same too.
  std::map<std::string, std::set<std::string>> dependents_;
  std::map<std::string, int> unmet_;  // pending task -> upstreams not yet succeeded
  // upstream in another group -> its dependents here that still wait for its outcome
  std::map<std::string, std::set<std::string>> foreign_waits_;
  std::set<ReadyKey> ready_;
  std::set<std::pair<int64_t, std::string>> backoff_;  // ready tasks with a not_before
  std::set<std::string> running_;
  std::set<std::string> dirty_;
  std::vector<std::string> ended_;
  size_t state_counts_[10] = {};
  std::set<std::string> schedules_;  // ids of schedules that fire (state scheduled)
  // Parents whose open-children count reached zero during the entry being applied: they
  // move on (merge or end) once the entry's own changes are done, at the entry's time.
  std::set<std::string> parents_to_check_;
  int64_t apply_at_ms_ = 0;
  uint64_t apply_index_ = 0;  // the entry being applied, for events it causes elsewhere
  uint64_t apply_term_ = 0;
  std::vector<RunningAttemptEnded> attempts_to_stop_;
  std::map<std::string, size_t> unfinished_by_submitter_;  // no entry at zero
  int32_t ready_by_band_[3] = {};
  uint64_t stale_finishes_ = 0;
};

// The seq in a task id (<group>-<seq>), or 0 when it has none.
uint64_t SeqOfTaskId(const std::string& id);

// Backoff before retry n (n = failed attempts so far, from 1): base * 2^(n-1), capped at 1 h.
int64_t BackoffMillis(int64_t base_ms, int32_t failed_attempts);

}  // namespace magpie

#endif  // MAGPIE_NODE_TASK_TABLE_H_
