#include "node/output_copies.h"

#include <algorithm>

#include "node/cluster_view.h"
#include "node/log_entry.h"

namespace magpie {

namespace {

// A member reads from the runner, which answers from its disk; silence this long is a lost
// message or a runner gone, and the read is tried again (kMaxReadRetries times).
constexpr Duration kCopyReadTimeout = Duration::Seconds(2);
constexpr int kMaxReadRetries = 3;

uint64_t Bytes(int64_t n) { return n > 0 ? static_cast<uint64_t>(n) : 0; }

}  // namespace

uint64_t KeepFrom(uint64_t size, uint64_t keep) { return size > keep ? size - keep : 0; }

OutputCopies::OutputCopies(OutputCopyOptions options, const NodeCore* core, OutputStore* store,
                           OutputReader* reader, SendFn send, std::shared_ptr<spdlog::logger> logger)
    : options_(options),
      core_(core),
      store_(store),
      reader_(reader),
      send_(std::move(send)),
      log_(std::move(logger)) {}

void OutputCopies::OnStart(const StartProcess& start) {
  const auto& command = start.spec.command;
  if (command.empty() || command[0].empty() || command[0][0] == '@') return;
  const uint64_t keep = start.spec.output_keep_bytes > 0 ? static_cast<uint64_t>(start.spec.output_keep_bytes)
                                                         : options_.keep_bytes;
  keep_[Key{start.task_id, start.attempt}] = keep;
}

bool OutputCopies::Quorate(const Held& h) const {
  if (h.voters == 0) return false;
  return h.acked.size() + (h.self_voter ? 1 : 0) >= h.voters / 2 + 1;
}

bool OutputCopies::Hold(Instant now, const ExecutorEvent& event) {
  const Key key{event.task_id, event.attempt};
  auto it = keep_.find(key);
  if (it == keep_.end()) return false;
  const uint64_t keep = it->second;
  keep_.erase(it);
  const uint64_t out = Bytes(event.stdout_bytes);
  const uint64_t err = Bytes(event.stderr_bytes);
  if (keep == 0 || (out == 0 && err == 0) || core_->stopping()) return false;

  const std::string group = GroupOfTaskId(event.task_id);
  const GroupView g = ViewGroup(*core_, group);
  OutputOffer offer;
  offer.task_id = event.task_id;
  offer.attempt = event.attempt;
  offer.runner_id = core_->options().node_id;
  offer.runner_address = core_->options().client_address;
  offer.stdout_bytes = out;
  offer.stderr_bytes = err;
  offer.keep_bytes = std::min<uint64_t>(keep, kMaxOutputKeepBytes);
  Held h;
  h.event = event;
  h.deadline = now + options_.copy_wait;
  const std::string& self = core_->options().client_address;
  if (g.held) {
    h.voters = g.voters;
    h.self_voter = g.self_voter;
    if (Quorate(h)) return false;  // a group of one: this node's own file is the copy
    for (const auto& [id, address] : g.others) {
      send_(PeerMessage{self, address, kOutputOfferType, EncodePayload(offer)});
      ++h.asked;
    }
  } else if (!g.leader_address.empty()) {
    offer.relay = true;
    send_(PeerMessage{self, g.leader_address, kOutputOfferType, EncodePayload(offer)});
    ++h.asked;
  }
  if (h.asked == 0) {
    log_->warn("no member of group {} is known: the output of {} attempt {} stays only on this node",
               group, event.task_id, event.attempt);
    return false;
  }
  held_.emplace(key, std::move(h));
  return true;
}

void OutputCopies::Release(const Key& key, const char* why) {
  auto it = held_.find(key);
  if (it == held_.end()) return;
  if (why != nullptr) {
    const Held& h = it->second;
    log_->warn("output of {} attempt {}: {} of {} replicas acknowledged a copy ({}); its end is "
               "reported without waiting longer",
               key.first, key.second, h.acked.size(), h.voters == 0 ? std::string("?") : std::to_string(h.voters),
               why);
  }
  released_.push_back(std::move(it->second.event));
  held_.erase(it);
}

std::vector<ExecutorEvent> OutputCopies::TakeReleased() {
  std::vector<ExecutorEvent> out;
  out.swap(released_);
  return out;
}

void OutputCopies::ReleaseAll() {
  for (auto& [key, h] : held_) released_.push_back(std::move(h.event));
  held_.clear();
}

void OutputCopies::OnKept(Instant, const OutputKept& kept) {
  auto it = held_.find(Key{kept.task_id, kept.attempt});
  if (it == held_.end()) return;  // released already
  Held& h = it->second;
  if (!kept.ok) {
    log_->debug("node {} keeps no copy of the output of {} attempt {}: {}", kept.node_id, kept.task_id,
                kept.attempt, kept.error);
    return;
  }
  h.acked.insert(kept.node_id);
  h.voters = std::max<size_t>(h.voters, kept.voters);
  if (Quorate(h)) Release(it->first, nullptr);
}

void OutputCopies::Kept(const OutputOffer& offer, bool ok, const std::string& error) {
  OutputKept k;
  k.task_id = offer.task_id;
  k.attempt = offer.attempt;
  k.node_id = core_->options().node_id;
  k.ok = ok;
  k.error = error;
  k.voters = static_cast<uint32_t>(ViewGroup(*core_, GroupOfTaskId(offer.task_id)).voters);
  send_(PeerMessage{core_->options().client_address, offer.runner_address, kOutputKeptType, EncodePayload(k)});
}

void OutputCopies::OnOffer(Instant now, const OutputOffer& offer) {
  const Key key{offer.task_id, offer.attempt};
  const GroupView g = ViewGroup(*core_, GroupOfTaskId(offer.task_id));
  if (!g.held) return Kept(offer, false, "holds no replica of the task's group");
  if (offer.relay) {
    OutputOffer pass = offer;
    pass.relay = false;
    for (const auto& [id, address] : g.others) {
      if (id != offer.runner_id) {
        send_(PeerMessage{core_->options().client_address, address, kOutputOfferType, EncodePayload(pass)});
      }
    }
  }
  if (offer.runner_id == core_->options().node_id) return;  // the original is here
  if (store_->HasCopy(offer.task_id, offer.attempt)) return Kept(offer, true, "");
  if (copying_.count(key) != 0) return;
  for (const OutputOffer& q : queued_) {
    if (q.task_id == offer.task_id && q.attempt == offer.attempt) return;
  }
  if (queued_.size() >= kMaxQueuedCopies) {
    if (refused_++ % 1000 == 0) {
      log_->warn("{} copies of output are waiting here; refusing more ({} refused so far)", queued_.size(), refused_);
    }
    return Kept(offer, false, "too many copies of output are waiting on this node");
  }
  queued_.push_back(offer);
  StartCopies(now);
}

void OutputCopies::StartCopies(Instant now) {
  while (copying_.size() < kMaxActiveCopies && !queued_.empty()) {
    OutputOffer offer = std::move(queued_.front());
    queued_.pop_front();
    auto writer = store_->StartCopy(offer.task_id, offer.attempt);
    if (!writer.ok()) {
      log_->warn("{}", writer.status().message());
      Kept(offer, false, writer.status().message());
      continue;
    }
    const Key key{offer.task_id, offer.attempt};
    Copy c;
    c.writer = std::move(*writer);
    c.pos = KeepFrom(offer.stdout_bytes, offer.keep_bytes);
    c.end = offer.stdout_bytes;
    c.offer = std::move(offer);
    copying_.emplace(key, std::move(c));
    ReadNext(now, key);
  }
}

void OutputCopies::ReadNext(Instant now, const Key& key) {
  auto it = copying_.find(key);
  if (it == copying_.end()) return;
  Copy& c = it->second;
  if (c.pos == c.end && !c.on_stderr) {
    c.on_stderr = true;
    c.pos = KeepFrom(c.offer.stderr_bytes, c.offer.keep_bytes);
    c.end = c.offer.stderr_bytes;
  }
  if (c.pos == c.end) {
    KeptMeta meta;
    meta.stdout_size = c.offer.stdout_bytes;
    meta.stdout_from = KeepFrom(c.offer.stdout_bytes, c.offer.keep_bytes);
    meta.stderr_size = c.offer.stderr_bytes;
    meta.stderr_from = KeepFrom(c.offer.stderr_bytes, c.offer.keep_bytes);
    meta.runner_id = c.offer.runner_id;
    meta.runner_address = c.offer.runner_address;
    Status s = c.writer->Commit(meta);
    if (!s.ok()) return FailCopy(now, key, s.message());
    Kept(c.offer, true, "");
    copying_.erase(it);
    return StartCopies(now);
  }
  OutputRead read;
  read.task_id = c.offer.task_id;
  read.attempt = c.offer.attempt;
  read.stderr_stream = c.on_stderr;
  read.offset = c.pos;
  read.max_bytes = static_cast<uint32_t>(std::min<uint64_t>(kMaxOutputChunkBytes, c.end - c.pos));
  reader_->Read(now, c.offer.runner_address, read, kCopyReadTimeout,
                [this, key](Instant t, Result<OutputData> answer) { OnData(t, key, std::move(answer)); });
}

void OutputCopies::OnData(Instant now, const Key& key, Result<OutputData> answer) {
  auto it = copying_.find(key);
  if (it == copying_.end()) return;
  Copy& c = it->second;
  if (!answer.ok() || !answer->error.empty()) {
    if (++c.retries <= kMaxReadRetries) return ReadNext(now, key);
    return FailCopy(now, key, answer.ok() ? answer->error : answer.status().message());
  }
  if (!answer->found) return FailCopy(now, key, "the runner no longer has it");
  if (answer->offset != c.pos || answer->data.empty() || answer->data.size() > c.end - c.pos) {
    return FailCopy(now, key, "the runner's output does not match its offer");
  }
  Status s = c.writer->Append(c.on_stderr, answer->data);
  if (!s.ok()) return FailCopy(now, key, s.message());
  c.pos += answer->data.size();
  c.retries = 0;
  ReadNext(now, key);
}

void OutputCopies::FailCopy(Instant now, const Key& key, const std::string& why) {
  auto it = copying_.find(key);
  if (it == copying_.end()) return;
  log_->warn("no copy kept of the output of {} attempt {}: {}", key.first, key.second, why);
  Kept(it->second.offer, false, why);
  copying_.erase(it);
  StartCopies(now);
}

void OutputCopies::Tick(Instant now) {
  std::vector<Key> late;
  for (const auto& [key, h] : held_) {
    if (h.deadline <= now) late.push_back(key);
  }
  for (const Key& key : late) Release(key, "waited the bound for copies");
}

Instant OutputCopies::NextDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [key, h] : held_) next = std::min(next, h.deadline);
  return next;
}

}  // namespace magpie
