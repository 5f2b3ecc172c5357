#include "tools/bench/local_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "node/client.h"

namespace magpie {

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

LocalCluster::~LocalCluster() { Stop(); }

Status LocalCluster::Start(const LocalClusterOptions& options) {
  // $TMPDIR as usual: where the nodes' data dirs go decides what W2's three files per
  // attempt cost (docs/BENCHMARKS.md, "W2 profile").
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/magpie-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Status::IOError("cannot make a temporary folder " + tmpl + ": " + std::strerror(errno));
  }
  dir_ = tmpl;
  keep_ = options.keep;
  security_ = options.security;
  replication_ = std::min(options.replication, options.nodes);
  for (int i = 0; i < options.nodes; ++i) {
    std::string addr = "127.0.0.1:" + std::to_string(FreePort());
    std::string data = dir_ + "/n" + std::to_string(i);
    std::vector<std::string> args = {options.node_binary, "--data-dir", data, "--listen", addr,
                                     "--slots", std::to_string(options.slots),
                                     "--replication", std::to_string(options.replication),
                                     "--log-level", options.log_level};
    if (i > 0) {
      args.push_back("--join");
      args.push_back(addresses_[0]);
    }
    for (const auto& a : options.extra_args) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = dir_ + "/n" + std::to_string(i) + ".log";
    pid_t pid = fork();
    if (pid < 0) return Status::IOError("fork failed");
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      setpgid(0, 0);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pids_.push_back(pid);
    addresses_.push_back(addr);
  }
  for (const auto& addr : addresses_) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      auto c = Client::Connect(addr, security_);
      if (c.ok() && (*c)->Members(std::chrono::milliseconds(500)).ok()) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Unavailable("node " + addr + " did not answer within 30 s (log in " + dir_ + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // A workload measures a formed cluster: wait until every node sees every other alive.
  if (addresses_.size() > 1) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (const auto& addr : addresses_) {
      for (;;) {
        auto c = Client::Connect(addr, security_);
        if (c.ok()) {
          auto m = (*c)->Members(std::chrono::milliseconds(500));
          size_t alive = 0;
          if (m.ok()) {
            for (const auto& info : m->members) alive += info.state == "alive";
          }
          if (alive == addresses_.size()) break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return Status::Unavailable("the local cluster did not form within 30 s (logs in " + dir_ + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  if (addresses_.size() > 1 && replication_ > 1) {
    const std::string& l = options.log_level;
    if (l == "trace" || l == "debug" || l == "info") return WaitForGroups(replication_);
    std::fprintf(stderr, "not waiting for replica groups to form: --node-log-level %s hides them\n",
                 l.c_str());
  }
  return Status::Ok();
}

Status LocalCluster::WaitForGroups(int voters) {
  static const std::regex kHome("node [0-9a-f]+ \\(home group ([0-9a-f]+)\\)");
  static const std::regex kMembers("group ([0-9a-f]+): members now \\[(.*)\\]");
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::seconds(60);
  for (;;) {
    // Per node's log: the home groups it names and each group's last member list.
    std::set<std::string> homes;
    std::vector<std::map<std::string, int>> last(addresses_.size());
    for (size_t i = 0; i < addresses_.size(); ++i) {
      std::ifstream in(dir_ + "/n" + std::to_string(i) + ".log");
      for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, kHome)) homes.insert(m[1]);
        if (std::regex_search(line, m, kMembers)) {
          int n = 0;  // voters: members not marked "(catching up)" or the like
          std::stringstream list(m[2].str());
          for (std::string member; std::getline(list, member, ',');) n += member.find('(') == std::string::npos;
          last[i][m[1]] = n;
        }
      }
    }
    bool formed = homes.size() == addresses_.size();
    for (const auto& per_node : last) {
      for (const auto& g : homes) {
        auto it = per_node.find(g);
        formed = formed && it != per_node.end() && it->second >= voters;
      }
    }
    if (formed) {
      std::fprintf(stderr, "replica groups formed (%d voters each) %.1f s after the nodes saw each other\n",
                   voters,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      return Status::Ok();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Unavailable("the replica groups did not reach " + std::to_string(voters) +
                                 " voters within 60 s (logs in " + dir_ + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void LocalCluster::Stop() {
  for (pid_t pid : pids_) kill(pid, SIGTERM);
  for (pid_t pid : pids_) {
    // A graceful stop is quick when nothing runs; do not wait forever for one that hangs.
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) break;
      if (i == 199) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  pids_.clear();
  addresses_.clear();
  if (!dir_.empty() && keep_) {
    std::fprintf(stderr, "kept the cluster's data and logs in %s\n", dir_.c_str());
    dir_.clear();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

}  // namespace magpie
