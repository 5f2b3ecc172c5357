// Messages between the drivers of nodes about task output (docs/DESIGN.md "Output"),
// carried as PeerMessage payloads (msgpack arrays; fields are only ever appended). They
// never reach the core: the driver takes them off the wire first, since they are file IO.
//
//   reader --OutputRead--->  runner or replica: bytes of one stream of one attempt
//   reader <--OutputData---  the bytes, or where else to look
//   runner --OutputOffer-->  the group's members once an attempt that printed ended (or
//                            the group's leader, with relay, when the runner holds no
//                            replica: the leader passes it on to the other members)
//   member --OutputRead--->  runner, until it holds the last keep_bytes of each stream
//   runner <--OutputKept---  member, once its copy is on disk (or it cannot keep one)
#ifndef MAGPIE_NODE_OUTPUT_MESSAGES_H_
#define MAGPIE_NODE_OUTPUT_MESSAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "gossip/peer_message.h"
#include "node/task.h"

namespace magpie {

inline constexpr auto kOutputReadType = static_cast<PeerMessageType>(96);
inline constexpr auto kOutputDataType = static_cast<PeerMessageType>(97);
inline constexpr auto kOutputOfferType = static_cast<PeerMessageType>(98);
inline constexpr auto kOutputKeptType = static_cast<PeerMessageType>(99);
inline bool IsOutputMessage(PeerMessageType t) { return t >= kOutputReadType && t <= kOutputKeptType; }

// Bytes in one OutputData: well inside kMaxPeerMessageBytes with the envelope around it.
inline constexpr uint32_t kMaxOutputChunkBytes = 1024 * 1024;
// Past any file a node writes: a size or offset above it is a forged or broken message.
inline constexpr uint64_t kMaxOutputOffset = uint64_t{1} << 50;
// Addresses an OutputData may name as other holders (a group has at most 7 voters).
inline constexpr size_t kMaxOutputHolders = 16;

struct OutputRead {
  uint64_t seq = 0;  // the reader's number for it, echoed in the answer
  std::string task_id;
  uint32_t attempt = 0;
  bool stderr_stream = false;
  uint64_t offset = 0;  // first byte wanted, counted in the stream as its process wrote it
  uint32_t max_bytes = 0;
  MSGPACK_DEFINE(seq, task_id, attempt, stderr_stream, offset, max_bytes);
};

struct OutputData {
  uint64_t seq = 0;
  bool found = false;  // false: not here; `holders` may say where else to ask
  uint64_t size = 0;   // the stream's bytes as its process wrote them (so far, on the runner)
  // First byte held here: 0 on the node that ran the attempt; a copy of output larger than
  // its bound holds only the last bytes.
  uint64_t kept_from = 0;
  uint64_t offset = 0;  // where `data` starts (kept_from if more was asked for)
  std::string data;
  std::vector<std::string> holders;  // addresses of the task group's members, when not found
  std::string error;                 // set when the bytes are here but cannot be read
  std::string runner_address;        // a copy's: where the attempt ran
  MSGPACK_DEFINE(seq, found, size, kept_from, offset, data, holders, error, runner_address);
};

struct OutputOffer {
  std::string task_id;
  uint32_t attempt = 0;
  std::string runner_id;
  std::string runner_address;  // where to read from, and where OutputKept goes
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
  uint64_t keep_bytes = 0;  // of each stream: its last keep_bytes
  bool relay = false;       // pass it on to the group's other members
  MSGPACK_DEFINE(task_id, attempt, runner_id, runner_address, stdout_bytes, stderr_bytes,
                 keep_bytes, relay);
};

struct OutputKept {
  std::string task_id;
  uint32_t attempt = 0;
  std::string node_id;  // the member that keeps (or could not keep) a copy
  bool ok = false;
  std::string error;
  uint32_t voters = 0;  // the group's voters as that member knows them (0: unknown)
  MSGPACK_DEFINE(task_id, attempt, node_id, ok, error, voters);
};

// Whether a task id may name files: ids are <group>-<seq> in hex; anything else from the
// network (a "..", a slash) is refused before it comes near a path.
bool IsSafeTaskId(const std::string& id);

// Ok, or what makes the message unusable. Sizes are checked here so that no handler sees a
// forged length.
Status CheckOutputRead(const OutputRead& m);
Status CheckOutputData(const OutputData& m);
Status CheckOutputOffer(const OutputOffer& m);
Status CheckOutputKept(const OutputKept& m);

}  // namespace magpie

#endif  // MAGPIE_NODE_OUTPUT_MESSAGES_H_
