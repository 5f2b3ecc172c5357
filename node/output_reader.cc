#include "node/output_reader.h"

#include <vector>

#include "node/log_entry.h"

namespace magpie {

OutputReader::OutputReader(std::string self_address, SendFn send)
    : self_address_(std::move(self_address)), send_(std::move(send)) {}

void OutputReader::Read(Instant now, const std::string& address, OutputRead read, Duration timeout,
                        Callback done) {
  const uint64_t seq = next_seq_++;
  if (pending_.size() >= kMaxOutstanding) {
    failed_now_[seq] = Pending{address, now, std::move(done)};
    return;
  }
  read.seq = seq;
  pending_[seq] = Pending{address, now + timeout, std::move(done)};
  send_(PeerMessage{self_address_, address, kOutputReadType, EncodePayload(read)});
}

bool OutputReader::OnData(Instant now, const OutputData& data) {
  auto it = pending_.find(data.seq);
  if (it == pending_.end()) return false;
  Callback done = std::move(it->second.done);
  pending_.erase(it);
  done(now, data);
  return true;
}

void OutputReader::Tick(Instant now) {
  std::vector<std::pair<std::string, Callback>> expired;
  for (auto& [seq, p] : failed_now_) {
    expired.emplace_back(p.address + " (too many reads of output are out at once)", std::move(p.done));
  }
  failed_now_.clear();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now) {
      expired.emplace_back(it->second.address, std::move(it->second.done));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [address, done] : expired) {
    done(now, Status::Unavailable("node " + address + " did not answer"));
  }
}

Instant OutputReader::NextDeadline() const {
  if (!failed_now_.empty()) return Instant();
  Instant next = Instant::Never();
  for (const auto& [seq, p] : pending_) next = std::min(next, p.deadline);
  return next;
}

}  // namespace magpie
