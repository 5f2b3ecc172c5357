#include "node/cluster_key.h"

#include <sodium.h>

#include <cstring>
#include <sstream>
#include <vector>

#include <zmq.h>

namespace magpie {

const char* const kKeyFileShape =
    "a cluster key file holds one line of 64 hex digits (made by 'magpie keygen' or by a node "
    "on its first start)";

namespace {

// crypto_kdf: one context for all of magpie's keys, one subkey id per role. Changing any of
// these changes every derived key: a new cluster as far as the wire is concerned.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "magpie01";
constexpr uint64_t kServerKeyId = 1;
constexpr uint64_t kMemberKeyId = 2;
constexpr uint64_t kHttpTokenId = 3;

std::string Z85Encode(const uint8_t* bytes, size_t n) {
  std::string out(n * 5 / 4 + 1, '\0');
  zmq_z85_encode(out.data(), bytes, n);
  out.resize(n * 5 / 4);
  return out;
}

bool Z85Decode32(std::string_view text, uint8_t out[32]) {
  if (text.size() != 40) return false;
  std::string copy(text);
  return zmq_z85_decode(out, copy.c_str()) != nullptr;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::vector<std::pair<int, std::string>> KeyFileLines(std::string_view text) {
  std::vector<std::pair<int, std::string>> out;
  std::istringstream in{std::string(text)};
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    out.emplace_back(number, t);
  }
  return out;
}

namespace {

CurveKeyPair KeyPairFromSecret(const uint8_t secret[32]) {
  CurveKeyPair kp;
  kp.secret_z85 = Z85Encode(secret, 32);
  kp.public_z85 = CurvePublicKey(kp.secret_z85);
  return kp;
}

}  // namespace

Status CheckCurveSupport() {
  if (sodium_init() < 0) return Status::Unavailable("libsodium could not be initialised");
  if (!zmq_has("curve")) {
    return Status::Unavailable(
        "this libzmq was built without CURVE security, which magpie needs to authenticate and "
        "encrypt its traffic (Debian's libzmq5 has it); start with --insecure only for local "
        "play");
  }
  return Status::Ok();
}

ClusterSecret NewClusterSecret() {
  MAGPIE_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
  ClusterSecret s;
  randombytes_buf(s.data(), s.size());
  return s;
}

CurveKeyPair NewCurveKeyPair() {
  MAGPIE_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
  uint8_t secret[32];
  randombytes_buf(secret, sizeof(secret));
  CurveKeyPair kp = KeyPairFromSecret(secret);
  sodium_memzero(secret, sizeof(secret));
  return kp;
}

std::string FormatClusterSecret(const ClusterSecret& secret) {
  char hex[2 * 32 + 1];
  sodium_bin2hex(hex, sizeof(hex), secret.data(), secret.size());
  return std::string(hex) + "\n";
}

Result<ClusterSecret> ParseClusterSecret(std::string_view text) {
  auto lines = KeyFileLines(text);
  if (lines.size() != 1) {
    return Status::InvalidArgument(std::string("expected one key line, found ") +
                                   std::to_string(lines.size()) + "; " + kKeyFileShape);
  }
  const std::string& line = lines[0].second;
  ClusterSecret s;
  size_t len = 0;
  if (line.size() == 64 &&
      sodium_hex2bin(s.data(), s.size(), line.data(), line.size(), nullptr, &len, nullptr) == 0 &&
      len == s.size()) {
    return s;
  }
  if (Z85Decode32(line, s.data())) return s;
  return Status::InvalidArgument("the key line is not 64 hex digits (nor 40 Z85 characters); " +
                                 std::string(kKeyFileShape));
}

std::string CurvePublicKey(const std::string& secret_z85) {
  char pub[41] = {0};
  MAGPIE_CHECK(zmq_curve_public(pub, secret_z85.c_str()) == 0, "zmq_curve_public failed");
  return pub;
}

bool IsZ85Key(std::string_view text) {
  uint8_t out[32];
  return Z85Decode32(text, out);
}

ClusterKeys DeriveClusterKeys(const ClusterSecret& secret) {
  MAGPIE_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
  uint8_t sub[32];
  ClusterKeys keys;
  crypto_kdf_derive_from_key(sub, sizeof(sub), kServerKeyId, kKdfContext, secret.data());
  keys.server = KeyPairFromSecret(sub);
  crypto_kdf_derive_from_key(sub, sizeof(sub), kMemberKeyId, kKdfContext, secret.data());
  keys.member = KeyPairFromSecret(sub);
  crypto_kdf_derive_from_key(sub, sizeof(sub), kHttpTokenId, kKdfContext, secret.data());
  char hex[2 * sizeof(sub) + 1];
  sodium_bin2hex(hex, sizeof(hex), sub, sizeof(sub));
  keys.http_token = hex;
  sodium_memzero(sub, sizeof(sub));
  return keys;
}

std::string FormatClientKeyFile(const std::string& server_public_z85, const CurveKeyPair& client) {
  return "# magpie client key; its public key, for a node's --allow-keys file: " +
         client.public_z85 + "\nserver-public-key " + server_public_z85 +
         "\nclient-secret-key " + client.secret_z85 + "\n";
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace magpie
