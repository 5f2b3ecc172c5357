// libFuzzer target: the payloads of the task-output messages a node's driver takes off the
// wire before the core sees anything (node/output_messages.h): OutputRead, OutputData,
// OutputOffer, OutputKept. The first byte picks the type. Asserts: decoding never crashes
// or throws and explains its errors; what passes its check is within the bounds every
// handler relies on (a task id that names no path outside the output directories, sizes
// and counts under their limits); what decodes re-encodes to bytes that decode again.
#include "node/log_entry.h"
#include "node/output_messages.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

template <typename T>
void RoundTrip(const T& v) {
  const std::string once = EncodePayload(v);
  auto back = DecodePayload<T>(once);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(EncodePayload(*back) == once, "round trip changed the payload");
}

void SafeId(const std::string& id) {
  FUZZ_CHECK(!id.empty() && id.find('/') == std::string::npos && id != "." && id != "..", id);
}

template <typename T>
void Check(std::string_view bytes, Status (*check)(const T&), void (*bounds)(const T&)) {
  auto v = DecodePayload<T>(bytes);
  if (!v.ok()) {
    FUZZ_CHECK(!v.status().message().empty(), "an error must say what is wrong");
    return;
  }
  RoundTrip(*v);
  Status s = check(*v);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty(), "a refusal must say why");
    return;
  }
  bounds(*v);
}

void ReadBounds(const OutputRead& m) {
  SafeId(m.task_id);
  FUZZ_CHECK(m.max_bytes > 0 && m.max_bytes <= kMaxOutputChunkBytes);
}
void DataBounds(const OutputData& m) {
  FUZZ_CHECK(m.data.size() <= kMaxOutputChunkBytes && m.offset + m.data.size() <= m.size);
  FUZZ_CHECK(m.kept_from <= m.size && m.holders.size() <= kMaxOutputHolders);
}
void OfferBounds(const OutputOffer& m) {
  SafeId(m.task_id);
  FUZZ_CHECK(m.keep_bytes > 0 && m.keep_bytes <= static_cast<uint64_t>(kMaxOutputKeepBytes));
  FUZZ_CHECK(!m.runner_address.empty());
}
void KeptBounds(const OutputKept& m) { SafeId(m.task_id); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = fuzz::AsView(data, size);
  switch (fuzz::Selector(&bytes, 4)) {
    case 0: Check<OutputRead>(bytes, CheckOutputRead, ReadBounds); break;
    case 1: Check<OutputData>(bytes, CheckOutputData, DataBounds); break;
    case 2: Check<OutputOffer>(bytes, CheckOutputOffer, OfferBounds); break;
    default: Check<OutputKept>(bytes, CheckOutputKept, KeptBounds); break;
  }
  return 0;
}
