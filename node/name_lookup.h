// Resolving task names across the cluster, with no central index (promise 6: a name
// resolves to the same task on every node).
//
// A name may have been given to tasks of any group, and each group's table indexes only its
// own tasks by name. So the node asked sends the names to the leader of every group it knows
// of (from its replicas and gossip's leader hints), answers for the groups it leads itself,
// and takes, for each name, the most recent task: the later `submitted_ms`, then the greater
// id. The cost is one small message per group per lookup, bounded by the groups a cluster
// has (one per node), and only names pay it: an id names its group and is routed at once.
//
// NameLookups holds the lookups in flight; it is pure bookkeeping (no IO, no clock), so the
// core and tests drive it alike.
#ifndef MAGPIE_NODE_NAME_LOOKUP_H_
#define MAGPIE_NODE_NAME_LOOKUP_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "base/time.h"
#include "gossip/peer_message.h"
#include "node/client_protocol.h"
#include "node/replica.h"

namespace magpie {

inline constexpr auto kNameQueryType = static_cast<PeerMessageType>(80);
inline constexpr auto kNameAnswerType = static_cast<PeerMessageType>(81);
// Names one request may ask for (a wait on many names), and lookups one node holds at once.
inline constexpr size_t kMaxNamesPerLookup = 10000;
inline constexpr size_t kMaxNameLookups = 1024;

struct NameHit {
  std::string name;
  std::string id;
  int64_t submitted_ms = 0;
  MSGPACK_DEFINE(name, id, submitted_ms);
};

struct NameQuery {
  uint64_t seq = 0;
  std::string group;
  std::vector<std::string> names;
  MSGPACK_DEFINE(seq, group, names);
};

struct NameAnswer {
  uint64_t seq = 0;
  std::string group;
  bool holds_group = false;  // false: the node asked has no replica of the group
  std::vector<NameHit> hits;  // the names the group has, each its most recent task
  MSGPACK_DEFINE(seq, group, holds_group, hits);
};

// Whether a is more recent than b: the later submit, then the greater id.
bool MoreRecent(const NameHit& a, const NameHit& b);

class NameLookups {
 public:
  // A request that names tasks by name, parked until they resolve.
  struct Lookup {
    uint64_t seq = 0;
    std::vector<std::string> names;
    std::set<std::string> waiting;  // groups asked that have not answered yet
    std::set<std::string> missed;   // groups that could not be asked or did not have it
    std::map<std::string, NameHit> found;  // name -> the most recent task so far
    Instant deadline;
    ReplyTo to;
    RequestFrame frame;
    int32_t hops = 0;
  };

  // REQUIRES: size() < kMaxNameLookups. Returns the lookup's seq.
  uint64_t Begin(Lookup lookup);
  // One group's answer (or, for a group answered locally, the hits from our own table).
  // Answers for a lookup that is over, or from a group not asked, are ignored.
  void OnAnswer(const NameAnswer& answer);
  // Lookups that are complete (every group answered) or whose deadline has passed.
  std::vector<Lookup> TakeDone(Instant now);
  Instant NextDeadline() const;
  size_t size() const { return lookups_.size(); }

  // Why a name was not found: ok-free wording for the client (NotFound when every group
  // answered, Unavailable naming the groups that did not).
  static Status NotFoundError(const std::string& name, const Lookup& lookup);

 private:
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Lookup> lookups_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_NAME_LOOKUP_H_
