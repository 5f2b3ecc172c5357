// A client of the cluster: it sends the workload's requests as encoded RequestFrames over
// the simulated network, and retries each one, with the same request id and bytes, until
// an answer arrives. Submits carry idempotency keys, so a retry (or a duplicate the network
// made) returns the first id instead of storing a second task. Every id a submit returned
// goes to the oracle as an acknowledgement: the promise the checkers hold the cluster to.
#ifndef MAGPIE_SIMULATIONS_SIM_CLIENT_H_
#define MAGPIE_SIMULATIONS_SIM_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "simulations/event_queue.h"
#include "simulations/sim_network.h"
#include "simulations/workload.h"

namespace magpie {

class ClientHooks {
 public:
  virtual ~ClientHooks() = default;
  // A submit was answered with these ids by `node`.
  // keys: the idempotency key each task was submitted with ("" where none), in id order.
  virtual void OnAck(SimTime now, int client, int node, const std::vector<std::string>& ids,
                     const std::vector<std::string>& keys) = 0;
};

struct ClientOptions {
  int index = 0;
  int endpoint = 0;
  std::string name;  // also its network route
  int64_t act_min_us = 10'000;   // gap between two requests, drawn uniformly
  int64_t act_max_us = 500'000;
  int64_t retry_us = 1'000'000;  // first retry; doubles up to kMaxRetryUs
  size_t max_outstanding = 32;
  uint64_t max_tasks = 2000;     // stops submitting after this many tasks
};

struct ClientStats {
  uint64_t requests = 0;
  uint64_t sends = 0;       // including retries
  uint64_t acked_tasks = 0;
  uint64_t errors = 0;      // requests answered with an error
  uint64_t stale_replies = 0;  // duplicates, or answers to requests already answered
  uint64_t garbage_sent = 0;
  uint64_t garbage_answered = 0;
  uint64_t skipped = 0;     // no request sent: too many outstanding
};

class SimClient {
 public:
  static constexpr int64_t kMaxRetryUs = 4'000'000;

  // Everything passed in must outlive the client.
  SimClient(ClientOptions options, Workload* workload, Prng* prng, EventQueue* events,
            SimNetwork* network, TraceHash* trace, ClientHooks* hooks,
            std::shared_ptr<spdlog::logger> log);
  SimClient(const SimClient&) = delete;
  SimClient& operator=(const SimClient&) = delete;

  void Start(SimTime now);
  void Act(SimTime now);                          // kClientAct
  void Retry(SimTime now, uint64_t request_id);   // kClientRetry
  void OnReply(SimTime now, const std::string& bytes);
  // The safety phase is over: answer what is outstanding, send nothing new.
  void StopNewWork() { stopped_ = true; }

  size_t outstanding() const { return outstanding_.size(); }
  const ClientStats& stats() const { return stats_; }
  const ClientOptions& options() const { return options_; }

 private:
  struct Outstanding {
    int node = 0;
    RequestType type = RequestType::kSubmit;
    std::string bytes;
    SimTime first_sent;
    int64_t retry_us = 0;
    uint32_t sends = 0;
  };

  void Send(SimTime now, int node, const std::string& bytes);

  ClientOptions options_;
  Workload* workload_;
  Prng* prng_;
  EventQueue* events_;
  SimNetwork* network_;
  TraceHash* trace_;
  ClientHooks* hooks_;
  std::shared_ptr<spdlog::logger> log_;
  ClientMemory memory_;
  std::map<uint64_t, Outstanding> outstanding_;
  uint64_t next_request_id_ = 1;
  uint64_t tasks_submitted_ = 0;
  bool stopped_ = false;
  ClientStats stats_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_CLIENT_H_
