// NodeCore's name resolution (node/name_lookup.h): a request that names tasks by name is
// held while every group's leader is asked for the names, then carries on with the ids.
#include <algorithm>
#include <string_view>

#include "node/node_core.h"

namespace magpie {

namespace {

// Applies f to every place in the request that holds a task id or name, as a reference the
// resolution may rewrite. For a submit, only `after` entries naming no task of the request
// (the request's own names are resolved by HandleSubmit).
// Looking (repack false) costs a decode; rewriting (true) a decode and an encode.
template <typename Body, typename F>
Result<std::string> VisitIds(const std::string& body, bool repack, F&& f) {
  auto req = UnpackBody<Body>(body);
  if (!req.ok()) return req.status();
  f(*req);
  return repack ? PackBody(*req) : std::string();
}

template <typename F>
Result<std::string> ForEachTaskRef(const RequestFrame& frame, bool repack, F&& f) {
  switch (frame.type) {
    case RequestType::kStatus:
      return VisitIds<StatusRequest>(frame.body, repack, [&](StatusRequest& r) { f(r.id); });
    case RequestType::kCancel:
      return VisitIds<CancelRequest>(frame.body, repack, [&](CancelRequest& r) { f(r.id); });
    case RequestType::kRestart:
      return VisitIds<RestartRequest>(frame.body, repack, [&](RestartRequest& r) { f(r.id); });
    case RequestType::kSchedule:
      return VisitIds<ScheduleRequest>(frame.body, repack, [&](ScheduleRequest& r) { f(r.id); });
    case RequestType::kWait:
      return VisitIds<WaitRequest>(frame.body, repack, [&](WaitRequest& r) {
        for (auto& id : r.ids) f(id);
      });
    case RequestType::kSubmit:
      return VisitIds<SubmitRequest>(frame.body, repack, [&](SubmitRequest& r) {
        std::set<std::string> own;
        for (const auto& spec : r.tasks) {
          if (!spec.name.empty()) own.insert(spec.name);
        }
        for (auto& spec : r.tasks) {
          for (auto& a : spec.after) {
            if (own.count(a) == 0) f(a);
          }
        }
      });
    default:
      return frame.body;
  }
}

// Whether any task of a submit has an `after`: looked at in msgpack's object tree, without
// converting the specs, so a submit of thousands of tasks with none (the common case, and
// every throughput run) pays one parse here, not a second conversion of every spec.
bool SubmitHasAfter(const std::string& body) {
  try {
    msgpack::object_handle oh = msgpack::unpack(body.data(), body.size(), nullptr, nullptr,
                                                RecordLimit(body.size()));
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::MAP) return true;  // let the full decode judge it
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const msgpack::object_kv& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR || std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) != "tasks") continue;
      if (kv.val.type != msgpack::type::ARRAY) return true;
      for (uint32_t t = 0; t < kv.val.via.array.size; ++t) {
        const msgpack::object& spec = kv.val.via.array.ptr[t];
        // TaskSpec is a msgpack array; `after` is its sixth field.
        if (spec.type != msgpack::type::ARRAY) return true;
        constexpr uint32_t kAfterField = 5;
        if (spec.via.array.size <= kAfterField) continue;
        const msgpack::object& after = spec.via.array.ptr[kAfterField];
        if (after.type != msgpack::type::ARRAY || after.via.array.size > 0) return true;
      }
    }
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

}  // namespace

bool NodeCore::IsTaskId(const std::string& id_or_name) const {
  if (HasTaskIdForm(id_or_name)) return true;
  // Groups of another form exist only where the core was given one (tests); a name of that
  // shape is a name unless such a group is known here.
  const std::string g = GroupOfTaskId(id_or_name);
  return !g.empty() && KnownGroup(g);
}

std::set<std::string> NodeCore::KnownGroups() const {
  std::set<std::string> groups;
  for (const auto& [g, r] : replicas_) groups.insert(g);
  if (membership_) {
    for (const auto& m : membership_->Members(last_now_)) {
      for (const auto& [g, leader] : m.load.leader_hints) groups.insert(g);
    }
  }
  return groups;
}

std::vector<NameHit> NodeCore::NameHitsIn(const Replica& r, const std::vector<std::string>& names) const {
  std::vector<NameHit> hits;
  for (const auto& name : names) {
    if (const Task* t = r.table.FindByName(name)) hits.push_back(NameHit{name, t->id, t->submitted_ms});
  }
  return hits;
}

bool NodeCore::ResolveNames(Instant now, const ReplyTo& from, const RequestFrame& frame, int32_t hops) {
  if (frame.type == RequestType::kSubmit && !SubmitHasAfter(frame.body)) return false;
  std::vector<std::string> names;
  auto visited = ForEachTaskRef(frame, /*repack=*/false, [&](std::string& ref) {
    if (ref.empty() || IsTaskId(ref)) return;
    if (std::find(names.begin(), names.end(), ref) == names.end()) names.push_back(ref);
  });
  if (!visited.ok() || names.empty()) return false;  // a bad body gets its error where it is served
  if (names.size() > kMaxNamesPerLookup) {
    ReplyError(from, frame.type, Status::InvalidArgument("a request may name at most " +
                                                         std::to_string(kMaxNamesPerLookup) +
                                                         " tasks by name; use ids"));
    return true;
  }
  if (name_lookups_.size() >= kMaxNameLookups) {
    ReplyError(from, frame.type, Status::Unavailable("this node is resolving too many names at once; "
                                                     "retry, or use ids"));
    return true;
  }
  NameLookups::Lookup lookup;
  lookup.names = names;
  lookup.deadline = now + options_.route_wait;
  lookup.to = from;
  lookup.frame = frame;
  lookup.hops = hops;
  struct Ask {
    std::string group;
    std::string leader;  // empty: answered from our own replica
  };
  std::vector<Ask> asks;
  for (const auto& g : KnownGroups()) {
    const Replica* r = FindReplica(g);
    const bool leading = r != nullptr && r->serving && r->raft.is_leader();
    const std::string leader = leading ? "" : LeaderAddress(g, "");
    if (!leading && !leader.empty() && leader != options_.client_address) {
      asks.push_back(Ask{g, leader});
    } else if (r != nullptr) {
      // Ours to answer: we lead it, or nobody is known to and our replica is the best word.
      asks.push_back(Ask{g, ""});
    } else {
      lookup.missed.insert(g);
      continue;
    }
    lookup.waiting.insert(g);
  }
  const uint64_t seq = name_lookups_.Begin(std::move(lookup));
  for (const auto& ask : asks) {
    if (ask.leader.empty()) {
      name_lookups_.OnAnswer(NameAnswer{seq, ask.group, true, NameHitsIn(*FindReplica(ask.group), names)});
    } else {
      SendPeer(ask.leader, kNameQueryType, NameQuery{seq, ask.group, names});
    }
  }
  FinishNameLookups(now);
  return true;
}

void NodeCore::OnNameQuery(const std::string& from, const NameQuery& q) {
  if (q.names.size() > kMaxNamesPerLookup) {
    ++dropped_peer_messages_;
    return;
  }
  NameAnswer a;
  a.seq = q.seq;
  a.group = q.group;
  if (const Replica* r = FindReplica(q.group)) {
    a.holds_group = true;
    a.hits = NameHitsIn(*r, q.names);
  }
  SendPeer(from, kNameAnswerType, a);
}

void NodeCore::OnNameAnswer(Instant now, const NameAnswer& a) {
  name_lookups_.OnAnswer(a);
  FinishNameLookups(now);
}

void NodeCore::FinishNameLookups(Instant now) {
  for (auto& l : name_lookups_.TakeDone(now)) {
    Status missing = Status::Ok();
    auto rewritten = ForEachTaskRef(l.frame, /*repack=*/true, [&](std::string& ref) {
      auto it = l.found.find(ref);
      if (it != l.found.end()) {
        ref = it->second.id;
      } else if (l.frame.type != RequestType::kSubmit && missing.ok() &&
                 std::find(l.names.begin(), l.names.end(), ref) != l.names.end()) {
        missing = NameLookups::NotFoundError(ref, l);
      }
    });
    // A submit's unknown `after` names go on to HandleSubmit, whose refusal names the task.
    if (!missing.ok()) {
      ReplyError(l.to, l.frame.type, missing);
      continue;
    }
    if (!rewritten.ok()) {
      ReplyError(l.to, l.frame.type, rewritten.status());
      continue;
    }
    RequestFrame frame = l.frame;
    frame.body = std::move(*rewritten);
    Route(now, l.to, frame, l.hops, "", /*resolve_names=*/false);
  }
}

}  // namespace magpie
