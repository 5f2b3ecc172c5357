#include "node/http_logs.h"

#include <httplib.h>

#include <charconv>

#include "node/http_api.h"

namespace magpie {

namespace {

void SendError(httplib::Response& res, const HttpResponse& r) {
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
}

Result<bool> ParseFlag(const std::string& name, const std::string& v) {
  if (v.empty() || v == "0" || v == "false") return false;
  if (v == "1" || v == "true") return true;
  return Status::InvalidArgument(name + " must be 1 or 0, not '" + v + "'");
}

// What is open for one read: the client it talks through, and where it has got to.
struct LogsStream {
  std::unique_ptr<Client> client;
  std::unique_ptr<LogsReader> reader;
  std::string first;  // the first piece, read before the status line was chosen
  bool partial_ok = false;  // partial=1: what was kept of output larger than its bound will do
};

// Whether a read that has ended may end its body normally.
bool EndsWhole(const LogsStream& s) {
  const Status st = s.reader->status();
  return st.ok() || (s.partial_ok && st.code() == Status::Code::kUnavailable);
}

}  // namespace

Result<LogsReadOptions> ParseLogsQuery(const std::string& id, const std::string& attempt,
                                       const std::string& stream, const std::string& follow,
                                       const std::string& retries) {
  LogsReadOptions o;
  o.id = id;
  if (!attempt.empty()) {
    auto [end, ec] = std::from_chars(attempt.data(), attempt.data() + attempt.size(), o.attempt);
    if (ec != std::errc() || end != attempt.data() + attempt.size() || o.attempt == 0) {
      return Status::InvalidArgument("attempt must be a positive integer, not '" + attempt + "'");
    }
  }
  if (stream == "stderr") {
    o.stderr_stream = true;
  } else if (!stream.empty() && stream != "stdout") {
    return Status::InvalidArgument("stream must be stdout or stderr, not '" + stream + "'");
  }
  auto f = ParseFlag("follow", follow);
  if (!f.ok()) return f.status();
  auto r = ParseFlag("retries", retries);
  if (!r.ok()) return r.status();
  o.follow = *f;
  o.all_attempts = *r;
  if (o.all_attempts && !o.follow) return Status::InvalidArgument("retries=1 needs follow=1");
  if (o.all_attempts && o.attempt != 0) return Status::InvalidArgument("retries=1 follows the latest attempt: give no attempt");
  return o;
}

HttpLogs::HttpLogs(std::string node_address, ClientSecurity security, std::shared_ptr<spdlog::logger> logger)
    : node_address_(LoopbackForWildcard(node_address)), security_(std::move(security)), log_(std::move(logger)) {}

void HttpLogs::Route(httplib::Server& server) {
  server.Get(R"(/api/v1/tasks/([^/]+)/logs)", [this](const httplib::Request& req, httplib::Response& res) {
    if (stopping_) return SendError(res, ErrorResponse(Status::Unavailable("the node is stopping")));
    auto options = ParseLogsQuery(req.matches[1], req.get_param_value("attempt"), req.get_param_value("stream"),
                                  req.get_param_value("follow"), req.get_param_value("retries"));
    if (!options.ok()) return SendError(res, ErrorResponse(options.status()));
    auto partial = ParseFlag("partial", req.get_param_value("partial"));
    if (!partial.ok()) return SendError(res, ErrorResponse(partial.status()));
    if (open_.fetch_add(1) >= kMaxLogStreams) {
      --open_;
      return SendError(res, ErrorResponse(Status::Busy(std::to_string(kMaxLogStreams) +
                                                       " output reads are open on this node, its limit: retry, "
                                                       "or use another node")));
    }
    auto stream = std::make_shared<LogsStream>();
    auto client = Client::Connect(node_address_, security_);
    Result<std::string> first = client.ok() ? Result<std::string>(std::string()) : client.status();
    if (client.ok()) {
      stream->client = std::move(*client);
      stream->reader = std::make_unique<LogsReader>(stream->client.get(), *options);
      first = stream->reader->Next();
    }
    // Before the status line: a read that cannot even start, or that would not be whole
    // without saying so, is an error response.
    Status refused = first.ok() ? Status::Ok() : first.status();
    stream->partial_ok = *partial;
    if (refused.ok() && !EndsWhole(*stream)) refused = stream->reader->status();
    if (!refused.ok()) {
      --open_;
      return SendError(res, ErrorResponse(refused));
    }
    stream->first = std::move(*first);
    const LogsReply& last = stream->reader->last();
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Magpie-Attempt", std::to_string(last.attempt));
    res.set_header("X-Magpie-Node", last.node_address.empty() ? last.node : last.node_address);
    if (last.kept_from > 0) {
      // partial=1: the caller asked for what was kept; these say how much is missing.
      res.set_header("X-Magpie-Kept-From", std::to_string(last.kept_from));
      res.set_header("X-Magpie-Size", std::to_string(last.size));
    }
    res.set_chunked_content_provider(
        "text/plain; charset=utf-8",
        [this, stream](size_t, httplib::DataSink& sink) {
          if (stopping_ || !sink.is_writable()) return false;
          if (!stream->first.empty()) {
            std::string first = std::move(stream->first);
            stream->first.clear();
            return sink.write(first.data(), first.size());
          }
          if (stream->reader->done()) {
            // Cut short (no final chunk) when something is missing that was not accepted.
            if (!EndsWhole(*stream)) return false;
            sink.done();
            return true;
          }
          auto piece = stream->reader->Next();
          if (!piece.ok()) {
            log_->info("logs stream ended by an error: {}", piece.status().ToString());
            return false;
          }
          if (piece->empty()) return true;
          return sink.write(piece->data(), piece->size());
        },
        [this](bool) { --open_; });
  });
}

}  // namespace magpie
