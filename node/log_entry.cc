#include "node/log_entry.h"

namespace magpie {

std::string EncodeEntry(const Entry& e) { return EncodePayload(e); }

Result<Entry> DecodeEntry(std::string_view bytes) {
  auto e = DecodePayload<Entry>(bytes);
  if (!e.ok()) return e.status();
  if (static_cast<uint8_t>(e->type) > static_cast<uint8_t>(EntryType::kRestart)) {
    return Status::Corruption("log entry " + std::to_string(e->index) + " has unknown type " +
                              std::to_string(static_cast<int>(e->type)));
  }
  return e;
}

Status CheckEntryPayload(const Entry& e) {
  Status s;
  switch (e.type) {
    case EntryType::kSubmit: s = DecodePayload<SubmitEntry>(e.payload).status(); break;
    case EntryType::kGrant: s = DecodePayload<GrantEntry>(e.payload).status(); break;
    case EntryType::kFinish: s = DecodePayload<FinishEntry>(e.payload).status(); break;
    case EntryType::kCancel: s = DecodePayload<CancelEntry>(e.payload).status(); break;
    case EntryType::kRestart: s = DecodePayload<RestartEntry>(e.payload).status(); break;
    case EntryType::kUpstream: s = DecodePayload<UpstreamEntry>(e.payload).status(); break;
    case EntryType::kProgress: s = DecodePayload<ProgressEntry>(e.payload).status(); break;
    case EntryType::kFire: s = DecodePayload<FireEntry>(e.payload).status(); break;
    case EntryType::kSchedulePause: s = DecodePayload<SchedulePauseEntry>(e.payload).status(); break;
    case EntryType::kStarted: s = DecodePayload<StartedEntry>(e.payload).status(); break;
    default: return Status::Ok();
  }
  if (s.ok()) return s;
  return Status::Corruption("entry " + std::to_string(e.index) + " of type " +
                            std::to_string(static_cast<int>(e.type)) + ": " + s.message());
}

}  // namespace magpie
