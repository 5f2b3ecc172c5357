#include "tools/bench/bench_util.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

namespace magpie {

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Round2(double v) { return std::round(v * 100) / 100; }

Result<Submitted> SubmitPipelined(Client& client, const std::vector<TaskSpec>& specs, int batch,
                                  int window) {
  Submitted out;
  out.ids.resize(specs.size());
  out.sent_us.resize(specs.size());
  struct Inflight {
    size_t from;
    size_t count;
    int64_t sent_us;
  };
  std::map<uint64_t, Inflight> inflight;
  auto receive_one = [&]() -> Status {
    auto r = client.Receive(std::chrono::seconds(60));
    if (!r.ok()) return r.status();
    auto it = inflight.find(r->request_id);
    if (it == inflight.end()) return Status::Ok();  // a stale reply
    if (!r->status.ok()) return r->status;
    auto reply = UnpackBody<SubmitReply>(r->body);
    if (!reply.ok()) return reply.status();
    if (reply->ids.size() != it->second.count) return Status::Corruption("submit reply has the wrong number of ids");
    for (size_t i = 0; i < it->second.count; ++i) {
      out.ids[it->second.from + i] = reply->ids[i];
      out.sent_us[it->second.from + i] = it->second.sent_us;
    }
    inflight.erase(it);
    return Status::Ok();
  };
  out.first_sent_us = UnixMicros();
  for (size_t from = 0; from < specs.size();) {
    while (static_cast<int>(inflight.size()) >= window) {
      Status s = receive_one();
      if (!s.ok()) return s;
    }
    size_t n = std::min<size_t>(batch, specs.size() - from);
    SubmitRequest req;
    req.tasks.assign(specs.begin() + from, specs.begin() + from + n);
    uint64_t rid = 0;
    int64_t at = UnixMicros();
    Status s = client.Send(RequestType::kSubmit, PackBody(req), &rid);
    if (!s.ok()) return s;
    inflight[rid] = Inflight{from, n, at};
    from += n;
  }
  while (!inflight.empty()) {
    Status s = receive_one();
    if (!s.ok()) return s;
  }
  out.all_acked_us = UnixMicros();
  return out;
}

Result<std::vector<Task>> WaitAll(Client& client, const std::vector<std::string>& ids,
                                  int timeout_s) {
  std::vector<Task> out;
  out.reserve(ids.size());
  constexpr size_t kChunk = 5000;
  const int64_t deadline = UnixMicros() + static_cast<int64_t>(timeout_s) * 1000000;
  for (size_t from = 0; from < ids.size(); from += kChunk) {
    WaitRequest w;
    w.ids.assign(ids.begin() + from, ids.begin() + std::min(ids.size(), from + kChunk));
    w.timeout_ms = 10000;
    for (;;) {
      auto r = client.Wait(w, std::chrono::seconds(30));
      if (!r.ok()) return r.status();
      if (r->all_ended) {
        for (auto& t : r->tasks) out.push_back(std::move(t));
        break;
      }
      if (UnixMicros() > deadline) {
        return Status::Unavailable("tasks did not finish within " + std::to_string(timeout_s) + " s");
      }
    }
  }
  return out;
}

Status AppendTimeline(const std::string& path, const char* workload, const std::vector<Task>& tasks,
                      int64_t first_sent_us) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return Status::IOError("cannot open " + path);
  const int64_t run = first_sent_us;
  for (const Task& t : tasks) {
    nlohmann::json j;
    j["run"] = run;
    j["workload"] = workload;
    j["id"] = t.id;
    j["submitted_ms"] = t.submitted_ms - first_sent_us / 1000;
    j["finished_ms"] = t.finished_ms - first_sent_us / 1000;
    nlohmann::json attempts = nlohmann::json::array();
    for (const Attempt& a : t.attempts) {
      attempts.push_back({{"node", a.node},
                          {"stolen_from", a.stolen_from},
                          {"start_ms", a.started_ms - first_sent_us / 1000},
                          {"end_ms", a.ended_ms - first_sent_us / 1000},
                          {"outcome", OutcomeName(a.outcome)},
                          {"reason", a.reason}});
    }
    j["attempts"] = std::move(attempts);
    std::fprintf(f, "%s\n", j.dump().c_str());
  }
  std::fclose(f);
  return Status::Ok();
}

}  // namespace magpie
