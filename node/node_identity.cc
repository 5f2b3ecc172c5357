#include "node/node_identity.h"

#include <cstdio>
#include <random>

namespace magpie {

namespace {
constexpr const char* kNodeIdKey = "node_id";

bool IsHex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

Result<NodeIdentity> LoadOrCreateIdentity(Storage* storage) {
  NodeIdentity id;
  auto v = storage->Get(Column::kMeta, kNodeIdKey);
  if (!v.ok()) return v.status();
  if (v->has_value()) {
    id.node_id = **v;
    if (!IsHex16(id.node_id)) {
      return Status::Corruption("stored node id '" + id.node_id + "' is not 16 hex digits");
    }
  } else {
    // Outside the core, so a real random source is right: ids must differ across machines.
    std::random_device rd;
    uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(r));
    id.node_id = buf;
    id.created = true;
    WriteBatch b;
    b.Put(Column::kMeta, kNodeIdKey, id.node_id);
    Status s = storage->Write(b, /*sync=*/true);
    if (!s.ok()) return s;
  }
  id.group_id = id.node_id.substr(0, 8);
  return id;
}

}  // namespace magpie
