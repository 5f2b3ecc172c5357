// The cluster key (node/cluster_key.h): what is derived from it, where it is looked for,
// and the key files — made 0600, agreed on by nodes that start at once, and refused with a
// message that says what is wrong.
#include "node/cluster_key.h"
#include "node/key_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <zmq.h>

namespace magpie {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "magpie-key-test-XXXXXX").string();
    MAGPIE_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

ClusterSecret SecretOf(uint8_t fill) {
  ClusterSecret s;
  s.fill(fill);
  return s;
}

TEST(ClusterKeyTest, DerivationIsDeterministicAndDistinctPerRole) {
  ClusterKeys a = DeriveClusterKeys(SecretOf(7));
  ClusterKeys again = DeriveClusterKeys(SecretOf(7));
  ClusterKeys other = DeriveClusterKeys(SecretOf(8));
  EXPECT_EQ(a.server.secret_z85, again.server.secret_z85);
  EXPECT_EQ(a.member.secret_z85, again.member.secret_z85);
  EXPECT_EQ(a.http_token, again.http_token);
  // Each role its own key, and none is the secret itself.
  std::set<std::string> secrets = {a.server.secret_z85, a.member.secret_z85};
  EXPECT_EQ(secrets.size(), 2u);
  EXPECT_NE(a.server.public_z85, a.member.public_z85);
  EXPECT_EQ(a.http_token.size(), 64u);
  EXPECT_EQ(a.http_token.find(FormatClusterSecret(SecretOf(7)).substr(0, 64)), std::string::npos);
  // Another secret, other keys.
  EXPECT_NE(a.server.public_z85, other.server.public_z85);
  EXPECT_NE(a.member.public_z85, other.member.public_z85);
  EXPECT_NE(a.http_token, other.http_token);
  // The public halves belong to the secret halves.
  EXPECT_EQ(a.server.public_z85, CurvePublicKey(a.server.secret_z85));
  EXPECT_EQ(a.member.public_z85, CurvePublicKey(a.member.secret_z85));
  EXPECT_TRUE(IsZ85Key(a.server.public_z85));
}

TEST(ClusterKeyTest, SecretTextRoundTripsAndAcceptsCommentsAndZ85) {
  ClusterSecret s = NewClusterSecret();
  std::string text = FormatClusterSecret(s);
  EXPECT_EQ(text.size(), 65u);
  auto parsed = ParseClusterSecret("# a comment\n\n  " + text + "\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, s);
  EXPECT_NE(NewClusterSecret(), s);
  // The same secret in Z85.
  char z85[41];
  zmq_z85_encode(z85, s.data(), s.size());
  auto from_z85 = ParseClusterSecret(z85);
  ASSERT_TRUE(from_z85.ok());
  EXPECT_EQ(*from_z85, s);
}

TEST(ClusterKeyTest, BadSecretTextSaysWhatAKeyLooksLike) {
  const std::string hex(64, 'a');
  for (const std::string& bad : {std::string(""), std::string("# only a comment\n"),
                                 std::string(63, 'a'), std::string(64, 'g'), hex + "\n" + hex,
                                 std::string("hello world")}) {
    auto r = ParseClusterSecret(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("64 hex digits"), std::string::npos) << r.status().message();
  }
}

TEST(ClusterKeyTest, LookupTakesTheFirstOfFlagEnvironmentAndDefault) {
  struct Case {
    std::string flag;
    KeyEnvironment env;
    std::string want;
    KeyLocation::Source source;
  };
  const KeyEnvironment full{"/env/key", "/mh", "/xdg", "/home/u"};
  const Case cases[] = {
      {"/flag/key", full, "/flag/key", KeyLocation::Source::kFlag},
      {"", full, "/env/key", KeyLocation::Source::kEnvironment},
      {"", {"", "/mh", "/xdg", "/home/u"}, "/mh/cluster.key", KeyLocation::Source::kDefault},
      {"", {"", "", "/xdg", "/home/u"}, "/xdg/magpie/cluster.key", KeyLocation::Source::kDefault},
      {"", {"", "", "", "/home/u"}, "/home/u/.config/magpie/cluster.key",
       KeyLocation::Source::kDefault},
  };
  for (const Case& c : cases) {
    auto where = LocateClusterKey(c.flag, c.env);
    ASSERT_TRUE(where.ok());
    EXPECT_EQ(where->path, c.want);
    EXPECT_EQ(where->source, c.source);
    EXPECT_NE(where->Describe().find(c.want), std::string::npos);
  }
  EXPECT_FALSE(LocateClusterKey("", KeyEnvironment{}).ok());
}

TEST(ClusterKeyTest, FirstStartMakesAPrivateKeyAndLaterStartsReadIt) {
  TempDir dir;
  const std::string path = dir / "home/magpie/cluster.key";
  bool created = false;
  auto first = LoadOrCreateClusterKey(path, &created);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(created);
  ASSERT_TRUE(first->secret.has_value());
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(ModeOf(dir / "home/magpie"), 0700u);
  EXPECT_TRUE(first->warning.empty());
  auto second = LoadOrCreateClusterKey(path, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(*second->secret, *first->secret);
}

TEST(ClusterKeyTest, NodesStartingAtOnceAgreeOnOneKey) {
  TempDir dir;
  const std::string path = dir / "cluster.key";
  constexpr int kNodes = 12;
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  for (int i = 0; i < kNodes; ++i) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      bool created = false;
      auto key = LoadOrCreateClusterKey(path, &created);
      std::string out = key.ok() ? (created ? "C" : "R") + FormatClusterSecret(*key->secret)
                                 : "E" + key.status().ToString();
      (void)!write(fds[1], out.data(), out.size());
      _exit(0);
    }
    close(fds[1]);
    children.push_back({pid, fds[0]});
  }
  std::set<std::string> secrets;
  int made = 0;
  for (const Child& c : children) {
    std::string got;
    char buf[512];
    for (ssize_t n; (n = read(c.fd, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(n));
    close(c.fd);
    int status = 0;
    waitpid(c.pid, &status, 0);
    ASSERT_FALSE(got.empty());
    ASSERT_NE(got[0], 'E') << got;
    made += got[0] == 'C';
    secrets.insert(got.substr(1));
  }
  EXPECT_EQ(secrets.size(), 1u) << "nodes started at once ended with different keys";
  EXPECT_EQ(made, 1);
  // No temporary file left behind; the key is the file everyone read.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  auto key = ReadKeyFile(path);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(FormatClusterSecret(*key->secret), *secrets.begin());
}

TEST(ClusterKeyTest, BadKeyFilesAreClearErrorsNamingTheFile) {
  TempDir dir;
  WriteFile(dir / "garbage", "not a key at all\n");
  auto garbage = ReadKeyFile(dir / "garbage");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find(dir / "garbage"), std::string::npos);
  EXPECT_NE(garbage.status().message().find("64 hex digits"), std::string::npos);

  fs::create_directory(dir / "adir");
  auto a_dir = ReadKeyFile(dir / "adir");
  ASSERT_FALSE(a_dir.ok());
  EXPECT_NE(a_dir.status().message().find("not a regular file"), std::string::npos);

  WriteFile(dir / "huge", std::string(100000, 'a'));
  EXPECT_FALSE(ReadKeyFile(dir / "huge").ok());

  auto missing = ReadKeyFile(dir / "missing");
  EXPECT_TRUE(missing.status().IsNotFound());

  // A node given a missing file by flag says how to make one; it never makes it there.
  KeyEnvironment env{"", dir.path(), "", ""};
  auto node = LoadNodeClusterKey(dir / "missing", env);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("magpie keygen --out " + dir / "missing"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "missing"));

  // A client never makes one, and says where it looked.
  KeyLocation where;
  auto client = LoadClientKey("", env, &where);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(client.status().message().find(dir / "cluster.key"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "cluster.key"));
}

TEST(ClusterKeyTest, AKeyOthersCanReadIsUsedWithAWarning) {
  TempDir dir;
  WriteFile(dir / "k", FormatClusterSecret(SecretOf(1)), 0644);
  auto key = ReadKeyFile(dir / "k");
  ASSERT_TRUE(key.ok());
  EXPECT_NE(key->warning.find("chmod 600"), std::string::npos) << key->warning;
}

TEST(ClusterKeyTest, NewKeyFilesNeverOverwrite) {
  TempDir dir;
  ASSERT_TRUE(WriteNewKeyFile(dir / "k", "one\n").ok());
  Status again = WriteNewKeyFile(dir / "k", "two\n");
  EXPECT_EQ(again.code(), Status::Code::kAlreadyExists);
  std::ifstream in(dir / "k");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "one");
  EXPECT_EQ(ModeOf(dir / "k"), 0600u);
}

TEST(ClusterKeyTest, ClientKeyFileCarriesTheServerKeyAndItsOwnKeypair) {
  TempDir dir;
  ClusterKeys cluster = DeriveClusterKeys(SecretOf(3));
  CurveKeyPair mine = NewCurveKeyPair();
  WriteFile(dir / "alice", FormatClientKeyFile(cluster.server.public_z85, mine));
  auto key = ReadKeyFile(dir / "alice");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_FALSE(key->secret.has_value());
  ClientSecurity sec = ClientSecurityFor(*key);
  ASSERT_TRUE(sec.curve.has_value());
  EXPECT_EQ(sec.curve->server_public, cluster.server.public_z85);
  EXPECT_EQ(sec.curve->public_key, mine.public_z85);
  EXPECT_EQ(sec.curve->secret_key, mine.secret_z85);
  // A node needs the secret: a client key will not do.
  bool created = false;
  auto node = LoadOrCreateClusterKey(dir / "alice", &created);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("client key"), std::string::npos);
  // A cluster key gives the member keypair.
  WriteFile(dir / "cluster", FormatClusterSecret(SecretOf(3)));
  ClientSecurity member = ClientSecurityFor(*ReadKeyFile(dir / "cluster"));
  EXPECT_EQ(member.curve->server_public, cluster.server.public_z85);
  EXPECT_EQ(member.curve->public_key, cluster.member.public_z85);
}

TEST(ClusterKeyTest, AllowListReadsKeysAndNamesTheBadLine) {
  TempDir dir;
  CurveKeyPair a = NewCurveKeyPair();
  CurveKeyPair b = NewCurveKeyPair();
  WriteFile(dir / "allow", "# who may connect\n" + a.public_z85 + "  alice's laptop\n\n" +
                               b.public_z85 + "\n");
  auto keys = ReadAllowList(dir / "allow");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::set<std::string>{a.public_z85, b.public_z85}));
  WriteFile(dir / "bad", a.public_z85 + "\nnot-a-key\n");
  auto bad = ReadAllowList(dir / "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(dir / "bad" + ":2"), std::string::npos)
      << bad.status().message();
}

TEST(ClusterKeyTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace magpie
