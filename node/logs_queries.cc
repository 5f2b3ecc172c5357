#include "node/logs_queries.h"

#include <algorithm>

#include "node/cluster_view.h"

namespace magpie {

namespace {

const char kLookupPrefix[] = "\0magpie-logs/";
constexpr size_t kLookupPrefixBytes = sizeof(kLookupPrefix) - 1;

// Long enough for the core's own routing (a parked request waits 5 s for a leader, a
// forwarded one twice that) and a few sources that do not answer.
constexpr Duration kQueryTimeout = Duration::Seconds(20);
// A node that holds the output answers from its disk at once; silence this long means it
// is down or cut off, and the next source is asked.
constexpr Duration kReadTimeout = Duration::Millis(1500);
// A cache hit points at the run whose output it took: follow that once, not a chain.
constexpr int kMaxLookups = 2;

std::string LookupRoute(uint64_t seq) {
  return std::string(kLookupPrefix, kLookupPrefixBytes) + std::to_string(seq);
}

bool IsBuiltin(const TaskSpec& spec) {
  return !spec.command.empty() && !spec.command[0].empty() && spec.command[0][0] == '@';
}

std::string Stream(const LogsRequest& r) { return r.stderr_stream ? "stderr" : "stdout"; }

}  // namespace

LogsQueries::LogsQueries(const NodeCore* core, const OutputStore* store, OutputReader* reader,
                         ReplyFn reply, AskCoreFn ask_core, std::shared_ptr<spdlog::logger> logger)
    : core_(core),
      store_(store),
      reader_(reader),
      reply_(std::move(reply)),
      ask_core_(std::move(ask_core)),
      log_(std::move(logger)) {}

bool LogsQueries::IsLookupRoute(const std::string& route) {
  return route.size() > kLookupPrefixBytes && route.compare(0, kLookupPrefixBytes, kLookupPrefix, kLookupPrefixBytes) == 0;
}

void LogsQueries::OnRequest(Instant now, const ReplyTo& to, const std::string& body, bool local_record) {
  auto req = UnpackBody<LogsRequest>(body);
  if (!req.ok()) return reply_(to, ReplyFrame{to.request_id, req.status(), {}});
  if (req->id.empty()) {
    return reply_(to, ReplyFrame{to.request_id, Status::InvalidArgument("logs needs a task id or name"), {}});
  }
  if (queries_.size() >= kMaxQueries) {
    return reply_(to, ReplyFrame{to.request_id,
                                 Status::Busy(std::to_string(kMaxQueries) +
                                              " logs requests are open on this node; retry, or ask another node"),
                                 {}});
  }
  if (req->max_bytes == 0 || req->max_bytes > kLogsChunkBytes) req->max_bytes = kLogsChunkBytes;
  const uint64_t seq = next_seq_++;
  Query& q = queries_[seq];
  q.to = to;
  q.req = std::move(*req);
  q.deadline = now + kQueryTimeout;
  q.local_record = local_record;
  Lookup(now, seq, q, q.req.id);
}

void LogsQueries::Lookup(Instant now, uint64_t seq, Query& q, const std::string& id) {
  ++q.lookups;
  if (q.local_record) {
    const Task* t = core_->LookupTask(id);
    if (t == nullptr) {
      return Fail(seq, Status::NotFound("no task with id or name '" + id + "' on this node, which is read-only "
                                        "(its disk refused a write); ask another node"));
    }
    const Task copy = *t;
    return OnRecord(now, seq, q, copy);
  }
  ReplyTo to;
  to.route = LookupRoute(seq);
  to.request_id = seq;
  ask_core_(to, RequestFrame{RequestType::kStatus, seq, PackBody(StatusRequest{id})});
}

bool LogsQueries::OnCoreReply(Instant now, const ReplyTo& to, const ReplyFrame& frame) {
  if (!IsLookupRoute(to.route)) return false;
  auto it = queries_.find(to.request_id);
  if (it == queries_.end()) return true;  // answered already (timed out)
  const uint64_t seq = it->first;
  if (!frame.status.ok()) {
    Fail(seq, frame.status);
    return true;
  }
  auto status = UnpackBody<StatusReply>(frame.body);
  if (!status.ok()) {
    Fail(seq, Status::Corruption("the task's record was unreadable: " + status.status().message()));
    return true;
  }
  OnRecord(now, seq, it->second, status->task);
  return true;
}

void LogsQueries::OnRecord(Instant now, uint64_t seq, Query& q, const Task& task) {
  if (task.attempts.empty()) {
    if (!task.cached_from.empty() && q.lookups < kMaxLookups) {
      // A cache hit ran nothing: its output is its source's.
      q.cached_from = task.cached_from;
      return Lookup(now, seq, q, task.cached_from);
    }
    q.task_id = task.id;
    q.task_ended = IsEnded(task.state);
    LogsReply r = ReplyBase(q);
    r.complete = q.task_ended;
    return Finish(seq, ReplyFrame{q.to.request_id, Status::Ok(), PackBody(r)});
  }
  const Attempt* a = &task.attempts.back();
  if (q.req.attempt != 0) {
    a = nullptr;
    for (const Attempt& x : task.attempts) {
      if (x.number == q.req.attempt) a = &x;
    }
    if (a == nullptr) {
      return Fail(seq, Status::NotFound("task " + task.id + " has no attempt " + std::to_string(q.req.attempt) +
                                        " (its attempts are 1 to " + std::to_string(task.attempts.back().number) + ")"));
    }
  }
  q.task_id = task.id;
  q.group = GroupOfTaskId(task.id);
  q.attempt = a->number;
  q.last_attempt = task.attempts.back().number;
  q.task_ended = IsEnded(task.state);
  q.ended = a->outcome != Outcome::kNone;
  q.known_size = q.req.stderr_stream ? a->stderr_bytes : a->stdout_bytes;
  q.runner_id = a->node;
  const NodeView runner = ViewNode(*core_, a->node, now);
  q.runner_address = runner.address;
  q.runner_gone = runner.gone;

  if (IsBuiltin(task.spec) || (q.ended && q.known_size == 0)) {
    // Nothing was written: no node holds a file, and none is needed.
    OutputChunk empty;
    return AnswerWith(seq, q, empty, core_->options().client_address);
  }
  const std::string& self = core_->options().client_address;
  const bool ran_here = a->node == core_->options().node_id;
  if (ran_here || store_->HasCopy(q.task_id, q.attempt)) q.sources.push_back("");
  if (!ran_here && !q.runner_address.empty() && !q.runner_gone) q.sources.push_back(q.runner_address);
  if (q.ended) {
    // Copies are made when an attempt ends, on the members of the task's group.
    const GroupView g = ViewGroup(*core_, q.group);
    if (!g.leader_address.empty() && g.leader_address != self) q.sources.push_back(g.leader_address);
    for (const auto& [id, address] : g.others) q.sources.push_back(address);
  }
  TryNext(now, seq);
}

void LogsQueries::TryNext(Instant now, uint64_t seq) {
  for (;;) {
    auto it = queries_.find(seq);
    if (it == queries_.end()) return;
    Query& q = it->second;
    if (q.sources.empty()) return AnswerNothingFound(seq, q);
    std::string source = std::move(q.sources.front());
    q.sources.pop_front();
    if (!q.tried.insert(source).second) continue;
    if (source.empty()) {
      auto chunk = store_->Read(q.task_id, q.attempt, q.req.stderr_stream, q.req.offset, q.req.max_bytes);
      if (chunk.ok()) {
        if (Consider(seq, q, std::move(*chunk), core_->options().client_address)) return;
      } else if (!chunk.status().IsNotFound()) {
        q.failures.push_back("this node: " + chunk.status().message());
      }
      continue;
    }
    OutputRead read;
    read.task_id = q.task_id;
    read.attempt = q.attempt;
    read.stderr_stream = q.req.stderr_stream;
    read.offset = q.req.offset;
    read.max_bytes = q.req.max_bytes;
    q.waiting_read = true;
    reader_->Read(now, source, read, kReadTimeout, [this, seq, source](Instant t, Result<OutputData> answer) {
      OnAnswer(t, seq, source, std::move(answer));
    });
    return;
  }
}

void LogsQueries::OnAnswer(Instant now, uint64_t seq, const std::string& source, Result<OutputData> answer) {
  auto it = queries_.find(seq);
  if (it == queries_.end()) return;
  Query& q = it->second;
  q.waiting_read = false;
  const bool from_runner = source == q.runner_address;
  if (!answer.ok()) {
    if (from_runner) q.runner_silent = true;
    q.failures.push_back(answer.status().message());
  } else if (!answer->error.empty()) {
    q.failures.push_back("node " + source + ": " + answer->error);
  } else if (!answer->found) {
    if (from_runner) q.runner_lacks = true;
    for (const std::string& h : answer->holders) {
      if (h != core_->options().client_address) q.sources.push_back(h);
    }
  } else {
    OutputChunk chunk;
    chunk.original = answer->kept_from == 0 && from_runner;
    chunk.size = answer->size;
    chunk.kept_from = answer->kept_from;
    chunk.offset = answer->offset;
    chunk.data = std::move(answer->data);
    if (Consider(seq, q, std::move(chunk), source)) return;
  }
  TryNext(now, seq);
}

bool LogsQueries::Consider(uint64_t seq, Query& q, OutputChunk chunk, const std::string& source) {
  if (chunk.kept_from <= q.req.offset) {
    AnswerWith(seq, q, chunk, source);
    return true;
  }
  if (!q.partial || chunk.kept_from < q.partial->chunk.kept_from) q.partial = Found{std::move(chunk), source};
  return false;
}

LogsReply LogsQueries::ReplyBase(const Query& q) const {
  LogsReply r;
  r.attempt = q.attempt;
  r.last_attempt = q.last_attempt;
  r.task_ended = q.task_ended;
  r.ended = q.ended;
  r.node = q.runner_id;
  r.node_address = q.runner_address;
  r.offset = q.req.offset;
  return r;
}

void LogsQueries::AnswerWith(uint64_t seq, Query& q, const OutputChunk& chunk, const std::string& source) {
  LogsReply r = ReplyBase(q);
  r.text = chunk.data;
  r.offset = chunk.offset;
  r.size = chunk.size;
  r.kept_from = chunk.kept_from;
  r.source = source;
  r.complete = q.ended && chunk.offset + chunk.data.size() >= chunk.size && chunk.kept_from <= q.req.offset;
  Finish(seq, ReplyFrame{q.to.request_id, Status::Ok(), PackBody(r)});
}

void LogsQueries::AnswerNothingFound(uint64_t seq, Query& q) {
  if (q.partial) {
    Found f = std::move(*q.partial);
    return AnswerWith(seq, q, f.chunk, f.source);
  }
  const std::string what = "the " + Stream(q.req) + " of attempt " + std::to_string(q.attempt) + " of " +
                           q.task_id + (q.cached_from.empty() ? "" : " (a cache hit's source)");
  const std::string where = q.runner_address.empty() ? "node " + q.runner_id
                                                     : "node " + q.runner_id + " at " + q.runner_address;
  std::string copies = q.ended ? "; no copy of it was found on the replicas of group " + q.group
                               : "; copies are made only when an attempt ends";
  if (q.runner_lacks) {
    return Fail(seq, Status::NotFound(what + " is no longer on " + where +
                                      ", which ran it (its data directory was replaced?)" + copies));
  }
  const std::string state = q.runner_gone ? ", which gossip reports dead" : ", which did not answer";
  Fail(seq, Status::Unavailable(what + " is on " + where + state + copies));
}

void LogsQueries::Fail(uint64_t seq, const Status& status) {
  auto it = queries_.find(seq);
  if (it == queries_.end()) return;
  Finish(seq, ReplyFrame{it->second.to.request_id, status, {}});
}

void LogsQueries::Finish(uint64_t seq, const ReplyFrame& frame) {
  auto it = queries_.find(seq);
  if (it == queries_.end()) return;
  ReplyTo to = it->second.to;
  queries_.erase(it);
  reply_(to, frame);
}

void LogsQueries::Tick(Instant now) {
  std::vector<uint64_t> late;
  for (const auto& [seq, q] : queries_) {
    if (q.deadline <= now) late.push_back(seq);
  }
  for (uint64_t seq : late) {
    Fail(seq, Status::Unavailable("no answer in " + std::to_string(kQueryTimeout.millis() / 1000) +
                                  " s: the task's group has no reachable leader, or its output's holders "
                                  "do not answer"));
  }
}

Instant LogsQueries::NextDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [seq, q] : queries_) next = std::min(next, q.deadline);
  return next;
}

}  // namespace magpie
