#include "node/group_log.h"

namespace magpie {

std::string EncodeIndex(uint64_t index) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(index & 0xff);
    index >>= 8;
  }
  return s;
}

uint64_t DecodeIndex(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

GroupLog::GroupLog(std::string group_id) : group_id_(std::move(group_id)) {}

std::string GroupLog::LogKey(uint64_t index) const {
  return group_id_ + "/" + EncodeIndex(index);
}

Status GroupLog::Load(const Storage& storage, uint64_t applied_index) {
  MAGPIE_CHECK(entries_.empty(), "GroupLog::Load after Append");
  applied_index_ = applied_index;
  commit_index_ = applied_index;
  first_index_ = applied_index + 1;
  unstable_from_ = first_index_;
  // What earlier lives left on disk below applied_index goes at the next compaction.
  compacted_to_ = 0;

  auto hs = storage.Get(Column::kMeta, HardStateKey());
  if (!hs.ok()) return hs.status();
  if (hs->has_value()) {
    auto term = DecodePayload<uint64_t>(**hs);
    if (!term.ok()) return Status::Corruption("hard state of group " + group_id_ + ": " +
                                              term.status().message());
    term_ = *term;
  }

  Status decode_error;
  uint64_t expect = first_index_;
  Status s = storage.Scan(
      Column::kLog, LogKey(first_index_), group_id_ + "0",  // '0' follows '/' in ASCII
      [&](std::string_view key, std::string_view value) {
        auto e = DecodeEntry(value);
        if (!e.ok()) {
          decode_error = e.status();
          return false;
        }
        if (e->index != expect) {
          decode_error = Status::Corruption("log of group " + group_id_ + " has a gap: expected " +
                                            std::to_string(expect) + ", found " +
                                            std::to_string(e->index));
          return false;
        }
        entries_.push_back(std::move(*e));
        ++expect;
        return true;
      });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  // Everything on disk was synced before anything depended on it: with one member it is
  // committed, and replaying it rebuilds what the crash lost of the applied table.
  unstable_from_ = last_index() + 1;
  commit_index_ = last_index();
  return Status::Ok();
}

uint64_t GroupLog::Append(EntryType type, std::string payload) {
  Entry e;
  e.index = last_index() + 1;
  e.term = term_;
  e.type = type;
  e.payload = std::move(payload);
  entries_.push_back(std::move(e));
  return last_index();
}

uint64_t GroupLog::TakeUnstable(WriteBatch* batch) {
  if (!HasUnstable()) return 0;
  for (uint64_t i = unstable_from_; i <= last_index(); ++i) {
    const Entry& e = entries_[i - first_index_];
    batch->Put(Column::kLog, LogKey(i), EncodeEntry(e));
  }
  batch->Put(Column::kMeta, HardStateKey(), EncodePayload(term_));
  uint64_t last = last_index();
  unstable_from_ = last + 1;
  return last;
}

void GroupLog::MarkDurable(uint64_t index) {
  MAGPIE_CHECK(index <= last_index(), "durable past the end of the log");
  if (index > commit_index_) commit_index_ = index;
}

std::vector<Entry> GroupLog::TakeCommitted() {
  std::vector<Entry> out;
  while (applied_index_ < commit_index_) {
    MAGPIE_CHECK(!entries_.empty() && entries_.front().index == applied_index_ + 1,
                 "applied entries must be contiguous");
    out.push_back(std::move(entries_.front()));
    entries_.pop_front();
    ++first_index_;
    ++applied_index_;
  }
  return out;
}

void GroupLog::Compact(uint64_t index, WriteBatch* batch) {
  MAGPIE_CHECK(index <= applied_index_, "compacting unapplied entries");
  if (index <= compacted_to_) return;
  batch->DeleteRange(Column::kLog, LogKey(compacted_to_ + 1), LogKey(index + 1));
  compacted_to_ = index;
}

}  // namespace magpie
