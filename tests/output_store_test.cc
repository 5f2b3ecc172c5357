// Task output on a node's disk (node/output_store.h) and the checks every output message
// from a peer passes (node/output_messages.h): reads are bounded, a copy is read only once
// whole, a bounded copy says which bytes it holds, and nothing forged names a file.
#include "node/output_store.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "node/output_copies.h"
#include "node/output_messages.h"

namespace magpie {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "output_store_test.XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class OutputStoreTest : public ::testing::Test {
 protected:
  OutputStoreTest() : store_(dir_.path() + "/output", dir_.path() + "/output-kept") {}
  TempDir dir_;
  OutputStore store_;
};

TEST_F(OutputStoreTest, ReadsTheOriginalInBoundedChunksFromAnyOffset) {
  WriteFile(dir_.path() + "/output/g1-1/2.out", "0123456789");
  auto c = store_.Read("g1-1", 2, false, 3, 4);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->original);
  EXPECT_EQ(c->size, 10u);
  EXPECT_EQ(c->kept_from, 0u);
  EXPECT_EQ(c->offset, 3u);
  EXPECT_EQ(c->data, "3456");
  auto end = store_.Read("g1-1", 2, false, 50, 4);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->offset, 10u);
  EXPECT_EQ(end->data, "");
}

TEST_F(OutputStoreTest, NotHereIsNotFoundNotEmpty) {
  auto c = store_.Read("g1-1", 1, true, 0, 100);
  EXPECT_TRUE(c.status().IsNotFound());
  EXPECT_FALSE(store_.HasCopy("g1-1", 1));
}

TEST_F(OutputStoreTest, ACopyIsInvisibleUntilCommittedThenReadWithItsKeptRange) {
  auto w = store_.StartCopy("g2-5", 1);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append(false, "6789").ok());
  ASSERT_TRUE((*w)->Append(true, "err").ok());
  EXPECT_FALSE(store_.HasCopy("g2-5", 1));
  EXPECT_TRUE(store_.Read("g2-5", 1, false, 0, 100).status().IsNotFound());

  KeptMeta meta;
  meta.stdout_size = 10;
  meta.stdout_from = 6;  // a bound of 4 bytes: the last 4 of 10
  meta.stderr_size = 3;
  meta.runner_id = "n1";
  meta.runner_address = "127.0.0.1:7401";
  ASSERT_TRUE((*w)->Commit(meta).ok());
  EXPECT_TRUE(store_.HasCopy("g2-5", 1));

  auto out = store_.Read("g2-5", 1, false, 0, 100);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FALSE(out->original);
  EXPECT_EQ(out->size, 10u);
  EXPECT_EQ(out->kept_from, 6u);
  EXPECT_EQ(out->offset, 6u);  // asked from 0: what is held starts at 6
  EXPECT_EQ(out->data, "6789");
  EXPECT_EQ(out->runner_address, "127.0.0.1:7401");
  auto tail = store_.Read("g2-5", 1, false, 8, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->data, "89");
  auto err = store_.Read("g2-5", 1, true, 0, 2);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->kept_from, 0u);
  EXPECT_EQ(err->data, "er");
}

TEST_F(OutputStoreTest, AnUncommittedCopyLeavesNothingBehind) {
  {
    auto w = store_.StartCopy("g2-6", 1);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(false, "partial").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/output-kept/g2-6/1.out.part"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/output-kept/g2-6/1.out"));
}

TEST_F(OutputStoreTest, ATaskIdThatIsNotOneNamesNoFile) {
  for (const char* bad : {"", "..", "../x", "g1/../../etc", "-rf", ".hidden", "a b"}) {
    EXPECT_FALSE(IsSafeTaskId(bad)) << bad;
    EXPECT_FALSE(store_.Read(bad, 1, false, 0, 10).ok()) << bad;
    EXPECT_FALSE(store_.StartCopy(bad, 1).ok()) << bad;
  }
  EXPECT_TRUE(IsSafeTaskId("4f2a91c0-17"));
}

TEST(OutputMessagesTest, ForgedSizesAndCountsAreRefused) {
  OutputRead r{1, "g1-1", 1, false, 0, 1024};
  EXPECT_TRUE(CheckOutputRead(r).ok());
  r.max_bytes = kMaxOutputChunkBytes + 1;
  EXPECT_FALSE(CheckOutputRead(r).ok());
  r.max_bytes = 0;
  EXPECT_FALSE(CheckOutputRead(r).ok());
  r = OutputRead{1, "g1-1", 0, false, 0, 10};
  EXPECT_FALSE(CheckOutputRead(r).ok()) << "attempt 0";

  OutputData d;
  d.found = true;
  d.size = 10;
  d.offset = 8;
  d.data = "89";
  EXPECT_TRUE(CheckOutputData(d).ok());
  d.data = "890";  // past the size it claims
  EXPECT_FALSE(CheckOutputData(d).ok());
  d.data = "89";
  d.kept_from = 11;
  EXPECT_FALSE(CheckOutputData(d).ok());
  d.kept_from = 0;
  d.holders.assign(kMaxOutputHolders + 1, "127.0.0.1:1");
  EXPECT_FALSE(CheckOutputData(d).ok());

  OutputOffer o{"g1-1", 1, "n1", "127.0.0.1:1", 10, 0, 1024, false};
  EXPECT_TRUE(CheckOutputOffer(o).ok());
  o.keep_bytes = static_cast<uint64_t>(kMaxOutputKeepBytes) + 1;
  EXPECT_FALSE(CheckOutputOffer(o).ok());
  o.keep_bytes = 1024;
  o.runner_address.clear();
  EXPECT_FALSE(CheckOutputOffer(o).ok());

  OutputKept k{"g1-1", 1, "n2", true, "", 3};
  EXPECT_TRUE(CheckOutputKept(k).ok());
  k.voters = 1000;
  EXPECT_FALSE(CheckOutputKept(k).ok());
}

TEST(OutputCopiesTest, ACopyKeepsTheLastBoundBytes) {
  struct Case {
    uint64_t size, keep, from;
  };
  for (const Case& c : {Case{0, 1024, 0}, Case{1024, 1024, 0}, Case{1025, 1024, 1},
                        Case{5 * 1048576 + 7, 1048576, 4 * 1048576 + 7}, Case{10, 0, 10}}) {
    EXPECT_EQ(KeepFrom(c.size, c.keep), c.from) << c.size << " " << c.keep;
  }
}

}  // namespace
}  // namespace magpie
