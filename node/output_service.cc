#include "node/output_service.h"

#include <algorithm>

#include "node/cluster_view.h"
#include "node/log_entry.h"

namespace magpie {

namespace {

// Bytes of output served to peers per loop turn: a flood of reads cannot keep the loop from
// its other work. A read past it is dropped; its reader times out and asks again.
constexpr uint64_t kMaxServedBytesPerTurn = 64 * 1024 * 1024;

template <typename T>
Result<T> Decode(const PeerMessage& m, Status (*check)(const T&)) {
  auto v = DecodePayload<T>(m.payload);
  if (!v.ok()) return v.status();
  if (Status s = check(*v); !s.ok()) return s;
  return v;
}

}  // namespace

OutputService::OutputService(OutputServiceOptions options, const NodeCore* core, Hooks hooks,
                             std::shared_ptr<spdlog::logger> logger)
    : log_(std::move(logger)),
      core_(core),
      hooks_(std::move(hooks)),
      store_(options.data_dir + "/output", options.data_dir + "/output-kept"),
      reader_(core->options().client_address, hooks_.send_peer),
      queries_(core, &store_, &reader_, hooks_.reply, hooks_.ask_core, log_),
      copies_(options.copies, core, &store_, &reader_, hooks_.send_peer, log_) {}

bool OutputService::OnPeerMessage(Instant now, const PeerMessage& m) {
  if (!IsOutputMessage(m.type)) return false;
  Status bad;
  if (m.type == kOutputReadType) {
    auto r = Decode<OutputRead>(m, CheckOutputRead);
    if (r.ok()) ServeRead(m.from, *r);
    bad = r.status();
  } else if (m.type == kOutputDataType) {
    auto d = Decode<OutputData>(m, CheckOutputData);
    if (d.ok()) reader_.OnData(now, *d);
    bad = d.status();
  } else if (m.type == kOutputOfferType) {
    auto o = Decode<OutputOffer>(m, CheckOutputOffer);
    if (o.ok()) copies_.OnOffer(now, *o);
    bad = o.status();
  } else {
    auto k = Decode<OutputKept>(m, CheckOutputKept);
    if (k.ok()) copies_.OnKept(now, *k);
    bad = k.status();
  }
  if (!bad.ok() && dropped_++ % 1000 == 0) {
    log_->warn("dropped a malformed output message from {}: {} ({} so far)", m.from, bad.ToString(), dropped_);
  }
  return true;
}

void OutputService::ServeRead(const std::string& from, const OutputRead& read) {
  if (served_this_turn_ >= kMaxServedBytesPerTurn) {
    ++dropped_;
    return;
  }
  OutputData d;
  d.seq = read.seq;
  auto chunk = store_.Read(read.task_id, read.attempt, read.stderr_stream, read.offset, read.max_bytes);
  if (chunk.ok()) {
    d.found = true;
    d.size = chunk->size;
    d.kept_from = chunk->kept_from;
    d.offset = chunk->offset;
    d.data = std::move(chunk->data);
    d.runner_address = std::move(chunk->runner_address);
    served_this_turn_ += d.data.size();
  } else if (chunk.status().IsNotFound()) {
    // Not here: name the group's other members this node knows of, where copies are kept.
    const GroupView g = ViewGroup(*core_, GroupOfTaskId(read.task_id));
    for (const auto& [id, address] : g.others) {
      if (address != from && d.holders.size() < kMaxOutputHolders) d.holders.push_back(address);
    }
  } else {
    d.found = true;
    d.error = chunk.status().message();
  }
  hooks_.send_peer(PeerMessage{core_->options().client_address, from, kOutputDataType, EncodePayload(d)});
}

void OutputService::OnLogsRequest(Instant now, const ReplyTo& to, const std::string& body, bool local_record) {
  queries_.OnRequest(now, to, body, local_record);
}

bool OutputService::OnCoreReply(Instant now, const ReplyTo& to, const ReplyFrame& frame) {
  return queries_.OnCoreReply(now, to, frame);
}

void OutputService::Tick(Instant now) {
  served_this_turn_ = 0;
  reader_.Tick(now);
  queries_.Tick(now);
  copies_.Tick(now);
}

Instant OutputService::NextDeadline() const {
  return std::min({reader_.NextDeadline(), queries_.NextDeadline(), copies_.NextDeadline()});
}

}  // namespace magpie
