#include "node/event_stream.h"

#include <algorithm>

#include "node/task_json.h"

namespace magpie {

namespace {

// Tasks whose last index is remembered, to drop replicas' copies; a task older than this
// many others could be reported twice (it would need a replica that far behind).
constexpr size_t kMaxTrackedTasks = 200000;
// Items waiting for the reader; past this, members' threads wait (the reader is slow).
constexpr size_t kMaxQueued = 50000;
constexpr auto kRetryPause = std::chrono::milliseconds(1000);
// On top of the poll: how long a member may take to answer a watch before it counts as down.
constexpr auto kAnswerAllowance = std::chrono::milliseconds(3000);

}  // namespace

std::string WatchEventJson(const WatchEvent& e, const std::string& reported_by) {
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json j;
  j["task"] = e.task_id;
  j["name"] = or_null(e.task_name);
  j["group"] = e.group;
  j["index"] = e.event.index;
  j["term"] = e.event.term;
  j["at"] = TimeToJson(e.event.at_ms);
  j["kind"] = e.event.kind;
  j["attempt"] = e.event.attempt == 0 ? Json(nullptr) : Json(e.event.attempt);
  j["node"] = or_null(e.event.node);
  j["detail"] = or_null(e.event.detail);
  j["accepted"] = e.event.accepted;
  j["state"] = TaskStateName(e.event.state_after);
  j["reported_by"] = reported_by;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

EventStream::EventStream(EventStreamOptions options) : options_(std::move(options)) {
  cursors_ = options_.resume;
}

EventStream::~EventStream() {
  Stop();
  if (refresher_.joinable()) refresher_.join();
  for (auto& [id, m] : members_) {
    if (m->thread.joinable()) m->thread.join();
  }
}

Result<std::unique_ptr<EventStream>> EventStream::Start(EventStreamOptions options) {
  if (!options.state.empty() && !ParseTaskState(options.state)) {
    return Status::InvalidArgument("unknown state '" + options.state + "' (" + TaskStateNames() + ")");
  }
  auto client = Client::Connect(options.node, options.security);
  if (!client.ok()) return client.status();
  auto members = (*client)->Members();
  if (!members.ok()) return members.status();
  std::unique_ptr<EventStream> s(new EventStream(std::move(options)));
  s->AddMembers(*members, /*late=*/false);
  EventStream* raw = s.get();
  s->refresher_ = std::thread([raw] { raw->RefreshMembers(); });
  return s;
}

void EventStream::AddMembers(const MembersReply& reply, bool late) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const MemberInfo& info : reply.members) {
    // A member once watched stays watched (retried while down): it may come back.
    if (members_.count(info.id) != 0) continue;
    if (info.state != "alive" && info.state != "suspect") continue;
    if (members_.size() >= options_.max_members) continue;
    auto m = std::make_unique<Member>();
    m->id = info.id;
    m->address = info.address;
    m->late = late;
    Member* raw = m.get();
    members_[info.id] = std::move(m);
    raw->thread = std::thread([this, raw] { Poll(raw); });
  }
}

void EventStream::RefreshMembers() {
  while (Pause(options_.members_every)) {
    // The first node, else any member known: the stream outlives the node it started from.
    std::vector<std::string> ask{options_.node};
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, m] : members_) ask.push_back(m->address);
    }
    for (const auto& address : ask) {
      auto client = Client::Connect(address, options_.security);
      if (!client.ok()) continue;
      auto members = (*client)->Members(std::chrono::milliseconds(2000));
      if (!members.ok()) continue;
      AddMembers(*members, /*late=*/true);
      break;
    }
  }
}

bool EventStream::Pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_;
}

void EventStream::Poll(Member* m) {
  uint64_t cursor = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cursors_.find(m->id); it != cursors_.end()) cursor = it->second;
  }
  std::unique_ptr<Client> client;
  bool down = false;
  while (!stop_) {
    if (!client) {
      auto c = Client::Connect(m->address, options_.security);
      if (!c.ok()) {
        Push(Queued{Item{Item::Kind::kNote, {}, m->id, "cannot watch node " + m->id + ": " + c.status().ToString()}});
        return;
      }
      client = std::move(*c);
    }
    WatchRequest req;
    req.cursor = cursor;
    req.from_oldest = cursor == 0 && options_.from_oldest && !m->late;
    req.state = options_.state;
    req.task_id = options_.task_id;
    req.timeout_ms = options_.poll.count();
    auto r = client->Watch(req, kAnswerAllowance);
    if (!r.ok()) {
      if (!down) {
        Push(Queued{Item{Item::Kind::kNote, {}, m->id,
                         "node " + m->id + " at " + m->address + " does not answer (" +
                             r.status().message() + "); retrying"}});
      }
      down = true;
      // A fresh connection: the old one may still deliver the late answer of a lost call.
      client.reset();
      if (!Pause(kRetryPause)) break;
      continue;
    }
    if (down) Push(Queued{Item{Item::Kind::kNote, {}, m->id, "node " + m->id + " answers again"}});
    down = false;
    if (r->gap && cursor != 0) {
      Push(Queued{Item{Item::Kind::kGap, {}, m->id,
                       "node " + m->id + " restarted or dropped events this stream had not "
                       "read; those only it reported may be missing"}});
    }
    for (auto& e : r->events) {
      Queued q;
      q.item.node_id = m->id;
      q.item.event = std::move(e);
      Push(std::move(q));
    }
    Queued c;
    c.cursor_only = true;
    c.item.node_id = m->id;
    c.cursor = r->next_cursor;
    Push(std::move(c));
    cursor = r->next_cursor;
    m->answered = true;
  }
}

bool EventStream::Fresh(const WatchEvent& e) {
  auto [it, inserted] = last_index_.emplace(e.task_id, e.event.index);
  if (inserted) {
    tracked_.push_back(e.task_id);
    if (tracked_.size() > kMaxTrackedTasks) {
      last_index_.erase(tracked_.front());
      tracked_.pop_front();
    }
    return true;
  }
  if (e.event.index <= it->second) return false;
  it->second = e.event.index;
  return true;
}

void EventStream::Push(Queued q) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || queue_.size() < kMaxQueued; });
  if (stop_) return;
  if (!q.cursor_only && q.item.kind == Item::Kind::kEvent && !Fresh(q.item.event)) return;
  queue_.push_back(std::move(q));
  cv_.notify_all();
}

std::vector<EventStream::Item> EventStream::Next(std::chrono::milliseconds wait) {
  std::vector<Item> out;
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (out.empty()) {
    cv_.wait_until(lock, deadline, [this] { return stop_ || !queue_.empty(); });
    while (!queue_.empty()) {
      Queued q = std::move(queue_.front());
      queue_.pop_front();
      if (q.cursor_only) {
        cursors_[q.item.node_id] = q.cursor;
      } else {
        if (q.item.kind == Item::Kind::kEvent) cursors_[q.item.node_id] = q.item.event.cursor;
        out.push_back(std::move(q.item));
      }
    }
    cv_.notify_all();  // room in the queue
    if (stop_ || std::chrono::steady_clock::now() >= deadline) break;
  }
  return out;
}

bool EventStream::Established() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, m] : members_) {
    if (!m->answered) return false;
  }
  return true;
}

size_t EventStream::members() const {
  std::lock_guard<std::mutex> lock(mu_);
  return members_.size();
}

std::map<std::string, uint64_t> EventStream::Cursors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cursors_;
}

void EventStream::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace magpie
