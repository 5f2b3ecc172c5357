// The Raft wire codec: every message kind survives a round trip, and no input at all, however
// malformed, crashes the decoder or a RaftGroup: it is a value, dropped and counted.
#include <spdlog/sinks/null_sink.h>

#include <gtest/gtest.h>

#include "base/prng.h"
#include "node/raft/raft_group.h"
#include "storage/memory_storage.h"

namespace magpie {
namespace {

RaftMessage Base(RaftMessageType type) {
  RaftMessage m;
  m.type = type;
  m.group_id = "g1";
  m.from = "n1";
  m.from_address = "127.0.0.1:7401";
  m.to = "n2";
  m.term = 7;
  return m;
}

std::vector<RaftMessage> OneOfEach() {
  std::vector<RaftMessage> all;
  RaftMessage pre = Base(RaftMessageType::kPreVote);
  pre.index = 10;
  pre.log_term = 6;
  all.push_back(pre);
  RaftMessage vote = Base(RaftMessageType::kVote);
  vote.index = 10;
  vote.log_term = 6;
  vote.transfer = true;
  all.push_back(vote);
  RaftMessage pre_resp = Base(RaftMessageType::kPreVoteResponse);
  pre_resp.reject = true;
  all.push_back(pre_resp);
  all.push_back(Base(RaftMessageType::kVoteResponse));
  RaftMessage app = Base(RaftMessageType::kAppend);
  app.index = 4;
  app.log_term = 6;
  app.commit = 3;
  app.echo_us = 1'700'000'000'000'123;
  app.entries = {Entry{5, 6, EntryType::kSubmit, "a"}, Entry{6, 7, EntryType::kNoop, ""},
                 Entry{7, 7, kRaftConfigEntryType, std::string("\0\x01\xff", 3)}};
  all.push_back(app);
  RaftMessage app_resp = Base(RaftMessageType::kAppendResponse);
  app_resp.index = 9;
  app_resp.reject = true;
  app_resp.reject_hint = 5;
  app_resp.log_term = 4;
  app_resp.echo_us = 99;
  all.push_back(app_resp);
  RaftMessage hb = Base(RaftMessageType::kHeartbeat);
  hb.commit = 3;
  hb.echo_us = 5;
  all.push_back(hb);
  RaftMessage hb_resp = Base(RaftMessageType::kHeartbeatResponse);
  hb_resp.echo_us = 5;
  all.push_back(hb_resp);
  RaftMessage snap = Base(RaftMessageType::kInstallSnapshot);
  snap.index = 100;
  snap.log_term = 6;
  snap.members.members = {RaftMember{"n1", "a:1", true, false}, RaftMember{"n4", "a:4", false, true}};
  snap.offset = 10;
  snap.total_bytes = 30;
  snap.data = "0123456789";
  snap.echo_us = 8;
  all.push_back(snap);
  RaftMessage snap_resp = Base(RaftMessageType::kInstallSnapshotResponse);
  snap_resp.index = 100;
  snap_resp.offset = 20;
  snap_resp.done = true;
  snap_resp.echo_us = 8;
  all.push_back(snap_resp);
  all.push_back(Base(RaftMessageType::kTimeoutNow));
  return all;
}

TEST(RaftCodec, EveryMessageKindSurvivesARoundTrip) {
  for (const RaftMessage& m : OneOfEach()) {
    SCOPED_TRACE(RaftMessageTypeName(m.type));
    auto d = DecodeRaftMessage(EncodeRaftMessage(m));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(EncodeRaftMessage(*d), EncodeRaftMessage(m));
    EXPECT_EQ(d->type, m.type);
    EXPECT_EQ(d->from_address, m.from_address);
    EXPECT_EQ(d->term, m.term);
    EXPECT_EQ(d->entries.size(), m.entries.size());
    for (size_t i = 0; i < m.entries.size(); ++i) {
      EXPECT_EQ(d->entries[i].payload, m.entries[i].payload);
      EXPECT_EQ(d->entries[i].type, m.entries[i].type);
    }
    EXPECT_EQ(d->members, m.members);
    EXPECT_TRUE(IsRaftPeerMessageType(ToPeerMessageType(m.type)));
  }
  EXPECT_FALSE(IsRaftPeerMessageType(PeerMessageType::kGossipPing));
  EXPECT_FALSE(IsRaftPeerMessageType(static_cast<PeerMessageType>(64)));
}

TEST(RaftCodec, EveryTruncationAndEveryByteFlipIsAnErrorOrAMessageNeverACrash) {
  for (const RaftMessage& m : OneOfEach()) {
    std::string bytes = EncodeRaftMessage(m);
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(DecodeRaftMessage(bytes.substr(0, n)).ok()) << RaftMessageTypeName(m.type) << " cut at " << n;
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        (void)DecodeRaftMessage(flipped);  // any outcome but a crash
      }
    }
  }
}

struct MalformedCase {
  const char* what;
  std::function<std::string()> bytes;
};

std::string Pack(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& fn) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  fn(pk);
  return std::string(buf.data(), buf.size());
}

TEST(RaftCodec, MalformedMessagesAreRefusedWithAReason) {
  const std::vector<MalformedCase> cases = {
      {"empty", [] { return std::string(); }},
      {"not an array", [] { return Pack([](auto& pk) { pk.pack(42); }); }},
      {"unknown type", [] { return Pack([](auto& pk) { pk.pack_array(6); pk.pack(99); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); pk.pack(1); }); }},
      {"gossip type", [] { return Pack([](auto& pk) { pk.pack_array(6); pk.pack(1); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); pk.pack(1); }); }},
      {"missing fields", [] { return Pack([](auto& pk) { pk.pack_array(6); pk.pack(26); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); }); }},
      {"extra field", [] { return Pack([](auto& pk) { pk.pack_array(7); pk.pack(26); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); pk.pack(1); pk.pack(1); }); }},
      {"negative term", [] { return Pack([](auto& pk) { pk.pack_array(6); pk.pack(26); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); pk.pack(-1); }); }},
      {"string term", [] { return Pack([](auto& pk) { pk.pack_array(6); pk.pack(26); pk.pack("g"); pk.pack("a"); pk.pack(""); pk.pack("b"); pk.pack("1"); }); }},
      {"entries not consecutive", [] {
         RaftMessage m = Base(RaftMessageType::kAppend);
         m.index = 4;
         m.entries = {Entry{5, 7, EntryType::kNoop, ""}, Entry{7, 7, EntryType::kNoop, ""}};
         return EncodeRaftMessage(m);
       }},
      {"chunk past the snapshot", [] {
         RaftMessage m = Base(RaftMessageType::kInstallSnapshot);
         m.offset = 25;
         m.total_bytes = 30;
         m.data = "0123456789";
         return EncodeRaftMessage(m);
       }},
      {"duplicate member", [] {
         RaftMessage m = Base(RaftMessageType::kInstallSnapshot);
         m.members.members = {RaftMember{"n1", "", true, false}, RaftMember{"n1", "", false, false}};
         return EncodeRaftMessage(m);
       }},
      {"trailing bytes", [] { return EncodeRaftMessage(Base(RaftMessageType::kTimeoutNow)) + "x"; }},
      {"over the peer message bound", [] {
         RaftMessage m = Base(RaftMessageType::kInstallSnapshot);
         m.total_bytes = kMaxPeerMessageBytes + 1;
         m.data = std::string(kMaxPeerMessageBytes + 1, 'x');
         return EncodeRaftMessage(m);
       }},
      {"deep nesting", [] { return std::string(1000, '\x91') + std::string(1, '\x01'); }},
      // Found by raft_message_fuzzer: a follower that believed these stored a log newer than
      // its term, and could not restart ("term 2 is older than the log's last term").
      {"snapshot of a later term than its message", [] {
         RaftMessage m = Base(RaftMessageType::kInstallSnapshot);
         m.log_term = m.term + 1;
         m.members.members = {RaftMember{"n1", "", true, false}};
         return EncodeRaftMessage(m);
       }},
      {"append entry of a later term than its message", [] {
         RaftMessage m = Base(RaftMessageType::kAppend);
         m.index = 4;
         m.log_term = 6;
         m.entries = {Entry{5, m.term + 1, EntryType::kNoop, ""}};
         return EncodeRaftMessage(m);
       }},
      {"append entries falling in term", [] {
         RaftMessage m = Base(RaftMessageType::kAppend);
         m.index = 4;
         m.log_term = 6;
         m.entries = {Entry{5, 7, EntryType::kNoop, ""}, Entry{6, 6, EntryType::kNoop, ""}};
         return EncodeRaftMessage(m);
       }},
      {"append after an entry of a later term than its message", [] {
         RaftMessage m = Base(RaftMessageType::kAppend);
         m.log_term = m.term + 1;
         return EncodeRaftMessage(m);
       }},
      {"vote for a log newer than its term", [] {
         RaftMessage m = Base(RaftMessageType::kVote);
         m.log_term = m.term + 1;
         return EncodeRaftMessage(m);
       }},
  };
  for (const auto& c : cases) {
    auto d = DecodeRaftMessage(c.bytes());
    EXPECT_FALSE(d.ok()) << c.what;
    if (!d.ok()) {
      EXPECT_FALSE(d.status().message().empty()) << c.what;
    }
  }
}

TEST(RaftCodec, EntriesInTheEncodeEntryFormatDecode) {
  Entry e{12, 3, EntryType::kFinish, "payload"};
  auto d = DecodeRaftEntry(EncodePayload(e));  // EncodeEntry's format: msgpack of Entry
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->index, 12u);
  EXPECT_EQ(d->term, 3u);
  EXPECT_EQ(d->type, EntryType::kFinish);
  EXPECT_EQ(d->payload, "payload");
}

TEST(RaftCodec, DurableRecordsSurviveARoundTrip) {
  auto hs = DecodeHardState(EncodeHardState(RaftHardState{9, "n3", 41}));
  ASSERT_TRUE(hs.ok());
  EXPECT_EQ(hs->term, 9u);
  EXPECT_EQ(hs->vote, "n3");
  EXPECT_EQ(hs->commit, 41u);
  RaftSnapshotMeta meta{100, 8, {}};
  meta.members.members = {RaftMember{"b", "x", true, false}, RaftMember{"a", "y", false, true}};
  auto m = DecodeSnapshotMeta(EncodeSnapshotMeta(meta));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->index, 100u);
  ASSERT_EQ(m->members.members.size(), 2u);
  EXPECT_EQ(m->members.members[0].id, "a") << "members come back sorted";
  RaftConfigChange c{RaftChangeKind::kRemove, RaftMember{"b", "x", true, false}, meta.members};
  auto cd = DecodeConfigChange(EncodeConfigChange(c));
  ASSERT_TRUE(cd.ok());
  EXPECT_EQ(cd->kind, RaftChangeKind::kRemove);
  EXPECT_EQ(cd->member.id, "b");
  EXPECT_FALSE(DecodeHardState("\x93\x01").ok());
  EXPECT_FALSE(DecodeConfigChange(EncodeHardState(RaftHardState{})).ok());
}

TEST(RaftCodec, AGroupDropsAndCountsGarbageAndMisroutedMessages) {
  MemoryStorage storage;
  RaftConfig config;
  config.group_id = "g1";
  config.self_id = "n2";
  RaftGroup g(config, 1, std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_st>()));
  ASSERT_TRUE(g.Load(storage).ok());
  g.Bootstrap({RaftMember{"n1", "", true, false}, RaftMember{"n2", "", true, false}, RaftMember{"n3", "", true, false}});
  Instant now = Instant::FromMicros(1'000'000);
  while (g.HasReady()) {
    RaftReady rd = g.TakeReady();
    ASSERT_TRUE(storage.Write(rd.writes, rd.sync).ok());
    g.Advance(now);
  }
  Prng p(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(p.Below(64), '\0');
    for (auto& c : junk) c = static_cast<char>(p.Below(256));
    g.Step(now, static_cast<PeerMessageType>(16 + p.Below(11)), junk);
  }
  RaftMessage other_group = Base(RaftMessageType::kHeartbeat);
  other_group.group_id = "g9";
  g.Step(now, ToPeerMessageType(other_group.type), EncodeRaftMessage(other_group));
  RaftMessage wrong_type = Base(RaftMessageType::kHeartbeat);
  g.Step(now, ToPeerMessageType(RaftMessageType::kVote), EncodeRaftMessage(wrong_type));
  EXPECT_GE(g.counters().malformed_messages, 1900u);
  EXPECT_EQ(g.counters().misrouted_messages, 1u);
  EXPECT_EQ(g.term(), 1u) << "nothing malformed changes any state";
  EXPECT_EQ(g.last_index(), 1u);
  EXPECT_FALSE(g.HasReady());
}

}  // namespace
}  // namespace magpie
