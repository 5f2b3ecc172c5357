// libFuzzer target: arbitrary bytes as a peer frame, the envelope every message between
// nodes travels in (gossip/peer_envelope.h). Asserts: the decoder never crashes or throws;
// an error says what is wrong; a frame that decodes re-encodes to a frame that the driver
// routes to the peer decoder (IsPeerFrame) and that decodes to the same message.
#include "gossip/peer_envelope.h"
#include "tests/fuzz/fuzz_util.h"

using magpie::fuzz::AsView;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = AsView(data, size);
  (void)magpie::IsPeerFrame(bytes);
  auto m = magpie::DecodePeerFrame(bytes);
  if (!m.ok()) {
    FUZZ_CHECK(!m.status().message().empty(), "an error must say what is wrong");
    return 0;
  }
  const std::string again = magpie::EncodePeerFrame(*m);
  FUZZ_CHECK(magpie::IsPeerFrame(again));
  auto back = magpie::DecodePeerFrame(again);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(back->type == m->type && back->from == m->from && back->to == m->to &&
             back->payload == m->payload, "round trip changed the message");
  // The canonical encoding is a fixed point.
  FUZZ_CHECK(magpie::EncodePeerFrame(*back) == again);
  return 0;
}
