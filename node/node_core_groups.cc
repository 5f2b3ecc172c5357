// NodeCore's replica groups (DESIGN §4, docs/replication.md): loading and creating
// replicas, carrying out their Raft Readies (apply, persist, snapshot, compact), serving
// as leader, and keeping each group at R members chosen by rendezvous hashing.
#include <algorithm>

#include "base/buggify.h"
#include "gossip/gossip_codec.h"
#include "node/leader_lease.h"
#include "node/node_core.h"
#include "node/stored_task_records.h"

namespace magpie {

namespace {

constexpr const char* kHardStatePrefix = "raft/hs/";

std::string AppliedKey(const std::string& group) { return "applied/" + group; }

// Rendezvous (highest random weight) hashing: every node ranks the candidates for a group
// the same way without talking to anyone, and a node joining or leaving moves only the
// groups it ranks high in.
uint64_t RendezvousWeight(const std::string& group, const std::string& node) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then a finalizer for the low bits
  for (char c : group + "/" + node) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}


}  // namespace

RaftConfig NodeCore::RaftConfigFor(const std::string& group) const {
  RaftConfig c;
  c.group_id = group;
  c.self_id = options_.node_id;
  c.self_address = options_.client_address;
  c.election_timeout = options_.election_timeout;
  c.heartbeat_interval = options_.heartbeat_interval;
  // A snapshot from a peer is refused unless it decodes (InstallSnapshot relies on it).
  c.check_snapshot = [](std::string_view data) { return DecodePayload<std::vector<Task>>(data).status(); };
  return c;
}

Replica* NodeCore::FindReplica(const std::string& group) {
  auto it = replicas_.find(group);
  return it == replicas_.end() ? nullptr : it->second.get();
}

const Replica* NodeCore::FindReplica(const std::string& group) const {
  auto it = replicas_.find(group);
  return it == replicas_.end() ? nullptr : it->second.get();
}

const Replica* NodeCore::replica(const std::string& group) const { return FindReplica(group); }

std::vector<std::string> NodeCore::groups() const {
  std::vector<std::string> out;
  for (const auto& [g, r] : replicas_) out.push_back(g);
  return out;
}

Replica* NodeCore::AddReplica(const std::string& group) {
  uint64_t seed = options_.seed ^ RendezvousWeight(group, options_.node_id);
  auto r = std::make_unique<Replica>(RaftConfigFor(group), seed, log_);
  Replica* p = r.get();
  p->records = std::make_unique<StoredTaskRecords>(storage_, group);
  p->table.SetRecordStore(p->records.get());
  replicas_[group] = std::move(r);
  return p;
}

Status NodeCore::LoadReplica(Replica& r) {
  uint64_t applied = 0;
  auto a = storage_->Get(Column::kMeta, AppliedKey(r.group));
  if (!a.ok()) return a.status();
  if (a->has_value()) {
    auto v = DecodePayload<uint64_t>(**a);
    if (!v.ok()) return Status::Corruption("applied index of " + r.group + ": " + v.status().message());
    applied = *v;
  }
  Status decode_error;
  size_t loaded = 0;
  Status s = storage_->Scan(Column::kTasks, GroupTasksBegin(r.group), GroupTasksEnd(r.group),
                            [&](std::string_view key, std::string_view value) {
                              auto t = DecodePayload<Task>(value);
                              if (!t.ok()) {
                                decode_error = Status::Corruption("task record " + std::string(key) +
                                                                  ": " + t.status().message());
                                return false;
                              }
                              r.table.Load(std::move(*t), /*in_store=*/true);
                              ++loaded;
                              return true;
                            });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  r.table.FinishLoad();
  s = r.raft.Load(*storage_, applied);
  if (!s.ok()) return Status::FromCode(s.code(), "group " + r.group + ": " + s.message());
  // Entries read back must decode as their records before any is applied: a corrupt one is
  // an error here rather than an abort at replay (found by disk_records_fuzzer).
  s = storage_->Scan(Column::kLog, r.group + "/" + EncodeRaftIndex(r.raft.snapshot_index() + 1),
                     r.group + "0", [&](std::string_view, std::string_view value) {
                       auto e = DecodeRaftEntry(value);
                       if (e.ok() && e->index > r.raft.last_index()) return false;
                       Status c = e.ok() ? CheckEntryPayload(*e) : e.status();
                       if (!c.ok()) decode_error = Status::Corruption("log of group " + r.group + ": " + c.message());
                       return c.ok();
                     });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  r.last_compacted = applied;
  log_->info("group {}: {} task records at applied index {}, log to {} (term {})", r.group, loaded,
             applied, r.raft.last_index(), r.raft.term());
  return Status::Ok();
}

Status NodeCore::Recover(const Storage* storage, Instant now) {
  MAGPIE_CHECK(storage_ == nullptr, "Recover called twice");
  storage_ = storage;
  last_now_ = std::max(last_now_, now);
  recovered_at_ = now;

  // A store from before replica groups has the home group's log without Raft state; its
  // entries would be read as uncommitted and lost. Refuse it rather than lose tasks.
  auto old = storage->Get(Column::kMeta, "hardstate/" + options_.group_id);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    return Status::FailedPrecondition(
        "this data directory was written by a magpie before replica groups (format 1); "
        "finish its tasks with that version, or start this node with an empty --data");
  }

  std::set<std::string> found{options_.group_id};
  Status s = storage->Scan(Column::kMeta, kHardStatePrefix, std::string(kHardStatePrefix) + "\xff",
                           [&](std::string_view key, std::string_view) {
                             found.insert(std::string(key.substr(std::string_view(kHardStatePrefix).size())));
                             return true;
                           });
  if (!s.ok()) return s;
  for (const auto& g : found) {
    Replica* r = AddReplica(g);
    s = LoadReplica(*r);
    if (!s.ok()) return s;
    const bool fresh = r->raft.term() == 0 && r->raft.last_index() == 0 &&
                       r->raft.members().members.empty();
    if (g == options_.group_id && fresh) {
      // The node's first start: its home group begins with it alone.
      r->raft.Bootstrap({RaftMember{options_.node_id, options_.client_address, true, false}});
    } else if (r->raft.members().members.empty() && g != options_.group_id) {
      // A tombstone of a group we left: keep no replica until its leader adds us again.
      replicas_.erase(g);
    }
  }
  for (const auto& [g, r] : replicas_) {
    replay_to_[g] = r->raft.last_index();
    r->raft.Tick(now);  // a group of one leads at once
  }
  s = StartGossip(*storage, now);
  if (!s.ok()) return s;
  return Status::Ok();
}

bool NodeCore::replayed() const {
  for (const auto& [g, last] : replay_to_) {
    const Replica* r = FindReplica(g);
    if (r != nullptr && r->raft.applied_index() < last) return false;
  }
  return true;
}

std::string NodeCore::AddressOf(const std::string& node_id) const {
  if (node_id.empty()) return "";
  if (node_id == options_.node_id) return options_.client_address;
  for (const auto& [g, r] : replicas_) {
    if (const RaftMember* m = r->raft.members().Find(node_id)) return m->address;
  }
  if (membership_) {
    if (auto v = membership_->Find(node_id, last_now_)) return v->address;
  }
  return "";
}

std::string NodeCore::LeaderAddress(const std::string& group, const std::string& hint) const {
  if (const Replica* r = FindReplica(group)) {
    if (r->raft.is_leader()) return options_.client_address;
    std::string a = AddressOf(r->raft.leader_id());
    if (!a.empty()) return a;
  }
  if (membership_) {
    // Gossip's leader hints: every node announces the groups it leads.
    std::string a = membership_->LeaderHintAddress(group);
    if (!a.empty()) return a;
  }
  return hint;
}

bool NodeCore::CanGrant(const Replica& r, Instant now) const {
  // Grant or renew only while no other leader can exist (node/leader_lease.h). During a
  // transfer the group takes no proposals either, so nothing granted could be recorded.
  return r.serving && HoldsLeaderLease(r.raft, now, options_.election_timeout, options_.max_drift_percent);
}

Result<uint64_t> NodeCore::Propose(Replica& r, EntryType type, std::string payload) {
  return r.raft.Propose(last_now_, type, std::move(payload));
}

void NodeCore::StepRaft(Instant now, const PeerMessage& m) {
  auto decoded = DecodeRaftMessage(m.payload);
  if (!decoded.ok()) {
    ++dropped_peer_messages_;
    log_->debug("dropped a raft message from {}: {}", m.from, decoded.status().ToString());
    return;
  }
  // Entries that would not decode when applied are refused now, with the whole message: once
  // committed they would stop every replica that applies them (TaskTable::Apply checks).
  for (const Entry& e : decoded->entries) {
    Status c = CheckEntryPayload(e);
    if (!c.ok()) {
      ++dropped_peer_messages_;
      log_->warn("dropped a raft {} from {}: {}", RaftMessageTypeName(decoded->type), m.from, c.ToString());
      return;
    }
  }
  const std::string group = decoded->group_id;
  Replica* r = FindReplica(group);
  if (r == nullptr) {
    // A leader is bringing us into its group (or we were removed and it has not heard):
    // only a leader's messages create a replica, within the bound on groups.
    const bool from_leader = decoded->type == RaftMessageType::kAppend ||
                             decoded->type == RaftMessageType::kHeartbeat ||
                             decoded->type == RaftMessageType::kInstallSnapshot;
    if (!from_leader || replicas_.size() >= options_.max_groups || stopping_ ||
        GroupOfTaskId(group + "-1") != group) {
      ++dropped_peer_messages_;
      return;
    }
    r = AddReplica(group);
    Status s = LoadReplica(*r);
    if (!s.ok()) {
      log_->error("cannot open a replica of group {}: {}", group, s.ToString());
      replicas_.erase(group);
      return;
    }
    log_->info("joining group {} (leader {})", group, decoded->from);
  }
  r->raft.Step(now, std::move(*decoded));
}

void NodeCore::TakeRaftReady(Replica& r, Ready& rd) {
  RaftReady rr = r.raft.TakeReady();
  r.in_ready = true;
  if (rr.lost_leadership) LostLeadership(r);
  if (rr.became_leader) {
    log_->info("group {}: leading in term {}", r.group, r.raft.term());
    r.serving = false;
  }
  // Snapshots of the table, for a peer or for compaction, are taken before this Ready's
  // entries are applied: until then the table reflects exactly raft.applied_index(), which
  // moves only at Advance. Taken after, they labelled records with an index they were
  // ahead of, and a replay from it re-applied entries to records that already held them.
  if (rr.snapshot_requested) {
    // Encoded one record at a time (the table's ended records are read back from disk one
    // at a time), as the msgpack array of Task that InstallSnapshot decodes.
    msgpack::sbuffer body;
    msgpack::packer<msgpack::sbuffer> pack(body);
    uint32_t count = 0;
    r.table.ForEachBySeq(0, [&](const Task& t) {
      pack.pack(t);
      ++count;
      return true;
    });
    msgpack::sbuffer head;
    msgpack::packer<msgpack::sbuffer>(head).pack_array(count);
    std::string data(head.data(), head.size());
    data.append(body.data(), body.size());
    Status s = r.raft.ProvideSnapshot(r.raft.applied_index(), std::move(data));
    if (!s.ok()) log_->warn("group {}: snapshot not provided: {}", r.group, s.ToString());
  }
  MaybeCompact(r, rd);
  if (rr.snapshot) InstallSnapshot(r, *rr.snapshot, rd);
  ApplyEntries(r, rr.committed, rd);
  rd.writes.Append(std::move(rr.writes));
  rd.sync = rd.sync || rr.sync;
  // Removed from the group by its leader: nothing more of it is ours to keep.
  if (!rr.committed.empty() && !r.raft.members().members.empty() &&
      r.raft.members().Find(options_.node_id) == nullptr) {
    ForgetReplica(r, rd);
  }
  for (size_t i = 0; i < rr.messages.size(); ++i) {
    RaftOutMessage& m = rr.messages[i];
    std::string to = m.to_address.empty() ? AddressOf(m.to_id) : m.to_address;
    if (to.empty()) continue;  // unknown yet; Raft resends
    PeerMessage pm{options_.client_address, std::move(to), m.type, std::move(m.payload)};
    if (i < rr.messages_before_write) {
      // Kept ahead of every message that must wait for the write.
      rd.messages.insert(rd.messages.begin() + static_cast<ptrdiff_t>(rd.messages_before_write), std::move(pm));
      ++rd.messages_before_write;
    } else {
      rd.messages.push_back(std::move(pm));
    }
  }
}

void NodeCore::InstallSnapshot(Replica& r, const RaftSnapshotToApply& snap, Ready& rd) {
  auto tasks = DecodePayload<std::vector<Task>>(snap.data);
  MAGPIE_CHECK(tasks.ok(), "group " + r.group + ": undecodable snapshot: " + tasks.status().ToString());
  r.table.Clear();
  rd.writes.DeleteRange(Column::kTasks, GroupTasksBegin(r.group), GroupTasksEnd(r.group));
  for (auto& t : *tasks) {
    rd.writes.Put(Column::kTasks, t.id, EncodePayload(t));
    r.table.Load(std::move(t));
  }
  r.table.FinishLoad();
  r.table.TakeDirty();
  rd.writes.Put(Column::kMeta, AppliedKey(r.group), EncodePayload(snap.index));
  r.last_compacted = snap.index;
  log_->info("group {}: installed a snapshot at index {} ({} tasks)", r.group, snap.index, tasks->size());
}

Entry NodeCore::StampedLive(const Entry& e) const {
  // The deliberate bug: an end applied live takes this node's clock for its time, while a
  // replay takes the entry's, so a table recovered from the log differs from the one held.
  if (e.type != EntryType::kFinish || !replayed()) return e;
  auto f = DecodePayload<FinishEntry>(e.payload);
  if (!f.ok()) return e;
  f->ended_ms = last_now_.unix_millis();
  Entry out = e;
  out.payload = EncodePayload(*f);
  return out;
}

void NodeCore::ApplyEntries(Replica& r, const std::vector<Entry>& entries, Ready& rd) {
  for (const auto& e : entries) {
    if (e.type != EntryType::kNoop && e.type != kRaftConfigEntryType) {
      ApplyResult res = r.table.Apply(MAGPIE_BUGGIFY_ON(apply_reads_clock) ? StampedLive(e) : e);
      RecordWatchEvent(r, e, res);
      OnApplied(last_now_, r, e, res);
    } else {
      // Proposals at this index (of another term) were lost: OnApplied answers them.
      OnApplied(last_now_, r, e, ApplyResult{false, "leadership changed"});
    }
    // Every index, no-ops included: an observer that sees a gap must take it for one.
    rd.applied.push_back(AppliedEntry{r.group, e});
    if (!r.serving && r.raft.is_leader() && e.term == r.raft.term()) BecameServing(r);
  }
  if (!entries.empty()) AnswerWaiters(r);
  if (!entries.empty()) AnswerWatchers();
}

void NodeCore::BecameServing(Replica& r) {
  r.serving = true;
  sweep_due_ = true;
  r.next_seq = r.table.max_seq() + 1;
  // Attempts that ran under the previous leader keep running under their leases: wait one
  // full lease before taking any back, so a holder that finds us in time keeps its attempt.
  r.leases_valid_from = last_now_ + options_.lease;
  // The deliberate bug: take back at once what ran under the previous leader.
  const bool no_wait = MAGPIE_BUGGIFY_ON(regrant_without_lease_wait);
  if (no_wait) r.leases_valid_from = last_now_;
  r.leases.clear();
  // Running tasks are never out of memory.
  r.table.ForEachResidentBySeq(0, [&](const Task& t) {
    if (!HoldsGrant(t.state) || t.attempts.empty()) return true;
    const Attempt& a = t.attempts.back();
    if (a.node == options_.node_id && a.life == life_) return true;  // swept if idle
    // The deliberate bug: our own attempts of an earlier life are forgotten altogether.
    if (a.node == options_.node_id && MAGPIE_BUGGIFY_ON(forget_lost_on_recover)) return true;
    Lease& l = r.leases[t.id];
    l.holder_id = a.node;
    l.attempt = a.number;
    l.last_renewal = no_wait ? last_now_ - LeaderLease() : last_now_;
    return true;
  });
  // Ends waiting for a leader of this group are ours to propose now.
  for (auto it = finishes_.begin(); it != finishes_.end();) {
    it = it->second.group == r.group ? SendFinish(last_now_, it) : std::next(it);
  }
  log_->info("group {}: serving as leader (term {}, {} tasks, {} running elsewhere)", r.group,
             r.raft.term(), r.table.size(), r.leases.size());
}

void NodeCore::LostLeadership(Replica& r) {
  if (r.serving) log_->info("group {}: no longer leading", r.group);
  sweep_due_ = true;
  r.serving = false;
  // Grants to ourselves that may never commit: give the slots back. If one commits after
  // all, nobody runs it and its lease at the new leader runs out.
  for (const auto& [id, slots] : r.granting) used_slots_ -= slots;
  used_slots_ = std::max(used_slots_, static_cast<int32_t>(0));
  r.granting.clear();
  for (auto& [idx, p] : r.pending) {
    ReplyError(p.what.to, p.what.type,
               Status::Unavailable("the leader of group " + r.group + " changed before the "
                                   "request committed; it may or may not have taken effect: retry "
                                   "(with an idempotency key a submit is safe to repeat)"));
  }
  r.pending.clear();
  for (auto& [idx, ps] : r.pending_steals) {
    SendPeer(ps.what.thief_address, kStealReplyType, StealReply{ps.what.seq, options_.node_id, {}});
  }
  r.pending_steals.clear();
  r.pending_finish_acks.clear();
  r.leases.clear();
  r.inflight_keys.clear();
  r.inflight_names.clear();
  r.inflight_ids.clear();
  r.upstream_proposed.clear();
  r.fires_proposed.clear();
}

void NodeCore::MaybeCompact(Replica& r, Ready& rd) {
  const uint64_t applied = r.raft.applied_index();
  if (applied < r.last_compacted + options_.compact_every) return;
  // The changed records and the applied index they reflect go in this batch; the log they
  // replace is deleted in the next (Compact's contract). Between snapshots the log alone
  // is the truth, so a task that moved three times is written once, not three times.
  for (const auto& id : r.table.TakeDirty()) {
    if (const Task* t = r.table.Find(id)) rd.writes.Put(Column::kTasks, id, EncodePayload(*t));
  }
  rd.writes.Put(Column::kMeta, AppliedKey(r.group), EncodePayload(applied));
  Status s = r.raft.Compact(applied);
  if (!s.ok()) log_->warn("group {}: compaction at {} refused: {}", r.group, applied, s.ToString());
  r.last_compacted = applied;
}

void NodeCore::ForgetReplica(Replica& r, Ready& rd) {
  WriteBatch batch;
  Status s = r.raft.EraseKeepingTombstone(&batch);
  if (!s.ok()) return;  // not yet out by its own committed configuration
  log_->info("group {}: removed from the group; dropping its replica", r.group);
  batch.DeleteRange(Column::kTasks, GroupTasksBegin(r.group), GroupTasksEnd(r.group));
  batch.Delete(Column::kMeta, AppliedKey(r.group));
  rd.writes.Append(std::move(batch));
  rd.sync = true;
  r.table.Clear();
  r.removed = true;  // dropped after Advance, once the batch is written
}

void NodeCore::ManageMembers(Replica& r, Instant now) {
  if (!r.serving || membership_ == nullptr || now < r.next_membership_check) return;
  r.next_membership_check = now + Duration::Seconds(1);
  const RaftMembership& cfg = r.raft.members();
  if (r.raft.last_config_index() > r.raft.commit_index()) return;  // one change at a time

  // Replace a member gossip has called dead for replace_after (§4.1: remove, then add).
  for (const auto& m : cfg.members) {
    if (m.id == options_.node_id) continue;
    auto v = membership_->Find(m.id, now);
    // A member gossip does not know counts as gone only once this node has been up for
    // replace_after: right after a restart gossip knows nobody yet, and a leader elected
    // then would remove live members.
    const bool gone = (!v.has_value() && now - recovered_at_ >= options_.replace_after) ||
                      (v.has_value() && (v->state == MemberState::kDead || v->state == MemberState::kLeft) &&
                       Duration::Millis(v->state_age_ms) >= options_.replace_after);
    if (gone) {
      // A copy: the proposal replaces the configuration cfg and m live in.
      const RaftMember member = m;
      auto res = r.raft.ProposeMembershipChange(now, RaftChangeKind::kRemove, member);
      if (res.ok()) log_->info("group {}: removing {}, dead for {} s or more", r.group, member.id, options_.replace_after.micros() / 1000000);
      return;
    }
  }
  // Grow to R voters from the live nodes ranked highest for this group.
  if (static_cast<int32_t>(cfg.members.size()) >= options_.replication) return;
  // Only a group short of members looks at the whole membership (at 1,000 nodes that is
  // worth avoiding once a second per group).
  std::map<std::string, MemberView> views;
  for (auto& m : membership_->Members(now)) views[m.id] = std::move(m);
  std::vector<std::pair<uint64_t, const MemberView*>> candidates;
  for (const auto& [id, v] : views) {
    if (v.is_self || v.state != MemberState::kAlive || cfg.Find(id) != nullptr) continue;
    candidates.push_back({RendezvousWeight(r.group, id), &v});
  }
  if (candidates.empty()) return;
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const MemberView* pick = candidates.front().second;
  auto res = r.raft.ProposeMembershipChange(now, RaftChangeKind::kAddVoter,
                                            RaftMember{pick->id, pick->address, true, false});
  if (res.ok()) log_->info("group {}: adding {} at {}", r.group, pick->id, pick->address);
}

}  // namespace magpie
