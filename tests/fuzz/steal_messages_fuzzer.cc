// libFuzzer target: the msgpack bodies the node core unpacks with UnpackBody — the payloads
// of work stealing, lease, finish, forwarding and upstream messages (node/steal_messages.h)
// and the bodies of client requests and replies (node/client_protocol.h). The first byte
// picks the type. Asserts: unpacking never crashes or throws and explains its errors; a
// body that unpacks packs to bytes that unpack again and pack to the same bytes.
#include "node/client_protocol.h"
#include "node/steal_messages.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

template <typename T>
void Check(std::string_view bytes) {
  auto v = UnpackBody<T>(bytes);
  if (!v.ok()) {
    FUZZ_CHECK(!v.status().message().empty(), "an error must say what is wrong");
    return;
  }
  const std::string once = PackBody(*v);
  auto back = UnpackBody<T>(once);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(PackBody(*back) == once, "round trip changed the body");
}

using Checker = void (*)(std::string_view);
// The order is the seeds' selector byte (tests/fuzz/corpus_writer.cc): append only.
constexpr Checker kCheckers[] = {
    Check<StealRequest>,  Check<StealReply>,    Check<LeaseRenew>,    Check<LeaseRenewAck>,
    Check<FinishReport>,  Check<FinishAck>,     Check<ForwardRequest>, Check<ForwardReply>,
    Check<UpstreamQuery>, Check<UpstreamAnswer>, Check<SubmitRequest>, Check<StatusRequest>,
    Check<ListRequest>,   Check<WaitRequest>,   Check<LogsRequest>,   Check<CancelRequest>,
    Check<RestartRequest>, Check<MembersRequest>, Check<SubmitReply>, Check<StatusReply>,
    Check<ListReply>,     Check<WaitReply>,     Check<LogsReply>,     Check<MembersReply>,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = fuzz::AsView(data, size);
  const size_t which = fuzz::Selector(&bytes, std::size(kCheckers));
  kCheckers[which](bytes);
  return 0;
}
