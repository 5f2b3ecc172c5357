// Raft's messages between the members of one group, and their msgpack codec. One flat
// struct for every kind, after etcd-io/raft's raftpb.Message: each kind uses the fields its
// comment names and the codec writes only those.
//
// Wire form: a msgpack array [kind, group, from, from_address, to, term, ...fields of the
// kind]. The PeerMessageType of the carrying PeerMessage equals the kind (16..26, inside
// the range gossip/peer_message.h reserves for replica groups). Decoding is bounded and
// never throws: malformed input is a Status the caller counts and drops.
#ifndef MAGPIE_NODE_RAFT_RAFT_MESSAGES_H_
#define MAGPIE_NODE_RAFT_RAFT_MESSAGES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "gossip/peer_message.h"
#include "node/log_entry.h"
#include "node/raft/raft_types.h"

namespace magpie {

// The numbers are on the wire: never reuse one.
enum class RaftMessageType : uint8_t {
  kPreVote = 16,                   // index/log_term: candidate's last entry; term: term+1
  kPreVoteResponse = 17,           // reject; term: the request's term when granted
  kVote = 18,                      // index/log_term: candidate's last entry; transfer
  kVoteResponse = 19,              // reject
  kAppend = 20,                    // index/log_term: entry before `entries`; commit; echo_us
  kAppendResponse = 21,            // index: last matched (or rejected prev); reject_hint, log_term
  kHeartbeat = 22,                 // commit (≤ the follower's match); echo_us
  kHeartbeatResponse = 23,         // echo_us
  kInstallSnapshot = 24,           // index/log_term: snapshot's last entry; members; offset,
                                   // total_bytes, data (one chunk); echo_us
  kInstallSnapshotResponse = 25,   // index: snapshot index; offset: bytes held; done; echo_us
  kTimeoutNow = 26,                // leadership transfer: campaign at once
};
inline constexpr uint8_t kFirstRaftMessageType = 16;
inline constexpr uint8_t kLastRaftMessageType = 26;

const char* RaftMessageTypeName(RaftMessageType type);
inline PeerMessageType ToPeerMessageType(RaftMessageType type) {
  return static_cast<PeerMessageType>(type);
}
// True for the PeerMessageTypes this codec owns.
bool IsRaftPeerMessageType(PeerMessageType type);

struct RaftMessage {
  RaftMessageType type = RaftMessageType::kHeartbeat;
  std::string group_id;
  std::string from;          // sender's node id
  std::string from_address;  // sender's HOST:PORT (may be empty)
  std::string to;            // receiver's node id
  uint64_t term = 0;

  uint64_t index = 0;
  uint64_t log_term = 0;
  uint64_t commit = 0;
  bool reject = false;
  uint64_t reject_hint = 0;  // AppendResponse: follower's index to probe from
  bool transfer = false;     // Vote: sent because of TimeoutNow; bypasses stickiness
  // The leader's clock when it sent the request, echoed back unchanged by the follower so
  // the leader knows which of its sends a follower has answered (lease reasoning, §6.4).
  int64_t echo_us = 0;
  std::vector<Entry> entries;

  // InstallSnapshot chunk (members only in the chunk at offset 0).
  RaftMembership members;
  uint64_t offset = 0;
  uint64_t total_bytes = 0;
  std::string data;
  bool done = false;
};

std::string EncodeRaftMessage(const RaftMessage& m);
// REQUIRES nothing of bytes: anything at all yields a message or an error.
Result<RaftMessage> DecodeRaftMessage(std::string_view bytes);

// Log entries and membership changes as stored (Column::kLog) and sent.
std::string EncodeRaftEntry(const Entry& e);
Result<Entry> DecodeRaftEntry(std::string_view bytes);
std::string EncodeConfigChange(const RaftConfigChange& c);
Result<RaftConfigChange> DecodeConfigChange(std::string_view bytes);

// The durable per-group records in Column::kMeta.
struct RaftHardState {
  uint64_t term = 0;
  std::string vote;     // empty: no vote in this term
  uint64_t commit = 0;  // a hint: commit is re-learned if lost, never trusted above the log
};
std::string EncodeHardState(const RaftHardState& hs);
Result<RaftHardState> DecodeHardState(std::string_view bytes);

struct RaftSnapshotMeta {
  uint64_t index = 0;  // last entry the snapshot covers (the log starts after it)
  uint64_t term = 0;
  RaftMembership members;  // the configuration at index
};
std::string EncodeSnapshotMeta(const RaftSnapshotMeta& m);
Result<RaftSnapshotMeta> DecodeSnapshotMeta(std::string_view bytes);

}  // namespace magpie

#endif  // MAGPIE_NODE_RAFT_RAFT_MESSAGES_H_
