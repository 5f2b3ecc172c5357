// The blocking client against a fake node: replies matched by request id, node errors as
// values, and an absent or silent node reported quickly and clearly.
#include <gtest/gtest.h>

#include <set>

#include "node/client.h"
#include "tests/cli_fake_node.h"

namespace magpie {
namespace {

using std::chrono::milliseconds;

// A loopback port with nothing listening: bound once by a socket that is then closed.
std::string FreeAddress() {
  zmq::context_t context(1);
  zmq::socket_t s(context, zmq::socket_type::router);
  s.set(zmq::sockopt::linger, 0);
  s.bind("tcp://127.0.0.1:*");
  std::string endpoint = s.get(zmq::sockopt::last_endpoint);
  return endpoint.substr(endpoint.find("//") + 2);
}

TEST(CliClientTest, RefusesMalformedAddressesBeforeConnecting) {
  for (const char* bad : {"", "localhost", ":7400", "host:", "host:port", "host:0", "host:70000",
                          "::1:7400", "[::1:7400", "a b:7400", "host:12345678"}) {
    auto c = Client::Connect(bad);
    ASSERT_FALSE(c.ok()) << "'" << bad << "' accepted";
    EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find("expected HOST:PORT"), std::string::npos);
  }
  for (const char* good : {"127.0.0.1:7400", "localhost:1", "tcp://10.0.0.2:65535", "[::1]:7400"}) {
    EXPECT_TRUE(Client::ValidateAddress(good).ok()) << good;
  }
}

TEST(CliClientTest, AbsentNodeIsUnavailableLongBeforeTheTimeout) {
  std::string address = FreeAddress();
  auto client = Client::Connect(address);
  ASSERT_TRUE(client.ok());
  auto start = std::chrono::steady_clock::now();
  auto reply = (*client)->GetStatus("g1-1", milliseconds(10000));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(reply.status().message().find(address), std::string::npos);
  EXPECT_NE(reply.status().message().find("is magpie-node running there?"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(CliClientTest, SilentNodeTimesOutNamingTheNodeAndTheWait) {
  FakeNode node([](const RequestFrame&) { return std::vector<ReplyFrame>{}; });
  auto client = Client::Connect(node.address());
  ASSERT_TRUE(client.ok());
  auto reply =
      (*client)->Call(RequestType::kMembers, PackBody(MembersRequest{}), milliseconds(300));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(reply.status().message(), "no answer from node " + node.address() +
                                          " within 300 ms; is magpie-node running there?");
}

TEST(CliClientTest, CallSkipsStaleRepliesAndReturnsItsOwn) {
  FakeNode node([](const RequestFrame& req) {
    MembersReply stale;
    stale.members.resize(3);
    ReplyFrame old = FakeNode::Answer(req, stale);
    old.request_id = req.request_id + 1000;  // not ours: must be skipped
    MembersReply mine;
    mine.members.resize(1);
    mine.members[0].id = "n1";
    mine.members[0].state = "alive";
    return std::vector<ReplyFrame>{old, FakeNode::Answer(req, mine)};
  });
  auto client = Client::Connect(node.address());
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 3; ++i) {
    auto members = (*client)->Members();
    ASSERT_TRUE(members.ok()) << members.status().ToString();
    ASSERT_EQ(members->members.size(), 1u);
    EXPECT_EQ(members->members[0].id, "n1");
  }
}

TEST(CliClientTest, TypedHelpersCarryRequestsAndReturnNodeErrors) {
  FakeNode node([](const RequestFrame& req) -> std::vector<ReplyFrame> {
    if (req.type == RequestType::kSubmit) {
      auto sub = UnpackBody<SubmitRequest>(req.body);
      SubmitReply reply;
      for (size_t i = 0; i < sub->tasks.size(); ++i) {
        reply.ids.push_back("g1-" + std::to_string(i + 1));
        reply.existing.push_back(false);
      }
      return {FakeNode::Answer(req, reply)};
    }
    auto status = UnpackBody<StatusRequest>(req.body);
    return {FakeNode::Answer(req, StatusReply{},
                             Status::NotFound("task " + status->id + " does not exist"))};
  });
  auto client = Client::Connect("tcp://" + node.address());
  ASSERT_TRUE(client.ok());
  SubmitRequest req;
  req.tasks.resize(2);
  auto ids = (*client)->Submit(req);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(ids->ids, (std::vector<std::string>{"g1-1", "g1-2"}));

  auto missing = (*client)->GetStatus("nope-42");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "task nope-42 does not exist");
}

TEST(CliClientTest, PipelinedRequestsAllGetTheirReplies) {
  FakeNode node([](const RequestFrame& req) {
    return std::vector<ReplyFrame>{FakeNode::Answer(req, MembersReply{})};
  });
  auto client = Client::Connect(node.address());
  ASSERT_TRUE(client.ok());
  std::set<uint64_t> in_flight;
  for (int i = 0; i < 500; ++i) {
    uint64_t id = 0;
    ASSERT_TRUE((*client)->Send(RequestType::kMembers, PackBody(MembersRequest{}), &id).ok());
    EXPECT_TRUE(in_flight.insert(id).second) << "request id reused";
  }
  while (!in_flight.empty()) {
    auto reply = (*client)->Receive(milliseconds(5000));
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(in_flight.erase(reply->request_id), 1u);
  }
  EXPECT_EQ(node.requests(), 500);
}

}  // namespace
}  // namespace magpie
