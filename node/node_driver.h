// The real node: carries out what NodeCore asks for with RocksDB, ZeroMQ and processes,
// on one thread. Everything here is I/O; every decision is the core's.
#ifndef MAGPIE_NODE_NODE_DRIVER_H_
#define MAGPIE_NODE_NODE_DRIVER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "base/status.h"
#include "gossip/zmq_transport.h"
#include "node/cluster_key.h"
#include "node/driver_loop.h"
#include "node/http_snapshot.h"
#include "node/node_core.h"
#include "node/output_service.h"
#include "node/process_executor.h"
#include "node/real_clock.h"
#include "node/watchdog.h"
#include "node/zap_handler.h"
#include "storage/rocksdb_storage.h"

namespace magpie {

struct NodeConfig {
  std::string data_dir = "./magpie-data";
  std::string listen = "127.0.0.1:7400";
  std::vector<std::string> join;
  int32_t slots = 0;  // 0: the number of CPUs
  std::map<std::string, std::string> labels;
  std::string http;
  int32_t replication = 3;  // voters per replica group (docs/replication.md)
  // Security (docs/security.md). The keys derived from the cluster key: every socket speaks
  // CurveZMQ with them. Empty only with --insecure: plain sockets, no ZAP handler.
  std::optional<ClusterKeys> keys;
  std::string allow_keys_file;  // --allow-keys: client public keys accepted besides members'
  // Limits (docs/security.md "Limits"; 0 turns one off).
  uint64_t max_queued_tasks = 1000000;
  uint64_t max_queued_per_submitter = 250000;
  // Below this much free space in the data directory the node turns read-only before the
  // disk is full: RocksDB is never taken to ENOSPC (Debian's build asserts on it).
  uint64_t min_free_disk_mb = 128;
  // Bytes of each output stream of an ended attempt copied to its group's replicas (the
  // last ones, if more), unless the task says otherwise; 0: no copies.
  uint64_t output_keep_bytes = 1024 * 1024;
};

class NodeDriver {
 public:
  // Starts the watchdog (before any thread exists), waits out a previous life's watchdog,
  // opens storage, recovers the core and binds the listen address.
  // REQUIRES: the process is still single-threaded, and SIGTERM, SIGINT are blocked
  // (BlockStopSignals) so that every later thread inherits the mask.
  static Result<std::unique_ptr<NodeDriver>> Open(const NodeConfig& config,
                                                  std::shared_ptr<spdlog::logger> logger);
  ~NodeDriver();
  NodeDriver(const NodeDriver&) = delete;
  NodeDriver& operator=(const NodeDriver&) = delete;

  // Serves until SIGTERM or SIGINT, then stops gracefully.
  Status Run();

  static void BlockStopSignals();

  // Publishes a snapshot of the node for the HTTP threads (node/http_snapshot.h) about
  // every `every`, taken on the driver's thread. REQUIRES: called before Run.
  void PublishSnapshotsTo(std::shared_ptr<SnapshotBox> box, Duration every);

 private:
  NodeDriver(NodeConfig config, std::shared_ptr<spdlog::logger> logger);

  // The node's world as the driver loop sees it (node/driver_loop.h).
  class Io;

  void ReceiveRequests(Instant now);
  void HandleFrame(Instant now, std::vector<zmq::message_t>& parts);
  void SendReply(const ReplyTo& to, const ReplyFrame& frame);
  // Ended processes for the core: those whose output copies are done, or need none.
  std::vector<ExecutorEvent> TakeExecutorEvents(Instant now);
  void CountApplied(const Ready& rd);
  void MaybePublishSnapshot(Instant now);
  // Binds the client and peer socket, with CurveZMQ and the ZAP handler unless --insecure.
  Status Listen();
  // Ok, or why the data directory is too full to write to (statvfs below min_free_disk_mb).
  Status CheckFreeSpace();

  NodeConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  RealClock clock_;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<RocksDbStorage> storage_;
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<ProcessExecutor> executor_;
  zmq::context_t zmq_context_;
  std::unique_ptr<ZapHandler> zap_;  // before router_: it must outlive the socket it watches
  std::unique_ptr<zmq::socket_t> router_;
  std::unique_ptr<ZmqTransport> transport_;
  // Task output beyond the running node: `logs` from anywhere, copies on the replicas.
  std::unique_ptr<OutputService> output_;
  // Requests the output service has for the core, made at the start of the next turn.
  std::vector<std::pair<ReplyTo, RequestFrame>> core_asks_;
  int signal_fd_ = -1;
  // Routing frames of clients, so a reply retraces the path of its request.
  std::map<std::string, std::vector<std::string>> envelopes_;
  // Metrics for the HTTP side: counted only when a snapshot box is set.
  std::shared_ptr<SnapshotBox> snapshot_box_;
  Duration snapshot_every_ = Duration::Seconds(1);
  Instant next_snapshot_at_;
  DriverCounters counters_;
  uint64_t peer_frames_refused_ = 0;  // peer frames from client keys, not members
  std::unique_ptr<Io> io_;
  std::unique_ptr<DriverLoop> loop_;
  Instant next_disk_check_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_DRIVER_H_
