// Key files and where they are looked for (docs/security.md): the cluster key a node reads
// or makes on its first start, the key a client reads (a cluster key, or a client key of
// its own), and the allow-list file of a node's --allow-keys.
//
// Where a key is looked for, first hit wins: --cluster-key FILE, then
// $MAGPIE_CLUSTER_KEY_FILE, then $MAGPIE_HOME/cluster.key (MAGPIE_HOME defaults to
// $XDG_CONFIG_HOME/magpie, else ~/.config/magpie).
#ifndef MAGPIE_NODE_KEY_FILES_H_
#define MAGPIE_NODE_KEY_FILES_H_

#include <optional>
#include <set>
#include <string>

#include "base/status.h"
#include "node/client.h"
#include "node/cluster_key.h"

namespace magpie {

// The environment the key lookup reads, so tests can give their own.
struct KeyEnvironment {
  std::string key_file;     // $MAGPIE_CLUSTER_KEY_FILE
  std::string magpie_home;  // $MAGPIE_HOME
  std::string xdg_config_home;
  std::string home;  // $HOME, else the user's home directory from the password database
  static KeyEnvironment FromProcess();
};

struct KeyLocation {
  enum class Source { kFlag, kEnvironment, kDefault };
  std::string path;
  Source source = Source::kDefault;
  // "--cluster-key FILE", "$MAGPIE_CLUSTER_KEY_FILE FILE", "the default FILE": for messages.
  std::string Describe() const;
};

// The magpie home: $MAGPIE_HOME, else $XDG_CONFIG_HOME/magpie, else ~/.config/magpie; empty
// when there is no home directory at all. The default cluster key and the default config
// file (docs/operations.md) live there.
std::string MagpieHome(const KeyEnvironment& env);

// Where the key is: `flag` (--cluster-key) if given, else the environment's file, else the
// default path. Fails only when no default can be made (no home directory at all).
Result<KeyLocation> LocateClusterKey(const std::string& flag, const KeyEnvironment& env);

// A key file read from disk: a cluster key (the secret), or a client key (docs/security.md:
// the cluster's server public key and a client keypair of one's own, for --allow-keys).
struct KeyFile {
  std::string path;
  std::optional<ClusterSecret> secret;  // a cluster key
  std::string server_public_z85;        // a client key: the server's public key
  CurveKeyPair client;                  // a client key: our own keypair
  // Not empty when the file can be read by other users: say so, but go on.
  std::string warning;
};

// Reads a cluster key or client key file. NotFound when it does not exist; any other
// problem (unreadable, not a key) names the file and what a key file looks like.
Result<KeyFile> ReadKeyFile(const std::string& path);

// Reads the cluster key at `path`, or, if there is no file there, makes one: random bytes
// written 0600 to a temporary file in the same folder (made 0700 if missing) and linked to
// `path`, so that nodes starting at once agree on one key (whoever loses the race reads the
// winner's). *created says whether this call made it. A client key file is refused: a node
// needs the cluster secret.
Result<KeyFile> LoadOrCreateClusterKey(const std::string& path, bool* created);

// A node's key, found as LocateClusterKey says; at the default path it is made if missing,
// anywhere else a missing file is an error saying how to make one.
struct NodeKey {
  KeyFile file;
  KeyLocation location;
  bool created = false;
};
Result<NodeKey> LoadNodeClusterKey(const std::string& flag, const KeyEnvironment& env);

// A client's key (a cluster key or a client key), found as LocateClusterKey says; never
// made. A missing file is FailedPrecondition saying where we looked and how to get one.
Result<KeyFile> LoadClientKey(const std::string& flag, const KeyEnvironment& env,
                              KeyLocation* where);

// Writes `text` to a new file at `path` with mode 0600, atomically; AlreadyExists if
// something is there (a key is never overwritten).
Status WriteNewKeyFile(const std::string& path, const std::string& text);

// The CurveZMQ credentials a client uses with a key file: the member keypair of a cluster
// key, or the keypair of a client key.
ClientSecurity ClientSecurityFor(const KeyFile& key);

// An allow-list file: one Z85 public key per line (anything after it on the line is a
// comment), blank lines and lines starting with '#' skipped. A bad line is an error naming
// the file and line.
Result<std::set<std::string>> ReadAllowList(const std::string& path);

}  // namespace magpie

#endif  // MAGPIE_NODE_KEY_FILES_H_
