// SHA-256 (FIPS 180-4), for content keys that must be the same on every machine and
// release: a task's automatic cache key hashes its command, environment, directory and
// input files. Not for secrets (cluster keys use libsodium).
#ifndef MAGPIE_BASE_SHA256_H_
#define MAGPIE_BASE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace magpie {

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  // The digest as 64 lowercase hex digits. The object is spent afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes
};

inline std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.HexDigest();
}

}  // namespace magpie

#endif  // MAGPIE_BASE_SHA256_H_
