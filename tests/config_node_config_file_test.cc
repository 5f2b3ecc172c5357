// magpie-node's TOML config file and its flags (docs/operations.md): every key read, flags
// winning over the file, and each kind of mistake refused with the file, line and key.
#include <gtest/gtest.h>

#include <fstream>

#include "node/node_config_file.h"
#include "node/node_flags.h"

namespace magpie {
namespace {

Status Parse(const std::string& text, NodeSettings* s, SettingSources* sources = nullptr) {
  SettingSources ignored;
  return ParseConfigText(text, "/etc/magpie/magpie.toml", s, sources ? sources : &ignored);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigFile, EveryKindOfKeyIsRead) {
  NodeSettings s;
  SettingSources sources;
  ASSERT_TRUE(Parse("data_dir = \"/var/lib/magpie\"\n"
                    "slots = 6\n"
                    "metrics_open = true\n"
                    "join = [\"10.0.0.4:7400\", \"10.0.0.5:7400\"]\n"
                    "label = [\"gpu=1\", \"zone=a\"]\n"
                    "log_format = \"json\"\n",
                    &s, &sources)
                  .ok());
  EXPECT_EQ(s.data_dir, "/var/lib/magpie");
  EXPECT_EQ(s.slots, 6);
  EXPECT_TRUE(s.metrics_open);
  EXPECT_EQ(s.join, (std::vector<std::string>{"10.0.0.4:7400", "10.0.0.5:7400"}));
  EXPECT_EQ(s.label, (std::vector<std::string>{"gpu=1", "zone=a"}));
  EXPECT_EQ(s.log_format, "json");
  EXPECT_EQ(s.listen, NodeSettings().listen);  // absent: the default stays
  EXPECT_EQ(sources["slots"], "/etc/magpie/magpie.toml:2");
  EXPECT_EQ(sources.count("listen"), 0u);
  NodeConfig c = ToNodeConfig(s);
  EXPECT_EQ(c.labels.at("zone"), "a");
  EXPECT_EQ(c.slots, 6);
}

TEST(ConfigFile, UnknownKeyNamesFileLineAndKey) {
  NodeSettings s;
  Status st = Parse("slots = 2\n\nslot = 3\n", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/etc/magpie/magpie.toml:3"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("unknown key 'slot'"), std::string::npos) << st.message();
}

TEST(ConfigFile, DashedKeyIsRefusedWithTheUnderscoredName) {
  NodeSettings s;
  Status st = Parse("data-dir = \"d\"\n", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("data_dir"), std::string::npos) << st.message();
}

TEST(ConfigFile, TablesAreUnknownKeys) {
  NodeSettings s;
  Status st = Parse("[labels]\ngpu = \"1\"\n", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unknown key 'labels'"), std::string::npos) << st.message();
}

TEST(ConfigFile, WrongTypesNameFileLineKeyAndWhatWasWanted) {
  struct Case {
    const char* text;
    const char* key;
    const char* wanted;
  };
  const Case cases[] = {
      {"\nslots = \"4\"\n", "slots", "an integer, not a string"},
      {"\ninsecure = 1\n", "insecure", "true or false, not an integer"},
      {"\nlisten = 7400\n", "listen", "a string, not an integer"},
      {"\njoin = \"10.0.0.4:7400\"\n", "join", "an array of strings, not a string"},
      {"\nlabel = [\"a=1\", 2]\n", "label", "item 2 is an integer"},
  };
  for (const Case& c : cases) {
    NodeSettings s;
    Status st = Parse(c.text, &s);
    ASSERT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find("/etc/magpie/magpie.toml:2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("'" + std::string(c.key) + "'"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find(c.wanted), std::string::npos) << st.message();
  }
}

TEST(ConfigFile, TextThatIsNotTomlNamesTheLine) {
  NodeSettings s;
  Status st = Parse("slots = 2\nlisten = \n", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/etc/magpie/magpie.toml:2"), std::string::npos) << st.message();
}

TEST(ConfigFile, MissingFileIsAnError) {
  NodeSettings s;
  SettingSources sources;
  Status st = ReadConfigFile(testing::TempDir() + "/no-such-magpie.toml", &s, &sources);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no-such-magpie.toml"), std::string::npos);
}

TEST(ConfigFile, OutOfRangeValueNamesItsLine) {
  NodeSettings s;
  SettingSources sources;
  ASSERT_TRUE(Parse("replication = 9\n", &s, &sources).ok());
  Status st = ValidateSettings(s, sources);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/etc/magpie/magpie.toml:1: replication"), std::string::npos)
      << st.message();
}

TEST(ConfigFile, PrintedConfigReadsBackToTheSameSettings) {
  NodeSettings s;
  s.data_dir = "/srv/magpie \"quoted\" \\ dir";
  s.join = {"a:1", "b:2"};
  s.label = {"k=v with spaces"};
  s.slots = 12;
  s.insecure = true;
  s.log_level = "debug";
  s.cluster_key = "/etc/magpie/cluster.key";
  SettingSources sources{{"slots", "command line"}};
  std::string text = RenderConfigFile(s, sources, {"a header"});
  EXPECT_EQ(text.rfind("# a header\n", 0), 0u) << text;
  EXPECT_NE(text.find("slots = 12  # command line"), std::string::npos) << text;
  EXPECT_NE(text.find("listen = '127.0.0.1:7400'  # default"), std::string::npos) << text;

  NodeSettings back;
  ASSERT_TRUE(Parse(text, &back).ok()) << text;
  EXPECT_EQ(back.data_dir, s.data_dir);
  EXPECT_EQ(back.join, s.join);
  EXPECT_EQ(back.label, s.label);
  EXPECT_EQ(back.slots, 12);
  EXPECT_TRUE(back.insecure);
  EXPECT_EQ(back.log_level, "debug");
  EXPECT_EQ(back.cluster_key, "/etc/magpie/cluster.key");
  // Every setting is printed, so a printed file pins every value.
  for (const SettingKey& k : AllSettings()) {
    EXPECT_NE(text.find("\n" + std::string(k.name) + " = "), std::string::npos) << k.name;
  }
}

// The command line, parsed as magpie-node parses it.
Result<EffectiveSettings> Resolve(std::vector<std::string> args,
                                  const std::string& default_config = "") {
  CLI::App app;
  NodeFlags flags;
  AddNodeFlags(&app, &flags);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  app.parse(args);
  return ResolveSettings(app, flags, default_config);
}

TEST(ConfigFlags, FlagsGivenWinOverTheFileAndTheFileOverDefaults) {
  std::string path = WriteFile("precedence.toml",
                               "slots = 2\nlisten = \"127.0.0.1:9000\"\nlabel = [\"zone=a\"]\n"
                               "insecure = true\n");
  auto r = Resolve({"--config", path, "--slots", "5", "--label", "zone=b", "--label", "gpu=1"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->settings.slots, 5);                   // flag over file
  EXPECT_EQ(r->settings.listen, "127.0.0.1:9000");   // file over default
  EXPECT_EQ(r->settings.data_dir, "./magpie-data");  // default
  // A repeatable flag replaces the file's array rather than adding to it.
  EXPECT_EQ(r->settings.label, (std::vector<std::string>{"zone=b", "gpu=1"}));
  EXPECT_EQ(r->sources.at("slots"), "command line");
  EXPECT_EQ(r->sources.at("listen"), path + ":2");
  EXPECT_EQ(r->config_file, path);
  EXPECT_TRUE(r->settings.insecure);

  auto off = Resolve({"--config", path, "--insecure=false"});
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->settings.insecure);
}

TEST(ConfigFlags, DefaultFileIsReadOnlyWhenItExists) {
  std::string path = WriteFile("home-magpie.toml", "slots = 3\n");
  auto found = Resolve({}, path);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->settings.slots, 3);
  EXPECT_EQ(found->config_file, path);

  auto absent = Resolve({}, testing::TempDir() + "/absent-magpie.toml");
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->settings.slots, 0);
  EXPECT_TRUE(absent->config_file.empty());

  // --config names a file that must be there; the default one is then not read.
  auto missing = Resolve({"--config", testing::TempDir() + "/absent-magpie.toml"}, path);
  EXPECT_FALSE(missing.ok());
}

TEST(ConfigFlags, ChecksApplyToFlagsAsToTheFile) {
  auto bad_label = Resolve({"--label", "novalue"});
  ASSERT_FALSE(bad_label.ok());
  EXPECT_NE(bad_label.status().message().find("--label"), std::string::npos);
  auto bad_format = Resolve({"--log-format", "xml"});
  ASSERT_FALSE(bad_format.ok());
  EXPECT_NE(bad_format.status().message().find("--log-format"), std::string::npos);
  auto insecure_key = Resolve({"--insecure", "--cluster-key", "/k"});
  EXPECT_FALSE(insecure_key.ok());
}

}  // namespace
}  // namespace magpie
