// A stand-in for magpie-node's client API, for testing the client and the CLI without a
// node: a ROUTER socket on a free loopback port, answered by a function on its own thread.
#ifndef MAGPIE_TESTS_CLI_FAKE_NODE_H_
#define MAGPIE_TESTS_CLI_FAKE_NODE_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "node/client_protocol.h"

namespace magpie {

class FakeNode {
 public:
  // Returns the replies to send for one request, in order: none (a silent node), one, or
  // several (stale replies first, say).
  using Handler = std::function<std::vector<ReplyFrame>(const RequestFrame&)>;

  explicit FakeNode(Handler handler)
      : handler_(std::move(handler)), router_(context_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    std::string endpoint = router_.get(zmq::sockopt::last_endpoint);
    address_ = endpoint.substr(endpoint.find("//") + 2);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
  }
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  const std::string& address() const { return address_; }
  int requests() const { return requests_; }

  // A reply frame answering `req` with `status` and a packed body.
  template <typename T>
  static ReplyFrame Answer(const RequestFrame& req, const T& body, Status status = Status::Ok()) {
    ReplyFrame r;
    r.request_id = req.request_id;
    r.status = std::move(status);
    r.body = PackBody(body);
    return r;
  }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      // The timeout only bounds how late the destructor's stop is seen.
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> parts;
      bool more = true;
      while (more) {
        zmq::message_t part;
        (void)router_.recv(part);
        more = part.more();
        parts.push_back(std::move(part));
      }
      ++requests_;
      auto req = DecodeRequest(parts.back().to_string_view());
      if (!req.ok()) continue;
      for (const ReplyFrame& reply : handler_(*req)) {
        router_.send(zmq::buffer(parts.front().to_string_view()), zmq::send_flags::sndmore);
        router_.send(zmq::buffer(EncodeReply(reply)), zmq::send_flags::none);
      }
    }
  }

  Handler handler_;
  zmq::context_t context_{1};
  zmq::socket_t router_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace magpie

#endif  // MAGPIE_TESTS_CLI_FAKE_NODE_H_
