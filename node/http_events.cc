#include "node/http_events.h"

#include <httplib.h>

#include <charconv>
#include <chrono>

#include "node/event_stream.h"
#include "node/http_api.h"
#include "node/task_json.h"

namespace magpie {

namespace {

// How long one wait for events lasts: also how soon a stopping server's streams end.
constexpr auto kSlice = std::chrono::milliseconds(1000);
// Proxies and browsers drop a connection silent for long; a comment now and then keeps it.
constexpr auto kKeepalive = std::chrono::seconds(15);

void SendError(httplib::Response& res, const HttpResponse& r) {
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
}

// One SSE message: each line of data is its own "data:" line.
std::string Message(const std::string& event, const std::string& data, const std::string& id) {
  std::string out;
  if (!event.empty()) out += "event: " + event + "\n";
  if (!id.empty()) out += "id: " + id + "\n";
  out += "data: " + data + "\n\n";
  return out;
}

// A comment line: no newline may end it early.
std::string Comment(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return ": " + text + "\n\n";
}

}  // namespace

std::string FormatEventId(const std::map<std::string, uint64_t>& cursors) {
  std::string out;
  for (const auto& [node, cursor] : cursors) {
    if (!out.empty()) out += ",";
    out += node + "=" + std::to_string(cursor);
  }
  return out;
}

Result<std::map<std::string, uint64_t>> ParseEventId(const std::string& id) {
  std::map<std::string, uint64_t> out;
  size_t start = 0;
  while (start < id.size()) {
    size_t end = id.find(',', start);
    if (end == std::string::npos) end = id.size();
    const std::string part = id.substr(start, end - start);
    const size_t eq = part.find('=');
    uint64_t cursor = 0;
    const char* first = part.data() + (eq == std::string::npos ? 0 : eq + 1);
    const char* last = part.data() + part.size();
    auto [ptr, ec] = std::from_chars(first, last, cursor);
    if (eq == std::string::npos || eq == 0 || ec != std::errc() || ptr != last || out.size() >= 1024) {
      return Status::InvalidArgument("Last-Event-ID '" + id.substr(0, 200) +
                                     "' is not an id this stream sent (NODE=CURSOR,...)");
    }
    out[part.substr(0, eq)] = cursor;
    start = end + 1;
  }
  return out;
}

HttpEvents::HttpEvents(std::string node_address, ClientSecurity security,
                       std::shared_ptr<spdlog::logger> logger)
    : node_address_(LoopbackForWildcard(node_address)),
      security_(std::move(security)),
      log_(std::move(logger)) {}

void HttpEvents::StopAll() {
  stopping_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : open_) s->Stop();
}

void HttpEvents::Forget(const std::shared_ptr<EventStream>& stream) {
  stream->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(stream);
}

void HttpEvents::Route(httplib::Server& server) {
  server.Get("/api/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
    if (stopping_) return SendError(res, ErrorResponse(Status::Unavailable("the node is stopping")));
    EventStreamOptions o;
    o.node = node_address_;
    o.security = security_;
    o.state = req.get_param_value("state");
    o.task_id = req.get_param_value("task");
    const std::string from = req.get_param_value("from");
    if (!from.empty() && from != "oldest" && from != "now") {
      return SendError(res, ErrorResponse(Status::InvalidArgument("from must be 'now' or 'oldest', not '" + from + "'")));
    }
    o.from_oldest = from == "oldest";
    // Browsers send Last-Event-ID when they reconnect; ?last_event_id= is for the rest.
    std::string resume = req.get_header_value("Last-Event-ID");
    if (resume.empty()) resume = req.get_param_value("last_event_id");
    if (!resume.empty()) {
      auto cursors = ParseEventId(resume);
      if (!cursors.ok()) return SendError(res, ErrorResponse(cursors.status()));
      o.resume = std::move(*cursors);
    }
    {
      // The slot is taken here, under the lock, so requests arriving together cannot all
      // pass the check; it is given back if the stream does not start.
      std::lock_guard<std::mutex> lock(mu_);
      if (open_.size() + starting_ >= static_cast<size_t>(kMaxEventStreams)) {
        return SendError(res, ErrorResponse(Status::Busy(
                                  std::to_string(kMaxEventStreams) +
                                  " event streams are open on this node, its limit: use another node")));
      }
      ++starting_;
    }
    auto started = EventStream::Start(std::move(o));
    std::shared_ptr<EventStream> stream;
    if (started.ok()) stream = std::move(*started);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --starting_;
      if (stream) open_.insert(stream);
    }
    if (!started.ok()) return SendError(res, ErrorResponse(started.status()));
    struct State {
      bool announced = false;
      std::string last_id;  // the id the client holds now
      std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
    };
    auto state = std::make_shared<State>();
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream, state](size_t, httplib::DataSink& sink) {
          if (stopping_ || !sink.is_writable()) {
            sink.done();
            return true;
          }
          std::string out;
          if (!state->announced && stream->Established()) {
            // Subscribers may act on this: from here on, no event is missed.
            out += Comment("watching " + std::to_string(stream->members()) + " nodes");
            state->announced = true;
          }
          auto items = stream->Next(kSlice);
          size_t last_event = items.size();
          for (size_t i = 0; i < items.size(); ++i) {
            if (items[i].kind == EventStream::Item::Kind::kEvent) last_event = i;
          }
          for (size_t i = 0; i < items.size(); ++i) {
            const EventStream::Item& item = items[i];
            switch (item.kind) {
              case EventStream::Item::Kind::kEvent:
                // The id goes on the batch's last event only: a stream cut inside a batch
                // resumes before it (events again rather than events lost).
                if (i == last_event) state->last_id = FormatEventId(stream->Cursors());
                out += Message("", WatchEventJson(item.event, item.node_id),
                               i == last_event ? state->last_id : "");
                break;
              case EventStream::Item::Kind::kGap: {
                Json j;
                j["node"] = item.node_id;
                j["text"] = item.text;
                out += Message("gap", j.dump(), "");
                break;
              }
              case EventStream::Item::Kind::kNote:
                out += Comment(item.text);
                break;
            }
          }
          // Cursors also move past events other replicas reported first and past what the
          // filters skip: an id alone (no data, so no event) moves the client's
          // Last-Event-ID with them, and a resume does not hear those again.
          if (std::string id = FormatEventId(stream->Cursors()); id != state->last_id) {
            out += "id: " + id + "\n\n";
            state->last_id = std::move(id);
          }
          const auto now = std::chrono::steady_clock::now();
          if (out.empty() && now - state->last_write >= kKeepalive) out = ": keepalive\n\n";
          if (out.empty()) return true;
          state->last_write = now;
          return sink.write(out.data(), out.size());
        },
        [this, stream](bool) { Forget(stream); });
  });
}

}  // namespace magpie
