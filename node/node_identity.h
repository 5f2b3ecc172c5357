// Who this node is, across restarts: a random id made on first start and kept in storage.
#ifndef MAGPIE_NODE_NODE_IDENTITY_H_
#define MAGPIE_NODE_NODE_IDENTITY_H_

#include <string>

#include "base/status.h"
#include "storage/storage.h"

namespace magpie {

struct NodeIdentity {
  std::string node_id;   // 16 hex digits
  std::string group_id;  // the home group: the first 8 hex digits of the node id
  bool created = false;  // made just now (first start)
};

// Reads the identity, or makes and durably stores one on the first start.
Result<NodeIdentity> LoadOrCreateIdentity(Storage* storage);

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_IDENTITY_H_
