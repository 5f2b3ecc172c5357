#include "simulations/sim_client.h"

#include <algorithm>

namespace magpie {

SimClient::SimClient(ClientOptions options, Workload* workload, Prng* prng, EventQueue* events,
                     SimNetwork* network, TraceHash* trace, ClientHooks* hooks,
                     std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)),
      workload_(workload),
      prng_(prng),
      events_(events),
      network_(network),
      trace_(trace),
      hooks_(hooks),
      log_(std::move(log)) {
  memory_.name = options_.name;
}

void SimClient::Start(SimTime now) {
  events_->Push(now + Duration::Micros(prng_->Between(0, options_.act_max_us)),
                EventKind::kClientAct, options_.index, 0);
}

void SimClient::Send(SimTime now, int node, const std::string& bytes) {
  ++stats_.sends;
  Packet p;
  p.kind = Packet::Kind::kRequest;
  p.from = options_.endpoint;
  p.to = node;
  p.bytes = bytes;
  network_->Send(now, std::move(p));
}

void SimClient::Act(SimTime now) {
  if (stopped_) return;
  events_->Push(now + Duration::Micros(prng_->Between(options_.act_min_us, options_.act_max_us)),
                EventKind::kClientAct, options_.index, 0);
  if (outstanding_.size() >= options_.max_outstanding) {
    ++stats_.skipped;
    return;
  }
  PlannedRequest plan = workload_->Next(memory_);
  if (plan.type == RequestType::kSubmit && !plan.garbage) {
    if (tasks_submitted_ >= options_.max_tasks) {
      ++stats_.skipped;
      return;
    }
    tasks_submitted_ += plan.tasks;
  }
  ++stats_.requests;
  trace_->Record(now, options_.endpoint, TraceKind::kRequest, static_cast<uint64_t>(plan.type),
                 static_cast<uint64_t>(plan.node));
  if (plan.garbage) {
    // Fire and forget: the node must answer with an error (request id 0) and go on.
    ++stats_.garbage_sent;
    Send(now, plan.node, plan.raw);
    return;
  }
  const uint64_t id = next_request_id_++;
  Outstanding o;
  o.node = plan.node;
  o.type = plan.type;
  o.bytes = EncodeRequest(RequestFrame{plan.type, id, std::move(plan.body)});
  o.first_sent = now;
  o.retry_us = options_.retry_us;
  if (plan.type == RequestType::kWait) o.retry_us += 2'000'000;  // the node holds a wait
  o.sends = 1;
  log_->debug("{} request {} to node {}", RequestTypeName(plan.type), id, plan.node);
  Send(now, plan.node, o.bytes);
  events_->Push(now + Duration::Micros(o.retry_us), EventKind::kClientRetry, options_.index, id);
  outstanding_.emplace(id, std::move(o));
}

void SimClient::Retry(SimTime now, uint64_t request_id) {
  auto it = outstanding_.find(request_id);
  if (it == outstanding_.end()) return;
  Outstanding& o = it->second;
  ++o.sends;
  log_->debug("retrying {} request {} to node {} (send {})", RequestTypeName(o.type), request_id,
              o.node, o.sends);
  Send(now, o.node, o.bytes);
  o.retry_us = std::min<int64_t>(o.retry_us * 2, kMaxRetryUs);
  events_->Push(now + Duration::Micros(o.retry_us), EventKind::kClientRetry, options_.index,
                request_id);
}

void SimClient::OnReply(SimTime now, const std::string& bytes) {
  auto reply = DecodeReply(bytes);
  if (!reply.ok()) {
    log_->error("undecodable reply from a node: {}", reply.status().ToString());
    ++stats_.errors;
    return;
  }
  if (reply->request_id == 0) {
    ++stats_.garbage_answered;
    return;
  }
  auto it = outstanding_.find(reply->request_id);
  if (it == outstanding_.end()) {
    ++stats_.stale_replies;
    return;
  }
  const Outstanding o = std::move(it->second);
  outstanding_.erase(it);
  if (!reply->status.ok()) {
    ++stats_.errors;
    log_->debug("{} request {} to node {} failed: {}", RequestTypeName(o.type), reply->request_id,
                o.node, reply->status.ToString());
    return;
  }
  if (o.type != RequestType::kSubmit) return;
  auto body = UnpackBody<SubmitReply>(reply->body);
  if (!body.ok()) {
    log_->error("undecodable submit reply: {}", body.status().ToString());
    ++stats_.errors;
    return;
  }
  for (const auto& id : body->ids) memory_.Remember(o.node, id);
  stats_.acked_tasks += body->ids.size();
  std::vector<std::string> keys(body->ids.size());
  if (auto frame = DecodeRequest(o.bytes); frame.ok()) {
    if (auto req = UnpackBody<SubmitRequest>(frame->body); req.ok()) {
      for (size_t i = 0; i < keys.size() && i < req->tasks.size(); ++i) {
        keys[i] = req->tasks[i].idempotency_key;
      }
    }
  }
  hooks_->OnAck(now, options_.index, o.node, body->ids, keys);
}

}  // namespace magpie
