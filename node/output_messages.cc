#include "node/output_messages.h"

namespace magpie {

namespace {

constexpr size_t kMaxTaskIdBytes = 128;
constexpr size_t kMaxAddressBytes = 512;

Status CheckRef(const std::string& task_id, uint32_t attempt) {
  if (!IsSafeTaskId(task_id)) return Status::InvalidArgument("not a task id");
  if (attempt == 0) return Status::InvalidArgument("attempt 0");
  return Status::Ok();
}

}  // namespace

bool IsSafeTaskId(const std::string& id) {
  if (id.empty() || id.size() > kMaxTaskIdBytes || id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status CheckOutputRead(const OutputRead& m) {
  if (Status s = CheckRef(m.task_id, m.attempt); !s.ok()) return s;
  if (m.offset > kMaxOutputOffset) return Status::InvalidArgument("offset out of range");
  if (m.max_bytes == 0 || m.max_bytes > kMaxOutputChunkBytes) {
    return Status::InvalidArgument("max_bytes out of range");
  }
  return Status::Ok();
}

Status CheckOutputData(const OutputData& m) {
  if (m.size > kMaxOutputOffset || m.kept_from > m.size || m.offset > m.size) {
    return Status::InvalidArgument("sizes out of range");
  }
  if (m.data.size() > kMaxOutputChunkBytes || m.offset + m.data.size() > m.size) {
    return Status::InvalidArgument("data out of range");
  }
  if (m.holders.size() > kMaxOutputHolders) return Status::InvalidArgument("too many holders");
  for (const auto& h : m.holders) {
    if (h.empty() || h.size() > kMaxAddressBytes) return Status::InvalidArgument("bad holder");
  }
  if (m.runner_address.size() > kMaxAddressBytes) return Status::InvalidArgument("bad address");
  return Status::Ok();
}

Status CheckOutputOffer(const OutputOffer& m) {
  if (Status s = CheckRef(m.task_id, m.attempt); !s.ok()) return s;
  if (m.runner_id.empty() || m.runner_id.size() > kMaxTaskIdBytes) return Status::InvalidArgument("bad runner id");
  if (m.runner_address.empty() || m.runner_address.size() > kMaxAddressBytes) {
    return Status::InvalidArgument("bad runner address");
  }
  if (m.stdout_bytes > kMaxOutputOffset || m.stderr_bytes > kMaxOutputOffset) {
    return Status::InvalidArgument("sizes out of range");
  }
  if (m.keep_bytes == 0 || m.keep_bytes > static_cast<uint64_t>(kMaxOutputKeepBytes)) {
    return Status::InvalidArgument("keep_bytes out of range");
  }
  return Status::Ok();
}

Status CheckOutputKept(const OutputKept& m) {
  if (Status s = CheckRef(m.task_id, m.attempt); !s.ok()) return s;
  if (m.node_id.empty() || m.node_id.size() > kMaxTaskIdBytes) return Status::InvalidArgument("bad node id");
  if (m.voters > 64) return Status::InvalidArgument("voters out of range");
  return Status::Ok();
}

}  // namespace magpie
