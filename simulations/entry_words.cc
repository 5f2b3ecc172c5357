#include "simulations/entry_words.h"

namespace magpie {

namespace {

std::string List(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out + "]";
}

}  // namespace

std::string DescribeEntry(const Entry& e) {
  const std::string head = "#" + std::to_string(e.index) + " ";
  switch (e.type) {
    case EntryType::kNoop:
      return head + "noop";
    case EntryType::kSubmit: {
      auto s = DecodePayload<SubmitEntry>(e.payload);
      if (!s.ok()) break;
      std::string cmd;
      for (const auto& a : s->spec.command) cmd += (cmd.empty() ? "" : " ") + a;
      return head + "submit " + s->id + " '" + cmd + "' after=" + List(s->spec.after) +
             " max_attempts=" + std::to_string(s->spec.max_attempts) +
             " timeout_ms=" + std::to_string(s->spec.timeout_ms);
    }
    case EntryType::kGrant: {
      auto g = DecodePayload<GrantEntry>(e.payload);
      if (!g.ok()) break;
      return head + "grant " + g->task_id + " attempt " + std::to_string(g->attempt) + " to " + g->holder;
    }
    case EntryType::kFinish: {
      auto f = DecodePayload<FinishEntry>(e.payload);
      if (!f.ok()) break;
      return head + "finish " + f->task_id + " attempt " + std::to_string(f->attempt) + " " +
             OutcomeName(f->outcome) + " (" + f->reason + ")";
    }
    case EntryType::kCancel: {
      auto c = DecodePayload<CancelEntry>(e.payload);
      if (!c.ok()) break;
      return head + "cancel " + c->task_id;
    }
    case EntryType::kRestart: {
      auto r = DecodePayload<RestartEntry>(e.payload);
      if (!r.ok()) break;
      return head + "restart " + r->task_id;
    }
    case EntryType::kStarted: {
      auto st = DecodePayload<StartedEntry>(e.payload);
      if (!st.ok()) break;
      std::string out = head + "started";
      for (const auto& a : st->starts) out += " " + a.task_id + "/" + std::to_string(a.attempt);
      return out;
    }
    default:
      return head + "entry of type " + std::to_string(static_cast<int>(e.type));
  }
  return head + "undecodable entry";
}

}  // namespace magpie
