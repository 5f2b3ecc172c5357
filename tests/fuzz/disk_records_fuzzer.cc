// libFuzzer target: the records a node reads back from its store — Raft log entries, hard
// state, snapshot metadata and membership changes (node/raft/raft_messages.h), the
// EncodeEntry format (node/log_entry.h), task records and snapshot data (msgpack of
// Task, std::vector<Task>), applied indexes and incarnations, and the payloads of committed
// entries. The first byte picks the decoder; the last choice builds a whole store from
// records (fuzz_util.h: the kind picks the key) and recovers a NodeCore from it.
//
// Asserts: no decoder crashes or throws, and each explains its errors; what decodes
// re-encodes to bytes that decode to the same thing; task records load into a TaskTable;
// and recovery from any store either fails with a Status or gives a core that ticks.
#include <memory>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "node/log_entry.h"
#include "node/node_core.h"
#include "node/raft/raft_log.h"
#include "node/raft/raft_messages.h"
#include "node/task_table.h"
#include "storage/memory_storage.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

template <typename T>
Result<T> Explained(Result<T> r) {
  if (!r.ok()) FUZZ_CHECK(!r.status().message().empty(), "an error must say what is wrong");
  return r;
}

// Any record whose encoder is EncodePayload: encode(decode(x)) is a fixed point.
template <typename T>
Result<T> PayloadRoundTrip(std::string_view bytes) {
  auto v = Explained(DecodePayload<T>(bytes));
  if (!v.ok()) return v;
  const std::string once = EncodePayload(*v);
  auto back = DecodePayload<T>(once);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(EncodePayload(*back) == once, "round trip changed the record");
  return v;
}

bool SameEntry(const Entry& a, const Entry& b) {
  return a.index == b.index && a.term == b.term && a.type == b.type && a.payload == b.payload;
}

void RaftEntry(std::string_view bytes) {
  auto e = Explained(DecodeRaftEntry(bytes));
  if (!e.ok()) return;
  auto back = DecodeRaftEntry(EncodeRaftEntry(*e));
  FUZZ_CHECK(back.ok() && SameEntry(*back, *e), "raft entry round trip");
}

void ConfigChange(std::string_view bytes) {
  auto c = Explained(DecodeConfigChange(bytes));
  if (!c.ok()) return;
  auto back = DecodeConfigChange(EncodeConfigChange(*c));
  FUZZ_CHECK(back.ok() && back->kind == c->kind && back->member == c->member && back->after == c->after,
             "membership change round trip");
}

void HardState(std::string_view bytes) {
  auto h = Explained(DecodeHardState(bytes));
  if (!h.ok()) return;
  auto back = DecodeHardState(EncodeHardState(*h));
  FUZZ_CHECK(back.ok() && back->term == h->term && back->vote == h->vote && back->commit == h->commit,
             "hard state round trip");
}

void SnapshotMeta(std::string_view bytes) {
  auto m = Explained(DecodeSnapshotMeta(bytes));
  if (!m.ok()) return;
  auto back = DecodeSnapshotMeta(EncodeSnapshotMeta(*m));
  FUZZ_CHECK(back.ok() && back->index == m->index && back->term == m->term && back->members == m->members,
             "snapshot metadata round trip");
}

void EncodeEntryRecord(std::string_view bytes) {
  auto e = Explained(DecodeEntry(bytes));
  if (!e.ok()) return;
  auto back = DecodeEntry(EncodeEntry(*e));
  FUZZ_CHECK(back.ok() && SameEntry(*back, *e), "log entry round trip");
}

void TaskRecord(std::string_view bytes) {
  auto t = PayloadRoundTrip<Task>(bytes);
  if (!t.ok()) return;
  TaskTable table;  // as recovery loads it
  table.Load(std::move(*t));
  table.FinishLoad();
}

void SnapshotData(std::string_view bytes) {
  auto tasks = PayloadRoundTrip<std::vector<Task>>(bytes);
  if (!tasks.ok()) return;
  TaskTable table;  // as InstallSnapshot loads it
  for (auto& t : *tasks) table.Load(std::move(t));
  table.FinishLoad();
}

std::shared_ptr<spdlog::logger> NullLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

// The kind of a store record picks its key (tests/fuzz/corpus_writer.cc writes seeds from a
// real node's store this way). The body's first byte is an index or a sequence number
// where the key needs one.
std::string KeyOf(uint8_t kind, std::string_view* body, Column* column) {
  auto first_byte = [&]() -> uint8_t {
    if (body->empty()) return 0;
    uint8_t b = static_cast<uint8_t>((*body)[0]);
    body->remove_prefix(1);
    return b;
  };
  *column = Column::kMeta;
  switch (kind % 8) {
    case 0: *column = Column::kLog; return "g1/" + EncodeRaftIndex(first_byte());
    case 1: return "raft/hs/g1";
    case 2: return "raft/snap/g1";
    case 3: return "applied/g1";
    case 4: *column = Column::kTasks; return "g1-" + std::to_string(first_byte());
    case 5: return "incarnation";
    case 6: return "raft/hs/g2";
    default: *column = Column::kLog; return "g2/" + EncodeRaftIndex(first_byte());
  }
}

void Store(std::string_view bytes) {
  MemoryStorage storage;
  WriteBatch batch;
  fuzz::Records records(bytes);
  uint8_t kind = 0;
  std::string_view body;
  while (records.Next(&kind, &body)) {
    Column column;
    std::string key = KeyOf(kind, &body, &column);
    batch.Put(column, key, body);
  }
  if (!storage.Write(batch, true).ok()) __builtin_trap();

  CoreOptions o;
  o.node_id = "00000000000000aa";
  o.group_id = "g1";
  o.client_address = "127.0.0.1:7400";
  o.slots = 2;
  Instant now = Instant::FromMicros(1'700'000'000'000'000);
  NodeCore core(o, NullLogger());
  Status s = core.Recover(&storage, now);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty(), "an error must say what is wrong");
    return;
  }
  for (int turn = 0; turn < 8; ++turn) {
    now = now + Duration::Millis(300);
    core.Tick(now);
    for (int i = 0; i < 16 && core.HasReady(); ++i) {
      Ready rd = core.TakeReady();
      if (!storage.Write(rd.writes, rd.sync).ok()) __builtin_trap();
      for (const auto& sp : rd.starts) {
        core.OnExecutorEvent(now, ExecutorEvent{ExecutorEvent::Kind::kExited, sp.task_id, sp.attempt,
                                                0, 0, "", "", ""});
      }
      core.Advance(now);
    }
  }
}

using Decoder = void (*)(std::string_view);
// The order is the seeds' selector byte (tests/fuzz/corpus_writer.cc): append only.
constexpr Decoder kDecoders[] = {
    RaftEntry,
    ConfigChange,
    HardState,
    SnapshotMeta,
    EncodeEntryRecord,
    TaskRecord,
    SnapshotData,
    [](std::string_view b) { (void)PayloadRoundTrip<uint64_t>(b); },  // applied, incarnation
    [](std::string_view b) { (void)PayloadRoundTrip<SubmitEntry>(b); },
    [](std::string_view b) { (void)PayloadRoundTrip<GrantEntry>(b); },
    [](std::string_view b) { (void)PayloadRoundTrip<FinishEntry>(b); },
    [](std::string_view b) { (void)PayloadRoundTrip<CancelEntry>(b); },
    [](std::string_view b) { (void)PayloadRoundTrip<RestartEntry>(b); },
    [](std::string_view b) { (void)PayloadRoundTrip<UpstreamEntry>(b); },
    Store,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = fuzz::AsView(data, size);
  const size_t which = fuzz::Selector(&bytes, std::size(kDecoders));
  kDecoders[which](bytes);
  return 0;
}
