// The cluster key: 32 secret bytes that define a cluster (docs/security.md). Every node and
// client that holds the same key file is a member; from the key we derive, with libsodium's
// KDF, the CurveZMQ keypairs of the cluster's sockets and the HTTP API's bearer token, so
// the secret itself never travels and never appears in a URL. The files that hold keys, and
// where they are looked for, are node/key_files.h.
#ifndef MAGPIE_NODE_CLUSTER_KEY_H_
#define MAGPIE_NODE_CLUSTER_KEY_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace magpie {

using ClusterSecret = std::array<uint8_t, 32>;

struct CurveKeyPair {
  std::string public_z85;  // 40 characters each
  std::string secret_z85;
};

// What the cluster's sockets use, derived from the secret; the same on every member.
struct ClusterKeys {
  CurveKeyPair server;     // every node's listening socket (ZMQ_CURVE_SERVER)
  CurveKeyPair member;     // every connecting socket of a member: peers, the CLI, HTTP
  std::string http_token;  // 64 hex digits: the HTTP API's bearer token
};

// libzmq built with CURVE (Debian's is, with libsodium) and libsodium initialised; the
// Status says what is missing.
Status CheckCurveSupport();

// 32 bytes from the OS's random source.
ClusterSecret NewClusterSecret();
// A fresh CurveZMQ keypair (a per-user client key, say).
CurveKeyPair NewCurveKeyPair();
// The text of a key file: 64 hex digits and a newline.
std::string FormatClusterSecret(const ClusterSecret& secret);
// 64 hex digits or 40 Z85 characters; blank lines and lines starting with '#' are skipped.
Result<ClusterSecret> ParseClusterSecret(std::string_view text);
// Deterministic: one secret always gives the same keys, and each role its own.
ClusterKeys DeriveClusterKeys(const ClusterSecret& secret);
// The public half of a Z85 secret key.
std::string CurvePublicKey(const std::string& secret_z85);
bool IsZ85Key(std::string_view text);

// The lines of a key file that carry something, with their numbers (from 1): blank lines
// and lines starting with '#' are skipped, the rest trimmed.
std::vector<std::pair<int, std::string>> KeyFileLines(std::string_view text);

// What a cluster key file looks like, for error messages.
extern const char* const kKeyFileShape;

// The text of a client key file for the cluster whose server public key is given.
std::string FormatClientKeyFile(const std::string& server_public_z85, const CurveKeyPair& client);

// Compares two strings in time that does not depend on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace magpie

#endif  // MAGPIE_NODE_CLUSTER_KEY_H_
