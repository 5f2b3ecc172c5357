// Starts and stops real magpie-node processes on loopback in a temporary folder, for the
// benchmark (and anything else that wants a throwaway cluster).
#ifndef MAGPIE_TOOLS_BENCH_LOCAL_CLUSTER_H_
#define MAGPIE_TOOLS_BENCH_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"
#include "node/client.h"

namespace magpie {

struct LocalClusterOptions {
  std::string node_binary;  // path to magpie-node
  int nodes = 1;
  int slots = 64;
  int replication = 3;  // --replication of every node: voters per replica group
  std::string log_level = "warn";
  bool keep = false;  // leave the folder (data and n<i>.log) behind, and say where
  std::vector<std::string> extra_args;
  // How to reach the nodes: the keys of the cluster key they find (the same user's
  // default one, docs/security.md), or plain for nodes given --insecure in extra_args.
  ClientSecurity security;
};

class LocalCluster {
 public:
  LocalCluster() = default;
  ~LocalCluster();  // stops every node and removes the folder
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Starts the nodes and waits (bounded) until each answers, every node sees every other
  // alive and, with more than one node, every node's log shows every home group with
  // min(replication, nodes) voters (the node exposes group membership only in its log,
  // at log level info or finer; at a coarser level that last wait is skipped).
  Status Start(const LocalClusterOptions& options);
  void Stop();

  const std::vector<std::string>& addresses() const { return addresses_; }
  const std::vector<pid_t>& pids() const { return pids_; }
  // Voters per replica group once formed: the nodes' --replication, capped by their number.
  int replication() const { return replication_; }

 private:
  Status WaitForGroups(int voters);

  std::string dir_;
  bool keep_ = false;
  ClientSecurity security_;
  int replication_ = 1;
  std::vector<std::string> addresses_;
  std::vector<pid_t> pids_;
};

// The folder the running executable is in, to find sibling binaries.
std::string SelfDir();

}  // namespace magpie

#endif  // MAGPIE_TOOLS_BENCH_LOCAL_CLUSTER_H_
