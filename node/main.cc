// magpie-node: one per machine. With no flags it starts a one-node cluster in ./magpie-data
// listening on 127.0.0.1:7400 (DESIGN §7). Settings come from flags and a TOML file
// (docs/operations.md).
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "node/http_server.h"
#include "node/json_log_formatter.h"
#include "node/key_files.h"
#include "node/node_config_file.h"
#include "node/node_driver.h"
#include "node/node_flags.h"

int main(int argc, char** argv) {
  magpie::NodeFlags flags;
  CLI::App app{"magpie-node: a peer-to-peer task scheduler node"};
  magpie::AddNodeFlags(&app, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const magpie::KeyEnvironment env = magpie::KeyEnvironment::FromProcess();
  const std::string home = magpie::MagpieHome(env);
  auto resolved = magpie::ResolveSettings(app, flags, home.empty() ? "" : home + "/magpie.toml");
  if (!resolved.ok()) {
    std::fprintf(stderr, "magpie-node: %s\n", resolved.status().message().c_str());
    return 2;
  }
  const magpie::NodeSettings& settings = resolved->settings;
  if (flags.print_config) {
    std::vector<std::string> header = {
        "magpie-node's effective settings: defaults, then the config file, then flags.",
        resolved->config_file.empty() ? "No config file was read."
                                      : "Config file read: " + resolved->config_file,
        "Give this file back with --config FILE (docs/operations.md)."};
    std::fputs(magpie::RenderConfigFile(settings, resolved->sources, header).c_str(), stdout);
    return 0;
  }
  magpie::NodeConfig config = magpie::ToNodeConfig(settings);
  const std::string& cluster_key = settings.cluster_key;
  const bool insecure = settings.insecure;
  const bool metrics_open = settings.metrics_open;
  std::string key_source;  // where the cluster key came from, for messages

  auto logger = spdlog::stderr_color_mt("node");
  logger->set_level(spdlog::level::from_str(settings.log_level));
  magpie::SetLogFormat(logger.get(), settings.log_format);
  if (!resolved->config_file.empty()) logger->info("settings from {}", resolved->config_file);

  if (insecure) {
    logger->warn("--insecure: peers, clients and HTTP are neither authenticated nor encrypted; "
                 "anyone who can reach {} can run commands as this user",
                 config.listen);
  } else {
    magpie::Status curve = magpie::CheckCurveSupport();
    if (!curve.ok()) {
      logger->critical("cannot start: {}", curve.ToString());
      return 1;
    }
    auto key = magpie::LoadNodeClusterKey(cluster_key, env);
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
