#include "node/key_files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace magpie {

namespace {

// A key file is a line or three; anything this long is not one.
constexpr size_t kMaxKeyFileBytes = 4096;
constexpr size_t kMaxAllowListBytes = 1 << 20;

std::string Errno() { return std::strerror(errno); }

Result<std::string> ReadSmallFile(const std::string& path, size_t cap, mode_t* mode) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no key file at " + path);
    return Status::IOError("cannot read " + path + ": " + Errno());
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(path + " is not a regular file");
  }
  if (static_cast<size_t>(st.st_size) > cap) {
    close(fd);
    return Status::InvalidArgument(path + " is " + std::to_string(st.st_size) +
                                   " bytes, too long for a key file");
  }
  *mode = st.st_mode;
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(got);
  return text;
}

}  // namespace

KeyEnvironment KeyEnvironment::FromProcess() {
  auto get = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  KeyEnvironment env;
  env.key_file = get("MAGPIE_CLUSTER_KEY_FILE");
  env.magpie_home = get("MAGPIE_HOME");
  env.xdg_config_home = get("XDG_CONFIG_HOME");
  env.home = get("HOME");
  if (env.home.empty()) {
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) {
      env.home = pw->pw_dir;
    }
  }
  return env;
}

std::string KeyLocation::Describe() const {
  switch (source) {
    case Source::kFlag: return "--cluster-key " + path;
    case Source::kEnvironment: return "$MAGPIE_CLUSTER_KEY_FILE " + path;
    case Source::kDefault: return "the default " + path;
  }
  return path;
}

std::string MagpieHome(const KeyEnvironment& env) {
  if (!env.magpie_home.empty()) return env.magpie_home;
  if (!env.xdg_config_home.empty()) return env.xdg_config_home + "/magpie";
  if (!env.home.empty()) return env.home + "/.config/magpie";
  return "";
}

Result<KeyLocation> LocateClusterKey(const std::string& flag, const KeyEnvironment& env) {
  if (!flag.empty()) return KeyLocation{flag, KeyLocation::Source::kFlag};
  if (!env.key_file.empty()) return KeyLocation{env.key_file, KeyLocation::Source::kEnvironment};
  std::string home = MagpieHome(env);
  if (home.empty()) {
    return Status::FailedPrecondition(
        "no cluster key given and no home directory to look in: pass --cluster-key FILE or set "
        "MAGPIE_CLUSTER_KEY_FILE or MAGPIE_HOME");
  }
  return KeyLocation{home + "/cluster.key", KeyLocation::Source::kDefault};
}

Result<KeyFile> ReadKeyFile(const std::string& path) {
  mode_t mode = 0;
  auto text = ReadSmallFile(path, kMaxKeyFileBytes, &mode);
  if (!text.ok()) return text.status();
  KeyFile key;
  key.path = path;
  if ((mode & 077) != 0) {
    key.warning = "key file " + path + " can be read by other users (mode " +
                  [&] {
                    char m[8];
                    std::snprintf(m, sizeof(m), "%03o", mode & 0777);
                    return std::string(m);
                  }() +
                  "): anyone who reads it is a member of the cluster; chmod 600 it";
  }
  // A client key has named lines; a cluster key is one bare line.
  auto lines = KeyFileLines(*text);
  auto starts = [&](const char* name) { return lines[0].second.rfind(name, 0) == 0; };
  bool named = !lines.empty() && (starts("server-public-key") || starts("client-secret-key"));
  if (!named) {
    auto secret = ParseClusterSecret(*text);
    if (!secret.ok()) return Status::InvalidArgument(path + ": " + secret.status().message());
    key.secret = *secret;
    return key;
  }
  for (const auto& [number, line] : lines) {
    std::istringstream in(line);
    std::string name, value;
    in >> name >> value;
    if (!IsZ85Key(value)) {
      return Status::InvalidArgument(path + ":" + std::to_string(number) + ": '" + name +
                                     "' needs a 40-character Z85 key");
    }
    if (name == "server-public-key") {
      key.server_public_z85 = value;
    } else if (name == "client-secret-key") {
      key.client.secret_z85 = value;
      key.client.public_z85 = CurvePublicKey(value);
    } else {
      return Status::InvalidArgument(path + ":" + std::to_string(number) + ": unknown line '" +
                                     name + "'; " + kKeyFileShape +
                                     ", a client key file the lines 'server-public-key' and "
                                     "'client-secret-key' (made by 'magpie keygen --client')");
    }
  }
  if (key.server_public_z85.empty() || key.client.secret_z85.empty()) {
    return Status::InvalidArgument(path +
                                   ": a client key file needs both 'server-public-key' and "
                                   "'client-secret-key' lines");
  }
  return key;
}

Status WriteNewKeyFile(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);  // 0700: only we look inside
  }
  // Write everything to a private temporary file, then link it into place: link() fails if
  // the name exists, so two writers racing cannot both win, and nobody ever reads half a key.
  uint8_t salt[8];
  randombytes_buf(salt, sizeof(salt));
  char salt_hex[2 * sizeof(salt) + 1];
  sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
  const std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + salt_hex;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + Errno());
  bool ok = fchmod(fd, 0600) == 0;  // whatever the umask said
  size_t put = 0;
  while (ok && put < text.size()) {
    ssize_t n = write(fd, text.data() + put, text.size() - put);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) put += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  std::string why = ok ? "" : Errno();
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    return Status::IOError("cannot write " + tmp + ": " + why);
  }
  int rc = link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  unlink(tmp.c_str());
  if (rc != 0) {
    if (link_errno == EEXIST) return Status::AlreadyExists(path + " already exists");
    return Status::IOError("cannot create " + path + ": " + std::strerror(link_errno));
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

namespace {

Result<KeyFile> ReadClusterKeyFile(const std::string& path) {
  auto read = ReadKeyFile(path);
  if (read.ok() && !read->secret) {
    return Status::InvalidArgument(path +
                                   " is a client key ('magpie keygen --client'); a node needs "
                                   "the cluster key itself");
  }
  return read;
}

}  // namespace

Result<KeyFile> LoadOrCreateClusterKey(const std::string& path, bool* created) {
  *created = false;
  auto read = ReadClusterKeyFile(path);
  if (read.ok() || !read.status().IsNotFound()) return read;
  Status s = WriteNewKeyFile(path, FormatClusterSecret(NewClusterSecret()));
  if (s.ok()) {
    *created = true;
  } else if (s.code() != Status::Code::kAlreadyExists) {
    return s;
  }
  // Ours, or the one another node linked first: everyone reads the file that won.
  return ReadClusterKeyFile(path);
}

Result<NodeKey> LoadNodeClusterKey(const std::string& flag, const KeyEnvironment& env) {
  auto where = LocateClusterKey(flag, env);
  if (!where.ok()) return where.status();
  NodeKey key;
  key.location = *where;
  if (where->source == KeyLocation::Source::kDefault) {
    auto file = LoadOrCreateClusterKey(where->path, &key.created);
    if (!file.ok()) return file.status();
    key.file = std::move(*file);
    return key;
  }
  auto file = ReadClusterKeyFile(where->path);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::NotFound("no cluster key file at " + where->Describe() +
                              ": copy the cluster's key file there, or make a new cluster's "
                              "with 'magpie keygen --out " + where->path + "'");
    }
    return file.status();
  }
  key.file = std::move(*file);
  return key;
}

Result<KeyFile> LoadClientKey(const std::string& flag, const KeyEnvironment& env,
                              KeyLocation* where) {
  auto located = LocateClusterKey(flag, env);
  if (!located.ok()) return located.status();
  *where = *located;
  auto file = ReadKeyFile(located->path);
  if (file.ok() || !file.status().IsNotFound()) return file;
  std::string how =
      located->source == KeyLocation::Source::kDefault
          ? "a node started by this user on this machine makes it on its first start; for a "
            "cluster elsewhere, copy its key file here or pass --cluster-key FILE"
          : "copy the cluster's key file there, or leave --cluster-key and "
            "$MAGPIE_CLUSTER_KEY_FILE unset to use the default one";
  return Status::FailedPrecondition(
      "no cluster key: looked for " + located->Describe() +
      " (first of --cluster-key, $MAGPIE_CLUSTER_KEY_FILE, $MAGPIE_HOME/cluster.key); " + how +
      " (or talk to a node started with --insecure using --insecure)");
}

ClientSecurity ClientSecurityFor(const KeyFile& key) {
  ClientSecurity sec;
  CurveClientKeys c;
  if (key.secret) {
    ClusterKeys keys = DeriveClusterKeys(*key.secret);
    c.server_public = keys.server.public_z85;
    c.public_key = keys.member.public_z85;
    c.secret_key = keys.member.secret_z85;
  } else {
    c.server_public = key.server_public_z85;
    c.public_key = key.client.public_z85;
    c.secret_key = key.client.secret_z85;
  }
  sec.curve = c;
  return sec;
}

Result<std::set<std::string>> ReadAllowList(const std::string& path) {
  mode_t mode = 0;
  auto text = ReadSmallFile(path, kMaxAllowListBytes, &mode);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return Status::NotFound("no allow-list file at " + path);
    return text.status();
  }
  std::set<std::string> keys;
  for (const auto& [number, line] : KeyFileLines(*text)) {
    std::string key = line.substr(0, line.find_first_of(" \t"));
    if (!IsZ85Key(key)) {
      return Status::InvalidArgument(path + ":" + std::to_string(number) +
                                     ": expected a 40-character Z85 public key, got '" + key + "'");
    }
    keys.insert(key);
  }
  return keys;
}

}  // namespace magpie
