// Durations and times as users type them: every accepted form, and clear refusals.
#include <gtest/gtest.h>

#include "node/duration.h"

namespace magpie {
namespace {

struct DurationCase {
  const char* text;
  int64_t ms;  // -1: must be refused
};

TEST(CliDurationTest, ParsesEveryDocumentedFormAndRefusesTheRest) {
  const DurationCase cases[] = {
      {"500ms", 500},    {"5s", 5000},       {"2m", 120000},    {"1h", 3600000},
      {"1d", 86400000},  {"1h30m", 5400000}, {"2m30s", 150000}, {"1.5s", 1500},
      {"0.25", 250},     {"90", 90000},      {"0", 0},          {"0s", 0},
      {"1s500ms", 1500}, {".5s", 500},       {"1.0005s", 1000}, {"", -1},
      {"-5s", -1},       {"5x", -1},         {"s", -1},         {"1h30", -1},
      {"5 s", -1},       {"abc", -1},        {"1.2.3", -1},     {"999999999999999999h", -1},
      {"40000d", -1},
  };
  for (const auto& c : cases) {
    auto got = ParseDurationMs(c.text);
    if (c.ms < 0) {
      EXPECT_FALSE(got.ok()) << "'" << c.text << "' should be refused";
      if (!got.ok()) {
        EXPECT_NE(got.status().message().find(c.text), std::string::npos);
      }
    } else {
      ASSERT_TRUE(got.ok()) << "'" << c.text << "': " << got.status().ToString();
      EXPECT_EQ(*got, c.ms) << c.text;
    }
  }
}

TEST(CliDurationTest, SinceAcceptsAgoUnixSecondsAndIsoUtc) {
  const int64_t now_ms = 1714564800000;  // 2024-05-01T12:00:00Z
  struct Case {
    const char* text;
    int64_t want_ms;
  } cases[] = {
      {"10m", now_ms - 600000},
      {"2h", now_ms - 7200000},
      {"1714561200", 1714561200000},
      {"1714561200.5", 1714561200500},
      {"2024-05-01T11:00:00Z", 1714561200000},
      {"2024-05-01T11:00:00.250Z", 1714561200250},
      {"2024-05-01 11:00", 1714561200000},
      {"2024-05-01", 1714521600000},
      {"100000d", -1},
      {"yesterday", -1},
      {"2024-13-01", -1},
      {"", -1},
  };
  for (const auto& c : cases) {
    auto got = ParseSinceMs(c.text, now_ms);
    if (c.want_ms < 0) {
      EXPECT_FALSE(got.ok()) << c.text;
    } else {
      ASSERT_TRUE(got.ok()) << c.text << ": " << got.status().ToString();
      EXPECT_EQ(*got, c.want_ms) << c.text;
    }
  }
}

TEST(CliDurationTest, FormatsForPeopleWithAtMostTwoUnits) {
  EXPECT_EQ(FormatDurationMs(0), "0ms");
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(5000), "5s");
  EXPECT_EQ(FormatDurationMs(1500), "1.5s");
  EXPECT_EQ(FormatDurationMs(120000), "2m");
  EXPECT_EQ(FormatDurationMs(150000), "2m30s");
  EXPECT_EQ(FormatDurationMs(3900000), "1h5m");
  EXPECT_EQ(FormatDurationMs(3 * 86400000LL + 4 * 3600000LL + 59000), "3d4h");
  EXPECT_EQ(FormatDurationMs(-5), "0ms");
}

TEST(CliDurationTest, AgeIsShortAndDashWhenUnknown) {
  EXPECT_EQ(FormatAge(0, 1000), "-");
  EXPECT_EQ(FormatAge(5000, 1000), "-");
  EXPECT_EQ(FormatAge(1000, 6000), "5s");
  EXPECT_EQ(FormatAge(1000, 1000 + 3 * 60000 + 5000), "3m");
  EXPECT_EQ(FormatAge(1000, 1000 + 2 * 3600000), "2h");
  EXPECT_EQ(FormatAge(1000, 1000 + 4 * 86400000LL), "4d");
}

}  // namespace
}  // namespace magpie
