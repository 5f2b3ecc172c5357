// The run's fingerprint: every event that reaches the trace (time, node, kind, key fields)
// is folded into one 64-bit value. Two runs of the same seed and flags must end with the
// same value; the determinism test checks exactly that. Strings are folded with FNV-1a,
// words with a murmur-style finalizer, so the value is the same on every platform.
#ifndef MAGPIE_SIMULATIONS_TRACE_HASH_H_
#define MAGPIE_SIMULATIONS_TRACE_HASH_H_

#include <cstdint>
#include <string_view>

#include "simulations/sim_time.h"

namespace magpie {

// What happened. The numbers are folded into the hash: append, never renumber.
enum class TraceKind : uint8_t {
  kEvent = 1,         // an event left the queue
  kSend = 2,          // a packet entered the network
  kDrop = 3,          // the network lost a packet
  kDeliver = 4,       // a packet arrived
  kReady = 5,         // a node carried out a Ready
  kProcessStart = 6,
  kProcessStop = 7,
  kAck = 8,           // a client learned a task id
  kFault = 9,
  kCommit = 10,       // a log entry became durable on a node
  kRequest = 11,      // a client sent a request
  kRecover = 12,
};

class TraceHash {
 public:
  void Mix(uint64_t v) {
    h_ ^= v + 0x9e3779b97f4a7c15ULL + (h_ << 6) + (h_ >> 2);
    h_ ^= h_ >> 33;
    h_ *= 0xff51afd7ed558ccdULL;
    h_ ^= h_ >> 33;
  }
  void MixString(std::string_view s) {
    uint64_t f = 0xcbf29ce484222325ULL;  // FNV-1a
    for (unsigned char c : s) {
      f ^= c;
      f *= 0x100000001b3ULL;
    }
    Mix(f);
  }
  void Record(SimTime at, int32_t node, TraceKind kind, uint64_t a = 0, uint64_t b = 0) {
    Mix(static_cast<uint64_t>(at.micros()));
    Mix((static_cast<uint64_t>(static_cast<uint32_t>(node)) << 8) | static_cast<uint8_t>(kind));
    Mix(a);
    Mix(b);
    ++records_;
  }

  uint64_t value() const { return h_; }
  uint64_t records() const { return records_; }

 private:
  uint64_t h_ = 0x6d61677069652d73ULL;  // "magpie-s"
  uint64_t records_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_TRACE_HASH_H_
