// magpie-node: one per machine. With no flags it starts a one-node cluster in ./magpie-data
// listening on 127.0.0.1:7400 (DESIGN §7).
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "node/key_files.h"
#include "node/http_server.h"
#include "node/node_driver.h"

int main(int argc, char** argv) {
  magpie::NodeConfig config;
  std::vector<std::string> labels;
  std::string log_level = "info";
  std::string key_source;  // where the cluster key came from, for messages

  CLI::App app{"magpie-node: a peer-to-peer task scheduler node"};
  app.add_option("--data-dir", config.data_dir, "where this node keeps its state")
      ->capture_default_str();
  app.add_option("--listen", config.listen, "HOST:PORT for clients and peers")->capture_default_str();
  app.add_option("--join", config.join, "HOST:PORT of a peer to join (repeatable)");
  app.add_option("--slots", config.slots, "task slots (default: number of CPUs)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--label", labels, "K=V label tasks may require (repeatable)");
  app.add_option("--replication", config.replication,
                 "voters per replica group: each task survives the loss of fewer than half "
                 "of them (1 keeps a group on its home node alone)")
      ->check(CLI::Range(1, 7))
      ->capture_default_str();
  app.add_option("--http", config.http,
                 "HOST:PORT to serve metrics (/metrics), the JSON API (/api/v1/) and the "
                 "dashboard (/) on; port 0 picks a free one (default: no HTTP)");
  std::string cluster_key;
  bool insecure = false;
  bool metrics_open = false;
  app.add_option("--cluster-key", cluster_key,
                 "the cluster key file (default: $MAGPIE_CLUSTER_KEY_FILE, else "
                 "$MAGPIE_HOME/cluster.key, made on first start; docs/security.md)");
  app.add_option("--allow-keys", config.allow_keys_file,
                 "a file of client public keys (Z85, one a line) allowed besides the cluster's "
                 "own; re-read when it changes");
  app.add_flag("--insecure", insecure,
               "no authentication or encryption of peers, clients and HTTP: for local play only");
  app.add_flag("--metrics-open", metrics_open, "serve /metrics without the HTTP token");
  app.add_option("--max-queued", config.max_queued_tasks,
                 "refuse submits past this many unfinished tasks in the groups this node leads "
                 "(0: no limit)")
      ->capture_default_str();
  app.add_option("--max-queued-per-submitter", config.max_queued_per_submitter,
                 "... and past this many of one submitter's (0: no limit)")
      ->capture_default_str();
  app.add_option("--min-free-disk-mb", config.min_free_disk_mb,
                 "turn read-only below this much free space in the data directory (0: never)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const auto& l : labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "magpie-node: --label needs K=V, not '%s'\n", l.c_str());
      return 2;
    }
    config.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }

  auto logger = spdlog::stderr_color_mt("node");
  auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") {
    std::fprintf(stderr, "magpie-node: unknown --log-level '%s'\n", log_level.c_str());
    return 2;
  }
  logger->set_level(level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (insecure) {
    if (!cluster_key.empty() || !config.allow_keys_file.empty()) {
      std::fprintf(stderr, "magpie-node: --insecure takes no --cluster-key or --allow-keys\n");
      return 2;
    }
    logger->warn("--insecure: peers, clients and HTTP are neither authenticated nor encrypted; "
                 "anyone who can reach {} can run commands as this user",
                 config.listen);
  } else {
    magpie::Status curve = magpie::CheckCurveSupport();
    if (!curve.ok()) {
      logger->critical("cannot start: {}", curve.ToString());
      return 1;
    }
    auto key = magpie::LoadNodeClusterKey(cluster_key, magpie::KeyEnvironment::FromProcess());
    if (!key.ok()) {
      logger->critical("cannot start: {}", key.status().ToString());
      return 1;
    }
    if (key->created) {
      logger->warn("made a new cluster key at {}: nodes and clients of this user find it there; "
                   "copy it to every other machine of the cluster (docs/security.md)",
                   key->location.path);
    } else {
      logger->info("cluster key: {}", key->location.Describe());
    }
    if (!key->file.warning.empty()) logger->warn("{}", key->file.warning);
    config.keys = magpie::DeriveClusterKeys(*key->file.secret);
    key_source = key->location.Describe();
  }

  // Before any thread exists: every later thread inherits the blocked signals, so only the
  // driver's signalfd sees SIGTERM/SIGINT, and the watchdog is forked from one thread.
  magpie::NodeDriver::BlockStopSignals();
  auto driver = magpie::NodeDriver::Open(config, logger);
  if (!driver.ok()) {
    logger->critical("cannot start: {}", driver.status().ToString());
    return 1;
  }
  // After Open: the watchdog is forked while the process is still single-threaded.
  std::unique_ptr<magpie::HttpServer> http;
  if (!config.http.empty()) {
    auto snapshots = std::make_shared<magpie::SnapshotBox>();
    (*driver)->PublishSnapshotsTo(snapshots, magpie::Duration::Seconds(1));
    magpie::HttpServerOptions ho;
    ho.listen = config.http;
    ho.node_address = config.listen;
    if (config.keys) {
      ho.token = config.keys->http_token;
      ho.metrics_open = metrics_open;
      ho.node_security.curve = magpie::CurveClientKeys{config.keys->server.public_z85,
                                                       config.keys->member.public_z85,
                                                       config.keys->member.secret_z85};
      ho.node_security.key_source = key_source;
    }
    auto started = magpie::HttpServer::Start(ho, snapshots, logger);
    if (!started.ok()) {
      logger->critical("cannot start: {}", started.status().ToString());
      return 1;
    }
    http = std::move(*started);
  }
  magpie::Status s = (*driver)->Run();
  if (http) http->Stop();
  if (!s.ok()) {
    logger->critical("{}", s.ToString());
    return 1;
  }
  return 0;
}
