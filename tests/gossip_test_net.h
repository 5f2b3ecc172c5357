// A tiny deterministic network of Membership instances for tests: one thread, simulated
// time that jumps to the next delivery or deadline, a fixed one-way delay, seeded random
// loss, crashes, isolation and restarts. Same options, same run. (The full simulator is
// magpie-sim; this is just enough to prove the protocol's properties in unit tests.)
#ifndef MAGPIE_TESTS_GOSSIP_TEST_NET_H_
#define MAGPIE_TESTS_GOSSIP_TEST_NET_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "base/prng.h"
#include "gossip/membership.h"

namespace magpie {

class GossipTestNet {
 public:
  struct Options {
    int nodes = 5;
    uint64_t seed = 1;
    Duration delay = Duration::Millis(5);  // one way, every message
    uint64_t loss_per_mille = 0;           // each message is lost with this probability
    GossipConfig config;
  };
  using EventFn = std::function<void(int node, const MemberEvent&)>;

  explicit GossipTestNet(Options o) : o_(std::move(o)), prng_(o_.seed), nodes_(o_.nodes), down_(o_.nodes, true),
        group_(o_.nodes, 0), deadline_(o_.nodes, Instant::Never()) {
    log_ = std::make_shared<spdlog::logger>("gossip-net", std::make_shared<spdlog::sinks::null_sink_st>());
    log_->set_level(spdlog::level::off);
    for (int i = 0; i < o_.nodes; ++i) index_[Address(i)] = i;
  }

  static std::string Id(int i) { return "node-" + std::to_string(i); }
  static std::string Address(int i) { return "10.0.0." + std::to_string(i) + ":7400"; }
  Membership& node(int i) { return *nodes_[i]; }
  bool up(int i) const { return !down_[i]; }
  Instant now() const { return now_; }
  void set_on_event(EventFn f) { on_event_ = std::move(f); }
  // Messages for which `f` is true are dropped when sent (targeted faults).
  void set_drop_if(std::function<bool(const PeerMessage&)> f) { drop_if_ = std::move(f); }
  // Sees every message as it is delivered (for tracing).
  void set_on_deliver(std::function<void(int to, const PeerMessage&)> f) { on_deliver_ = std::move(f); }

  // Starts (or restarts, after Crash) node i, joining through `seeds` (node indexes).
  void Start(int i, uint64_t incarnation, const std::vector<int>& seeds) {
    nodes_[i] = std::make_unique<Membership>(o_.config, Id(i), Address(i), incarnation, o_.seed * 1000 + i + 7 * starts_++, log_);
    down_[i] = false;
    std::vector<std::string> addrs;
    for (int s : seeds) addrs.push_back(Address(s));
    nodes_[i]->Join(now_, addrs);
    Pump(i);
  }
  // Node 0 starts a cluster; every other node joins through it.
  void StartAll() {
    for (int i = 0; i < o_.nodes; ++i) Start(i, 0, i == 0 ? std::vector<int>{} : std::vector<int>{0});
  }
  // The process stops: no ticks, nothing sent or received (what is in flight from it lands).
  void Crash(int i) { down_[i] = true; SetDeadline(i, Instant::Never()); }
  // Messages flow only between nodes on the same side: Isolate(i) puts i alone,
  // Partition(side) puts `side` apart from the rest, Heal() joins everything again.
  void set_loss(uint64_t per_mille) { o_.loss_per_mille = per_mille; }
  void Isolate(int i, bool on) { group_[i] = on ? -1 - i : 0; }
  void Partition(const std::vector<int>& side) { for (int i : side) group_[i] = 1; }
  void Heal() { std::fill(group_.begin(), group_.end(), 0); }
  void SetLoad(int i, const MemberLoad& l) { nodes_[i]->SetLocalLoad(l); Pump(i); }
  void Leave(int i) { nodes_[i]->Leave(now_); Pump(i); }

  // Runs until `end`, or until `done` holds (checked every `check` of simulated time).
  // Returns whether `done` held (true when there is none).
  bool RunUntil(Instant end, const std::function<bool()>& done = {}, Duration check = Duration::Millis(10)) {
    Instant next_check = now_;
    while (true) {
      if (done && now_ >= next_check) {
        if (done()) return true;
        next_check = now_ + check;
      }
      const Instant msg_at = inflight_.empty() ? Instant::Never() : Instant::FromMicros(inflight_.begin()->first.first);
      const Instant tick_at = ticks_.empty() ? Instant::Never() : ticks_.begin()->first;
      const Instant t = std::min({msg_at, tick_at, done ? next_check : Instant::Never()});
      if (t > end) {
        now_ = end;
        return !done || done();
      }
      now_ = t;
      if (msg_at == t) {
        PeerMessage m = std::move(inflight_.begin()->second);
        inflight_.erase(inflight_.begin());
        auto it = index_.find(m.to);
        if (it == index_.end() || down_[it->second]) continue;
        if (on_deliver_) on_deliver_(it->second, m);
        nodes_[it->second]->Step(now_, m);
        Pump(it->second);
      } else if (tick_at == t) {
        const int i = ticks_.begin()->second;
        nodes_[i]->Tick(now_);
        Pump(i);
        if (deadline_[i] <= now_) ADD_FAILURE() << "node " << i << " asks for a tick in the past after Tick";
      }
    }
  }
  bool RunFor(Duration d, const std::function<bool()>& done = {}, Duration check = Duration::Millis(10)) {
    return RunUntil(now_ + d, done, check);
  }

  // How node i sees node j (nullopt: unknown, or i is down).
  std::optional<MemberState> StateOf(int i, int j) const {
    if (down_[i]) return std::nullopt;
    auto v = nodes_[i]->Find(Id(j), now_);
    return v ? std::optional<MemberState>(v->state) : std::nullopt;
  }
  // Every running node other than j sees j in state s.
  bool AllSee(int j, MemberState s) const {
    for (int i = 0; i < o_.nodes; ++i) {
      if (i != j && !down_[i] && StateOf(i, j) != s) return false;
    }
    return true;
  }
  uint64_t delivered() const { return delivered_; }
  uint64_t delivered_bytes() const { return delivered_bytes_; }

 private:
  void Pump(int i) {
    for (PeerMessage& m : nodes_[i]->TakeMessages()) {
      auto to = index_.find(m.to);
      if (to == index_.end() || group_[i] != group_[to->second]) continue;
      if (o_.loss_per_mille > 0 && prng_.Chance(o_.loss_per_mille, 1000)) continue;
      if (drop_if_ && drop_if_(m)) continue;
      ++delivered_;
      delivered_bytes_ += m.payload.size();
      inflight_.emplace(std::make_pair((now_ + o_.delay).micros(), seq_++), std::move(m));
    }
    for (const MemberEvent& e : nodes_[i]->TakeEvents()) {
      if (on_event_) on_event_(i, e);
    }
    SetDeadline(i, nodes_[i]->NextDeadline());
  }
  void SetDeadline(int i, Instant d) {
    ticks_.erase({deadline_[i], i});
    deadline_[i] = d;
    if (d != Instant::Never()) ticks_.insert({d, i});
  }

  Options o_;
  Prng prng_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<std::unique_ptr<Membership>> nodes_;
  std::vector<bool> down_;
  std::vector<int> group_;
  std::vector<Instant> deadline_;
  std::set<std::pair<Instant, int>> ticks_;
  std::map<std::pair<int64_t, uint64_t>, PeerMessage> inflight_;  // (deliver at, order sent)
  std::map<std::string, int> index_;
  Instant now_ = Instant::FromMicros(1'000'000'000);
  uint64_t seq_ = 0, starts_ = 0, delivered_ = 0, delivered_bytes_ = 0;
  EventFn on_event_;
  std::function<void(int, const PeerMessage&)> on_deliver_;
  std::function<bool(const PeerMessage&)> drop_if_;
};

}  // namespace magpie

#endif  // MAGPIE_TESTS_GOSSIP_TEST_NET_H_
