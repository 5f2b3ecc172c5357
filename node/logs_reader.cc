#include "node/logs_reader.h"

#include <thread>

#include "node/byte_size.h"

namespace magpie {

namespace {

std::string StreamName(bool stderr_stream) { return stderr_stream ? "stderr" : "stdout"; }

std::string NodeWords(const LogsReply& r) {
  if (r.node_address.empty()) return "node " + r.node;
  return "node " + r.node + " at " + r.node_address;
}

bool Transient(const Status& s) {
  return s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kBusy ||
         s.code() == Status::Code::kIOError;
}

}  // namespace

LogsCursor::LogsCursor(const LogsReadOptions& options) : options_(options), attempt_(options.attempt) {}

LogsRequest LogsCursor::NextRequest() const {
  LogsRequest r;
  r.id = options_.id;
  r.stderr_stream = options_.stderr_stream;
  r.attempt = attempt_;
  r.offset = offset_;
  r.max_bytes = options_.max_bytes;
  return r;
}

LogsCursor::Outcome LogsCursor::Apply(const LogsReply& reply) {
  Outcome out;
  if (reply.attempt == 0 || (finished_attempt_ != 0 && reply.attempt <= finished_attempt_)) {
    // No attempt to read yet (or, following retries, none newer than the one read).
    if (reply.task_ended) {
      if (finished_attempt_ == 0) {
        status_ = Status::FailedPrecondition("task " + options_.id + " ended without running: it has no output");
      }
      out.step = Step::kDone;
    } else if (options_.follow) {
      out.step = Step::kWait;
    } else {
      status_ = Status::FailedPrecondition("task " + options_.id + " has not started yet: it has no output "
                                           "(--follow waits for it)");
      out.step = Step::kDone;
    }
    return out;
  }
  if (attempt_ == 0) {
    if (finished_attempt_ != 0) {
      out.note = "attempt " + std::to_string(reply.attempt) + " (" + NodeWords(reply) + ")";
    }
    attempt_ = reply.attempt;
  }
  if (reply.offset > offset_ && !gap_) {
    gap_ = true;
    status_ = Status::Unavailable(
        "only the last " + FormatByteSize(reply.size - reply.kept_from) + " of " + FormatByteSize(reply.size) +
        " of the " + StreamName(options_.stderr_stream) + " of attempt " + std::to_string(reply.attempt) +
        " were kept beyond the node that ran it (the earlier bytes are not shown); the whole is on " +
        NodeWords(reply) + ", which cannot be reached");
  }
  out.text = reply.text;
  offset_ = std::max(offset_, reply.offset + reply.text.size());
  if (offset_ < reply.size && !reply.text.empty()) {
    out.step = Step::kMore;
    return out;
  }
  if (!reply.ended) {
    out.step = options_.follow ? Step::kWait : Step::kDone;
    return out;
  }
  if (offset_ < reply.size && status_.ok()) {
    status_ = Status::Corruption("the output of attempt " + std::to_string(reply.attempt) + " ended at byte " +
                                 std::to_string(offset_) + " of " + std::to_string(reply.size) +
                                 " (answered by node " + reply.source + ")");
    out.step = Step::kDone;
    return out;
  }
  if (options_.follow && options_.all_attempts && !reply.task_ended && options_.attempt == 0) {
    // On to the next attempt, whenever it starts.
    finished_attempt_ = attempt_;
    attempt_ = 0;
    offset_ = 0;
    out.step = Step::kWait;
    return out;
  }
  out.step = Step::kDone;
  return out;
}

LogsReader::LogsReader(Client* client, LogsReadOptions options)
    : client_(client), options_(std::move(options)), cursor_(options_) {}

std::vector<std::string> LogsReader::TakeNotes() {
  std::vector<std::string> out;
  out.swap(notes_);
  return out;
}

Result<std::string> LogsReader::Next() {
  if (done_) return std::string();
  auto reply = client_->Logs(cursor_.NextRequest(), options_.call_timeout);
  if (!reply.ok()) {
    const auto now = std::chrono::steady_clock::now();
    if (!options_.follow || !Transient(reply.status())) {
      done_ = true;
      return reply.status();
    }
    if (failing_since_ == std::chrono::steady_clock::time_point{}) failing_since_ = now;
    if (now - failing_since_ >= options_.error_patience) {
      done_ = true;
      return reply.status();
    }
    std::this_thread::sleep_for(options_.poll);
    return std::string();
  }
  failing_since_ = {};
  last_ = *reply;
  LogsCursor::Outcome out = cursor_.Apply(*reply);
  if (!out.note.empty()) notes_.push_back(std::move(out.note));
  switch (out.step) {
    case LogsCursor::Step::kMore:
      break;
    case LogsCursor::Step::kWait:
      if (out.text.empty()) std::this_thread::sleep_for(options_.poll);
      break;
    case LogsCursor::Step::kDone:
      done_ = true;
      break;
  }
  return std::move(out.text);
}

}  // namespace magpie
