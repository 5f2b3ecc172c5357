// libFuzzer target: arbitrary bytes as a client frame. The decoder must never crash, a frame
// that decodes must re-encode to one that decodes the same, and it must be answered by the
// core with a reply, without breaking it. The same bytes are also read as a reply frame
// (the CLI reads those from the node) and as request bodies.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "node/client_protocol.h"
#include "node/node_core.h"
#include "storage/memory_storage.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

struct World {
  magpie::MemoryStorage storage;
  std::unique_ptr<magpie::NodeCore> core;
  magpie::Instant now = magpie::Instant::FromMicros(1'700'000'000'000'000);

  World() {
    magpie::CoreOptions o;
    o.node_id = "00000000000000ff";
    o.group_id = "fz";
    o.client_address = "127.0.0.1:1";
    o.slots = 2;
    auto logger = std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
    core = std::make_unique<magpie::NodeCore>(o, logger);
    if (!core->Recover(&storage, now).ok()) __builtin_trap();
  }

  void Drain() {
    for (int i = 0; i < 100 && core->HasReady(); ++i) {
      magpie::Ready rd = core->TakeReady();
      if (!storage.Write(rd.writes, rd.sync).ok()) __builtin_trap();
      // Attempts that start end at once, so the table keeps moving.
      for (const auto& sp : rd.starts) {
        pending.push_back(magpie::ExecutorEvent{magpie::ExecutorEvent::Kind::kExited, sp.task_id,
                                                sp.attempt, 0, 0, "", "", ""});
      }
      core->Advance(now);
    }
    auto evs = std::move(pending);
    pending.clear();
    for (const auto& ev : evs) core->OnExecutorEvent(now, ev);
  }

  std::vector<magpie::ExecutorEvent> pending;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A world that lives across inputs reaches deeper states; renewing it now and then keeps
  // each run fast and its memory bounded.
  static World* world = nullptr;
  static int runs = 0;
  if (world == nullptr || ++runs % 500 == 0) {
    delete world;
    world = new World();
  }
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto frame = magpie::DecodeRequest(bytes);
  // Also read the same bytes as a bare body of every type: bodies are untrusted too.
  (void)magpie::UnpackBody<magpie::SubmitRequest>(bytes);
  (void)magpie::UnpackBody<magpie::ListRequest>(bytes);
  if (auto reply = magpie::DecodeReply(bytes); reply.ok()) {
    auto back = magpie::DecodeReply(magpie::EncodeReply(*reply));
    FUZZ_CHECK(back.ok() && back->request_id == reply->request_id && back->body == reply->body &&
               back->status.code() == reply->status.code() &&
               back->status.message() == reply->status.message(), "reply round trip");
  }
  if (frame.ok()) {
    auto back = magpie::DecodeRequest(magpie::EncodeRequest(*frame));
    FUZZ_CHECK(back.ok() && back->type == frame->type && back->request_id == frame->request_id &&
               back->body == frame->body, "request round trip");
  }
  if (!frame.ok()) {
    if (frame.status().message().empty()) __builtin_trap();  // errors must say what is wrong
    return 0;
  }
  world->now = world->now + magpie::Duration::Millis(10);
  world->core->Request(world->now, magpie::ReplyTo{"fuzz", frame->request_id}, *frame);
  world->core->Tick(world->now);
  world->Drain();
  world->Drain();
  return 0;
}
