// What every magpie fuzz target shares: sanitizer defaults that make any finding a crash,
// a check that aborts with a message (libFuzzer saves the input), and the framing of inputs
// that carry several messages. Each fuzz target is one translation unit that includes this.
#ifndef MAGPIE_TESTS_FUZZ_FUZZ_UTIL_H_
#define MAGPIE_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// UBSan only reports by default; a report must fail the run like an ASan one does.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace magpie::fuzz {

// A property of the code under test does not hold for this input.
[[noreturn]] inline void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "FUZZ CHECK FAILED: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}
#define FUZZ_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) ::magpie::fuzz::Fail("(" #cond ")" __VA_OPT__(, ) __VA_ARGS__); \
  } while (0)

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Inputs that carry a sequence of messages are records: [kind: 1 byte][length: 2 bytes,
// little-endian][length bytes]. A truncated last record takes what is left. Seeds are
// written with Record(); mutations that break a length still give a valid sequence.
class Records {
 public:
  explicit Records(std::string_view bytes) : rest_(bytes) {}

  bool Next(uint8_t* kind, std::string_view* body) {
    if (rest_.empty()) return false;
    *kind = static_cast<uint8_t>(rest_[0]);
    size_t n = 0;
    if (rest_.size() >= 3) n = static_cast<uint8_t>(rest_[1]) | (static_cast<uint8_t>(rest_[2]) << 8);
    rest_.remove_prefix(rest_.size() >= 3 ? 3 : rest_.size());
    if (n > rest_.size()) n = rest_.size();
    *body = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view rest_;
};

inline std::string Record(uint8_t kind, std::string_view body) {
  std::string out(1, static_cast<char>(kind));
  const size_t n = body.size() > 0xffff ? 0xffff : body.size();
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(body.substr(0, n));
  return out;
}

// Inputs that pick one of several decoders: the first byte (mod count) picks it.
inline size_t Selector(std::string_view* bytes, size_t count) {
  if (bytes->empty()) return 0;
  size_t s = static_cast<uint8_t>((*bytes)[0]) % count;
  bytes->remove_prefix(1);
  return s;
}

}  // namespace magpie::fuzz

#endif  // MAGPIE_TESTS_FUZZ_FUZZ_UTIL_H_
