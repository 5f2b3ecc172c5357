// libFuzzer target: Raft messages (node/raft/raft_messages.h), decoded and stepped into a
// real RaftGroup. The input is a sequence of records (fuzz_util.h): each body is one message
// as it arrives in a PeerMessage payload; the kind byte is how far the clock moves first
// (in 10 ms units). Asserts: the decoder never crashes or throws and explains its errors; a
// message that decodes re-encodes to bytes that decode to the same message; a follower of a
// three-member group that is fed the messages, ticked and drained the way NodeCore drives it
// never crashes (its MAGPIE_CHECKs hold) and keeps applied <= commit <= last index.
#include <memory>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "node/raft/raft_group.h"
#include "storage/memory_storage.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

bool SameEntries(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].index != b[i].index || a[i].term != b[i].term || a[i].type != b[i].type ||
        a[i].payload != b[i].payload) {
      return false;
    }
  }
  return true;
}

bool Same(const RaftMessage& a, const RaftMessage& b) {
  return a.type == b.type && a.group_id == b.group_id && a.from == b.from &&
         a.from_address == b.from_address && a.to == b.to && a.term == b.term && a.index == b.index &&
         a.log_term == b.log_term && a.commit == b.commit && a.reject == b.reject &&
         a.reject_hint == b.reject_hint && a.transfer == b.transfer && a.echo_us == b.echo_us &&
         SameEntries(a.entries, b.entries) && a.members == b.members && a.offset == b.offset &&
         a.total_bytes == b.total_bytes && a.data == b.data && a.done == b.done;
}

void CheckRoundTrip(const RaftMessage& m) {
  const std::string again = EncodeRaftMessage(m);
  auto back = DecodeRaftMessage(again);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(Same(*back, m), "round trip changed the message");
  FUZZ_CHECK(EncodeRaftMessage(*back) == again);
}

std::shared_ptr<spdlog::logger> NullLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

// A follower "n2" of group g1 with members n1, n2, n3 (what the seeds speak to).
struct Follower {
  MemoryStorage storage;
  std::unique_ptr<RaftGroup> raft;
  Instant now = Instant::FromMicros(1'700'000'000'000'000);
  uint64_t applied = 0;

  Follower() {
    RaftConfig c;
    c.group_id = "g1";
    c.self_id = "n2";
    c.self_address = "10.0.0.2:7400";
    // Small bounds, so the fuzzer reaches them.
    c.max_snapshot_bytes = 1 << 16;
    c.max_uncommitted_entries = 64;
    raft = std::make_unique<RaftGroup>(c, /*seed=*/7, NullLogger());
    if (!raft->Load(storage).ok()) __builtin_trap();
    raft->Bootstrap({RaftMember{"n1", "10.0.0.1:7400", true, false},
                     RaftMember{"n2", "10.0.0.2:7400", true, false},
                     RaftMember{"n3", "10.0.0.3:7400", true, false}});
    Drain();
  }

  void Drain() {
    for (int i = 0; i < 16 && raft->HasReady(); ++i) {
      RaftReady rd = raft->TakeReady();
      if (rd.snapshot) applied = rd.snapshot->index;
      for (const Entry& e : rd.committed) {
        FUZZ_CHECK(e.index == applied + 1, "committed entries must be consecutive");
        applied = e.index;
      }
      if (!storage.Write(rd.writes, rd.sync).ok()) __builtin_trap();
      if (rd.snapshot_requested) (void)raft->ProvideSnapshot(raft->applied_index(), "state");
      raft->Advance(now);
    }
    FUZZ_CHECK(raft->applied_index() <= raft->commit_index());
    FUZZ_CHECK(raft->commit_index() <= raft->last_index());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Follower f;
  fuzz::Records records(fuzz::AsView(data, size));
  uint8_t kind = 0;
  std::string_view body;
  for (int n = 0; n < 64 && records.Next(&kind, &body); ++n) {
    f.now = f.now + Duration::Millis(10 * kind);
    auto m = DecodeRaftMessage(body);
    if (!m.ok()) {
      FUZZ_CHECK(!m.status().message().empty(), "an error must say what is wrong");
    } else {
      CheckRoundTrip(*m);
      f.raft->Step(f.now, std::move(*m));
    }
    f.raft->Tick(f.now);
    f.Drain();
  }
  // The group's durable state reloads: a restart after these messages finds what it wrote.
  f.storage.Crash();
  RaftConfig c = f.raft->config();
  RaftGroup again(c, 7, NullLogger());
  uint64_t snapshot_index = 0;  // the caller's applied state is at least the snapshot
  if (auto v = f.storage.Get(Column::kMeta, "raft/snap/g1"); v.ok() && v->has_value()) {
    auto meta = DecodeSnapshotMeta(**v);
    FUZZ_CHECK(meta.ok(), meta.status().ToString());
    snapshot_index = meta->index;
  }
  Status s = again.Load(f.storage, snapshot_index);
  FUZZ_CHECK(s.ok(), s.ToString());
  return 0;
}
