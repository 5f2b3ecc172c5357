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

}  // namespace magpie
