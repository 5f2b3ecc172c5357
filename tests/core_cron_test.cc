// Cron expressions: every syntax form and error, next slots across every calendar boundary,
// and a randomized cross-check of NextCronSlot against a naive scan that shares none of its
// calendar code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "base/prng.h"
#include "node/cron.h"

namespace magpie {
namespace {

// ---- A naive calendar, independent of cron.cc's: counts days year by year from 1970 ----

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysIn(int64_t y, int month) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(y) ? 29 : kDays[month - 1];
}

int64_t DaysSince1970(int64_t y, int month, int day) {
  int64_t days = 0;
  for (int64_t yy = 1970; yy < y; ++yy) days += IsLeap(yy) ? 366 : 365;
  for (int mm = 1; mm < month; ++mm) days += DaysIn(y, mm);
  return days + day - 1;
}

int64_t UtcMs(int64_t y, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return ((DaysSince1970(y, month, day) * 24 + hour) * 60 + minute) * 60000 + second * 1000;
}

TEST(CronTestCalendar, NaiveCalendarAgreesWithKnownTimestamps) {
  EXPECT_EQ(UtcMs(1970, 1, 1), 0);
  EXPECT_EQ(UtcMs(2028, 2, 29), 1835395200000);
  EXPECT_EQ(UtcMs(2100, 3, 1), 4107542400000);
  EXPECT_EQ(UtcMs(2026, 12, 6), 1796515200000);
}

CronSpec Parse(const std::string& text) {
  Result<CronSpec> r = ParseCron(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : CronSpec{};
}

template <size_t N>
std::string Bits(const std::bitset<N>& b) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (!b[i]) continue;
    if (!out.empty()) out += ",";
    out += std::to_string(i);
  }
  return out;
}

// ---- Parsing ----

TEST(ParseCron, EveryErrorNamesTheFieldAndTheBadToken) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"*/0 * * * *", "cron \"*/0 * * * *\": minute field: step must be at least 1"},
      {"* * *",
       "cron \"* * *\": needs 5 fields (minute hour day-of-month month day-of-week), got 3"},
      {"", "cron \"\": needs 5 fields (minute hour day-of-month month day-of-week), got 0"},
      {"* * * * * *",
       "cron \"* * * * * *\": needs 5 fields (minute hour day-of-month month day-of-week), "
       "got 6"},
      {"61 * * * *", "cron \"61 * * * *\": minute field: \"61\" is out of range 0-59"},
      {"* 24 * * *", "cron \"* 24 * * *\": hour field: \"24\" is out of range 0-23"},
      {"* * 0 * *", "cron \"* * 0 * *\": day-of-month field: \"0\" is out of range 1-31"},
      {"* * 32 * *", "cron \"* * 32 * *\": day-of-month field: \"32\" is out of range 1-31"},
      {"* * * 13 *", "cron \"* * * 13 *\": month field: \"13\" is out of range 1-12"},
      {"* * * * 8", "cron \"* * * * 8\": day-of-week field: \"8\" is out of range 0-7"},
      {"99999999999 * * * *",
       "cron \"99999999999 * * * *\": minute field: \"99999999999\" is out of range 0-59"},
      {"x * * * *", "cron \"x * * * *\": minute field: \"x\" is not a number"},
      {"* jan * * *", "cron \"* jan * * *\": hour field: \"jan\" is not a number"},
      {"* * * foo *",
       "cron \"* * * foo *\": month field: \"foo\" is not a number or a month name (jan-dec)"},
      {"* * * * funday",
       "cron \"* * * * funday\": day-of-week field: \"funday\" is not a number or a day name "
       "(sun-sat)"},
      {"5-2 * * * *", "cron \"5-2 * * * *\": minute field: range \"5-2\" runs backwards"},
      {"* * * * sat-sun",
       "cron \"* * * * sat-sun\": day-of-week field: range \"sat-sun\" runs backwards"},
      {"1,,2 * * * *", "cron \"1,,2 * * * *\": minute field: empty list item"},
      {"1, * * * *", "cron \"1, * * * *\": minute field: empty list item"},
      {"5- * * * *", "cron \"5- * * * *\": minute field: \"5-\" is missing a number"},
      {"-5 * * * *", "cron \"-5 * * * *\": minute field: \"-5\" is missing a number"},
      {"1-2-3 * * * *", "cron \"1-2-3 * * * *\": minute field: \"2-3\" is not a number"},
      {"*/ * * * *", "cron \"*/ * * * *\": minute field: \"*/\" is missing its step"},
      {"*/x * * * *", "cron \"*/x * * * *\": minute field: step \"x\" is not a number"},
      {"1/2/3 * * * *", "cron \"1/2/3 * * * *\": minute field: step \"2/3\" is not a number"},
      {"/5 * * * *", "cron \"/5 * * * *\": minute field: \"/5\" is missing a number"},
      {"*/61 * * * *",
       "cron \"*/61 * * * *\": minute field: step 61 is larger than the field's range 0-59"},
      {"0 0 * * */9",
       "cron \"0 0 * * */9\": day-of-week field: step 9 is larger than the field's range 0-7"},
      {"@every",
       "cron \"@every\": unknown macro \"@every\" (known: @hourly @daily @midnight @weekly "
       "@monthly @yearly @annually)"},
      {"@daily 5",
       "cron \"@daily 5\": unknown macro \"@daily 5\" (known: @hourly @daily @midnight "
       "@weekly @monthly @yearly @annually)"},
      {"@reboot",
       "cron \"@reboot\": unknown macro \"@reboot\" (known: @hourly @daily @midnight @weekly "
       "@monthly @yearly @annually)"},
      {std::string(257, '*'), "cron expression is 257 bytes long, at most 256 are accepted"},
      {"* * * * *\n", "cron expression has a control character (0x0a) at byte 9"},
      {"*\x1b[2J * * * *", "cron expression has a control character (0x1b) at byte 1"},
  };
  for (const Case& c : cases) {
    Result<CronSpec> r = ParseCron(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << c.text;
    EXPECT_EQ(r.status().message(), c.message) << c.text;
  }
}

TEST(ParseCron, StarMatchesTheWholeField) {
  CronSpec s = Parse("* * * * *");
  EXPECT_TRUE(s.minutes.all());
  EXPECT_TRUE(s.hours.all());
  EXPECT_EQ(s.days_of_month.count(), 31u);
  EXPECT_FALSE(s.days_of_month[0]);
  EXPECT_EQ(s.months.count(), 12u);
  EXPECT_FALSE(s.months[0]);
  EXPECT_TRUE(s.days_of_week.all());
  EXPECT_TRUE(s.dom_any);
  EXPECT_TRUE(s.dow_any);
  EXPECT_EQ(s.text, "* * * * *");
}

TEST(ParseCron, NumbersListsRangesAndSteps) {
  struct Case {
    std::string minute_field;
    std::string minutes;
  };
  const std::vector<Case> cases = {
      {"7", "7"},
      {"0", "0"},
      {"59", "59"},
      {"07", "7"},
      {"1,5,9", "1,5,9"},
      {"9,1,5,1", "1,5,9"},
      {"10-14", "10,11,12,13,14"},
      {"3-3", "3"},
      {"*/15", "0,15,30,45"},
      {"*/60", "0"},
      {"10-20/5", "10,15,20"},
      {"10-21/5", "10,15,20"},
      {"50/3", "50,53,56,59"},
      {"1-3,*/20,58", "0,1,2,3,20,40,58"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Bits(Parse(c.minute_field + " * * * *").minutes), c.minutes) << c.minute_field;
  }
  EXPECT_EQ(Bits(Parse("0 */6 * * *").hours), "0,6,12,18");
  EXPECT_EQ(Bits(Parse("0 0 */10 * *").days_of_month), "1,11,21,31");
  EXPECT_EQ(Bits(Parse("0 0 1 */3 *").months), "1,4,7,10");
}

TEST(ParseCron, MonthAndDayNamesInAnyCase) {
  EXPECT_EQ(Bits(Parse("0 0 1 jan *").months), "1");
  EXPECT_EQ(Bits(Parse("0 0 1 DEC *").months), "12");
  EXPECT_EQ(Bits(Parse("0 0 1 Mar-May,oct *").months), "3,4,5,10");
  EXPECT_EQ(Bits(Parse("0 0 1 jan-dec/4 *").months), "1,5,9");
  EXPECT_EQ(Bits(Parse("0 0 * * sun").days_of_week), "0");
  EXPECT_EQ(Bits(Parse("0 0 * * MON-fri").days_of_week), "1,2,3,4,5");
  EXPECT_EQ(Bits(Parse("0 0 * * Sat,sun").days_of_week), "0,6");
  EXPECT_EQ(Bits(Parse("0 0 * * mon/2").days_of_week), "0,1,3,5");  // 1,3,5,7
  EXPECT_EQ(Bits(Parse("0 0 * * wed-5").days_of_week), "3,4,5");
}

TEST(ParseCron, SevenIsSundayLikeZero) {
  EXPECT_EQ(Bits(Parse("0 0 * * 7").days_of_week), "0");
  EXPECT_EQ(Bits(Parse("0 0 * * 5-7").days_of_week), "0,5,6");
  EXPECT_EQ(Bits(Parse("0 0 * * 0-7").days_of_week), "0,1,2,3,4,5,6");
  EXPECT_EQ(Bits(Parse("0 0 * * */7").days_of_week), "0");
}

TEST(ParseCron, MacrosExpandToTheirFields) {
  struct Case {
    std::string macro;
    std::string same_as;
  };
  const std::vector<Case> cases = {
      {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"}, {"@DAILY", "0 0 * * *"},
  };
  for (const Case& c : cases) {
    CronSpec m = Parse(c.macro);
    CronSpec f = Parse(c.same_as);
    EXPECT_EQ(m.minutes, f.minutes) << c.macro;
    EXPECT_EQ(m.hours, f.hours) << c.macro;
    EXPECT_EQ(m.days_of_month, f.days_of_month) << c.macro;
    EXPECT_EQ(m.months, f.months) << c.macro;
    EXPECT_EQ(m.days_of_week, f.days_of_week) << c.macro;
    EXPECT_EQ(m.dom_any, f.dom_any) << c.macro;
    EXPECT_EQ(m.dow_any, f.dow_any) << c.macro;
    EXPECT_EQ(m.text, c.macro);
  }
}

TEST(ParseCron, WhitespaceAroundAndBetweenFieldsIsIgnored) {
  CronSpec s = Parse("  \t*/5   1,2\t* *  *  ");
  EXPECT_EQ(Bits(s.hours), "1,2");
  EXPECT_EQ(s.text, "*/5   1,2\t* *  *");
  EXPECT_EQ(Parse(" @hourly ").text, "@hourly");
  EXPECT_TRUE(ParseCron(std::string(200, ' ') + "* * * * *" + std::string(47, ' ')).ok());
}

TEST(ParseCron, DayFieldsStartingWithStarCountAsUnrestricted) {
  CronSpec s = Parse("0 0 1,15 * mon");
  EXPECT_FALSE(s.dom_any);
  EXPECT_FALSE(s.dow_any);
  s = Parse("0 0 */2 * mon");
  EXPECT_TRUE(s.dom_any);  // Vixie cron's rule: the field's first character is '*'
  EXPECT_FALSE(s.dow_any);
  s = Parse("0 0 1-31 * *");
  EXPECT_FALSE(s.dom_any);
  EXPECT_TRUE(s.dow_any);
}

// ---- NextCronSlot on chosen cases ----

int64_t Next(const std::string& text, int64_t after_ms) {
  return NextCronSlot(Parse(text), after_ms);
}

TEST(NextCronSlot, AcrossMinuteHourDayMonthAndYearBoundaries) {
  struct Case {
    std::string spec;
    int64_t after_ms;
    int64_t want_ms;
  };
  const std::vector<Case> cases = {
      {"*/5 * * * *", UtcMs(2026, 12, 6, 12, 3, 30), UtcMs(2026, 12, 6, 12, 5)},
      {"* * * * *", UtcMs(2026, 12, 6, 12, 3, 0) + 999, UtcMs(2026, 12, 6, 12, 4)},
      {"* * * * *", UtcMs(2026, 12, 6, 12, 3, 59) + 999, UtcMs(2026, 12, 6, 12, 4)},
      {"0 * * * *", UtcMs(2026, 12, 6, 12, 30), UtcMs(2026, 12, 6, 13, 0)},
      {"15 3,17 * * *", UtcMs(2026, 12, 6, 3, 16), UtcMs(2026, 12, 6, 17, 15)},
      {"15 3,17 * * *", UtcMs(2026, 12, 6, 3, 14, 59), UtcMs(2026, 12, 6, 3, 15)},
      {"15 3,17 * * *", UtcMs(2026, 12, 6, 17, 15), UtcMs(2026, 12, 7, 3, 15)},
      {"0-10 5 * * *", UtcMs(2026, 12, 6, 5, 10), UtcMs(2026, 12, 7, 5, 0)},
      {"30 2 * * *", UtcMs(2026, 12, 6, 3, 0), UtcMs(2026, 12, 7, 2, 30)},
      {"0 0 1 * *", UtcMs(2026, 1, 31, 23, 59, 59), UtcMs(2026, 2, 1)},
      {"0 0 31 * *", UtcMs(2026, 4, 1), UtcMs(2026, 5, 31)},
      {"0 0 1 1 *", UtcMs(2026, 12, 31, 23, 59), UtcMs(2027, 1, 1)},
      {"59 23 31 12 *", UtcMs(2026, 12, 31, 23, 59), UtcMs(2027, 12, 31, 23, 59)},
      {"0 12 * jun *", UtcMs(2026, 12, 6), UtcMs(2027, 6, 1, 12, 0)},
      {"0 9 * * mon-fri", UtcMs(2026, 12, 4, 10, 0), UtcMs(2026, 12, 7, 9, 0)},  // Fri -> Mon
      {"0 12 * * 7", UtcMs(2026, 12, 1), UtcMs(2026, 12, 6, 12, 0)},
      {"@hourly", UtcMs(2026, 12, 6, 23, 0), UtcMs(2026, 12, 7, 0, 0)},
      {"@daily", UtcMs(2026, 12, 6, 0, 0, 1), UtcMs(2026, 12, 7)},
      {"@monthly", UtcMs(2026, 12, 6), UtcMs(2027, 1, 1)},
      {"@yearly", UtcMs(2026, 1, 1), UtcMs(2027, 1, 1)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Next(c.spec, c.after_ms), c.want_ms) << c.spec << " after " << c.after_ms;
  }
}

TEST(NextCronSlot, ExactlyOnASlotGivesTheNextOne) {
  EXPECT_EQ(Next("*/5 * * * *", UtcMs(2026, 12, 6, 12, 5)), UtcMs(2026, 12, 6, 12, 10));
  EXPECT_EQ(Next("* * * * *", UtcMs(2026, 12, 6, 12, 5)), UtcMs(2026, 12, 6, 12, 6));
  EXPECT_EQ(Next("0 0 * * *", UtcMs(2026, 12, 6)), UtcMs(2026, 12, 7));
  EXPECT_EQ(Next("0 0 * * *", UtcMs(2026, 12, 6) - 1), UtcMs(2026, 12, 6));
}

TEST(NextCronSlot, LeapDays) {
  EXPECT_EQ(Next("0 0 29 2 *", UtcMs(2025, 1, 1)), UtcMs(2028, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 *", UtcMs(2028, 2, 29)), UtcMs(2032, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 *", UtcMs(1999, 3, 1)), UtcMs(2000, 2, 29));  // 400: leap
  EXPECT_EQ(Next("0 0 29 2 *", UtcMs(2096, 3, 1)), UtcMs(2104, 2, 29));  // 2100: not leap
  EXPECT_EQ(Next("0 0 1 3 *", UtcMs(2100, 2, 28)), UtcMs(2100, 3, 1));
  EXPECT_EQ(Next("0 0 29 * *", UtcMs(2100, 2, 1)), UtcMs(2100, 3, 29));
}

TEST(NextCronSlot, RestrictedDayOfMonthAndDayOfWeekMatchEither) {
  // The 13th, or any Friday: Friday 4 Dec 2026, Fri 11, Sun 13, Fri 18.
  const CronSpec s = Parse("0 0 13 * fri");
  std::vector<int64_t> got;
  int64_t t = UtcMs(2026, 12, 1);
  for (int i = 0; i < 4; ++i) got.push_back(t = NextCronSlot(s, t));
  EXPECT_EQ(got, (std::vector<int64_t>{UtcMs(2026, 12, 4), UtcMs(2026, 12, 11),
                                       UtcMs(2026, 12, 13), UtcMs(2026, 12, 18)}));
}

TEST(NextCronSlot, AStarredDayFieldMakesBothRequired) {
  // Vixie's first-Sunday idiom: days 1-7 AND Sunday (*/7 over 0-7).
  EXPECT_EQ(Next("0 0 1-7 * */7", UtcMs(2026, 12, 1)), UtcMs(2026, 12, 6));
  EXPECT_EQ(Next("0 0 1-7 * */7", UtcMs(2026, 12, 6)), UtcMs(2027, 1, 3));
  // Odd days that are Mondays: Mon 7 Dec is odd.
  EXPECT_EQ(Next("0 0 */2 * mon", UtcMs(2026, 12, 1)), UtcMs(2026, 12, 7));
  EXPECT_EQ(Next("0 0 */2 * mon", UtcMs(2026, 12, 7)), UtcMs(2026, 12, 21));
}

TEST(NextCronSlot, WeeklyIsSundayMidnight) {
  EXPECT_EQ(Next("@weekly", UtcMs(2026, 12, 2, 15, 0)), UtcMs(2026, 12, 6));  // a Wednesday
  EXPECT_EQ(Next("@weekly", UtcMs(2026, 12, 6)), UtcMs(2026, 12, 13));
  EXPECT_EQ(Next("@weekly", UtcMs(2026, 12, 27, 0, 0, 1)), UtcMs(2027, 1, 3));
}

TEST(NextCronSlot, ImpossibleSpecsHaveNoSlot) {
  for (const char* text : {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "0 0 30 2 */7"}) {
    EXPECT_EQ(Next(text, UtcMs(2026, 12, 6)), kNoCronSlot) << text;
  }
  EXPECT_EQ(kNoCronSlot, INT64_MAX);
  EXPECT_EQ(NextCronSlot(CronSpec{}, 0), kNoCronSlot);  // empty sets match nothing
}

TEST(NextCronSlot, RareButPossibleSpecsAreFoundYearsAhead) {
  // Feb 29 on a Sunday: 2032, 2060, 2088, then 2128 (2100 has no Feb 29).
  EXPECT_EQ(Next("0 0 29 2 */7", UtcMs(2026, 12, 6)), UtcMs(2032, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 */7", UtcMs(2032, 2, 29)), UtcMs(2060, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 */7", UtcMs(2088, 2, 29)), UtcMs(2128, 2, 29));
}

TEST(NextCronSlot, TimesBefore1970CountAsJustBeforeIt) {
  EXPECT_EQ(Next("* * * * *", -5), 0);
  EXPECT_EQ(Next("0 0 1 1 *", -1), 0);
  EXPECT_EQ(Next("0 0 1 1 *", std::numeric_limits<int64_t>::min()), 0);
  EXPECT_EQ(Next("0 0 * * *", 0), 86400000);
}

TEST(NextCronSlot, SlotsPastInt64MillisecondsAreNone) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(Next("* * * * *", max), kNoCronSlot);
  EXPECT_EQ(Next("* * * * *", max - 60000), (max / 60000) * 60000);  // the last minute held
  EXPECT_EQ(Next("0 0 1 1 *", max - 120000), kNoCronSlot);
}

TEST(NextCronSlot, KnowsTheDateAndWeekdayOfEveryDayFrom1970To2400) {
  // The calendar arithmetic is checked day by day: "0 12 D M *" and "0 12 * * W", asked at
  // midnight of the day with date D/M and weekday W, must both answer noon that same day.
  CronSpec by_date[13][32];
  for (int m = 1; m <= 12; ++m) {
    for (int d = 1; d <= 31; ++d) {
      by_date[m][d] = Parse("0 12 " + std::to_string(d) + " " + std::to_string(m) + " *");
    }
  }
  CronSpec by_weekday[7];
  for (int w = 0; w < 7; ++w) by_weekday[w] = Parse("0 12 * * " + std::to_string(w));
  int64_t days = 0;
  for (int64_t y = 1970; y <= 2400; ++y) {
    for (int m = 1; m <= 12; ++m) {
      for (int d = 1; d <= DaysIn(y, m); ++d, ++days) {
        const int64_t midnight = days * 86400000;
        const int64_t noon = midnight + 12 * 3600000;
        ASSERT_EQ(NextCronSlot(by_date[m][d], midnight), noon) << y << "-" << m << "-" << d;
        ASSERT_EQ(NextCronSlot(by_weekday[(days + 4) % 7], midnight), noon)
            << y << "-" << m << "-" << d;
      }
    }
  }
}

// ---- Randomized: NextCronSlot against a naive scan ----

bool NaiveDayMatches(const CronSpec& s, int month, int day, int weekday) {
  if (!s.months[month]) return false;
  const bool dom = s.days_of_month[day];
  const bool dow = s.days_of_week[weekday];
  return (s.dom_any || s.dow_any) ? (dom && dow) : (dom || dow);
}

// The first matching minute strictly after after_ms (>= 0) within window_days of it, or -1.
// Walks every minute of every day, the date kept by hand, skipping only whole days whose month
// and day fields fail (no minute of them can match).
int64_t NaiveNext(const CronSpec& s, int64_t after_ms, int window_days) {
  const int64_t first_minute = after_ms / 60000 + 1;
  int64_t days = first_minute / 1440;
  int minute_of_day = static_cast<int>(first_minute % 1440);
  int64_t y = 1970;
  int64_t rest = days;
  while (rest >= (IsLeap(y) ? 366 : 365)) rest -= IsLeap(y++) ? 366 : 365;
  int month = 1;
  while (rest >= DaysIn(y, month)) rest -= DaysIn(y, month++);
  int day = static_cast<int>(rest) + 1;
  for (int n = 0; n <= window_days; ++n) {
    const int weekday = static_cast<int>((days + 4) % 7);
    if (NaiveDayMatches(s, month, day, weekday)) {
      for (int t = minute_of_day; t < 1440; ++t) {
        if (s.hours[t / 60] && s.minutes[t % 60]) return (days * 1440 + t) * 60000;
      }
    }
    minute_of_day = 0;
    ++days;
    if (++day > DaysIn(y, month)) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++y;
      }
    }
  }
  return -1;
}

std::string RandomValue(Prng& r, int field, int lo, int hi) {
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  static const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const int v = static_cast<int>(r.Between(lo, hi));
  std::string name;
  if (field == 3 && r.Chance(1, 3)) name = kMonths[v - 1];
  if (field == 4 && v < 7 && r.Chance(1, 3)) name = kDays[v];
  if (name.empty()) return std::to_string(v);
  if (r.Chance(1, 2)) name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name;
}

std::string RandomField(Prng& r, int field) {
  static const int kMin[] = {0, 0, 1, 1, 0};
  static const int kMax[] = {59, 23, 31, 12, 7};
  const int lo = kMin[field];
  const int hi = kMax[field];
  // Mostly "*" for the coarse fields, so most specs match within the naive scan's window.
  if (field >= 2 && r.Chance(1, 3)) return "*";
  std::string out;
  const int items = static_cast<int>(r.Between(1, 3));
  for (int i = 0; i < items; ++i) {
    if (i > 0) out += ",";
    const int step = static_cast<int>(r.Between(1, std::min(hi - lo + 1, 12)));
    const int a = static_cast<int>(r.Between(lo, hi));
    const int b = static_cast<int>(r.Between(a, hi));
    switch (r.Below(6)) {
      case 0: out += "*"; break;
      case 1: out += "*/" + std::to_string(step); break;
      case 2: out += RandomValue(r, field, a, a) + "-" + RandomValue(r, field, b, b); break;
      case 3:
        out += RandomValue(r, field, a, a) + "-" + RandomValue(r, field, b, b) + "/" +
               std::to_string(step);
        break;
      case 4: out += RandomValue(r, field, a, a) + "/" + std::to_string(step); break;
      default: out += RandomValue(r, field, lo, hi); break;
    }
  }
  return out;
}

TEST(NextCronSlot, AgreesWithANaiveMinuteScanOnRandomSpecs) {
  const uint64_t seed = 20261206;
  Prng r(seed);
  constexpr int kWindowDays = 800;
  int found = 0;
  int beyond = 0;
  int over_a_day = 0;    // slots on another day than their start
  int over_a_month = 0;  // slots more than 31 days ahead
  for (int i = 0; i < 1000; ++i) {
    std::string text;
    std::string fields[5];
    for (int f = 0; f < 5; ++f) fields[f] = RandomField(r, f);
    if (r.Chance(1, 10)) {  // rare or impossible: the 29th-31st of one month (Feb 29, Feb 30)
      fields[2] = r.Chance(1, 2) ? "29" : "30-31";
      fields[3] = r.Chance(1, 2) ? "Feb" : RandomValue(r, 3, 1, 12);
    }
    for (int f = 0; f < 5; ++f) text += (f ? " " : "") + fields[f];
    const CronSpec spec = Parse(text);
    for (int start = 0; start < 2; ++start) {
      const int64_t y = r.Between(1970, 2399);
      const int month = static_cast<int>(r.Between(1, 12));
      const int day = static_cast<int>(r.Between(1, DaysIn(y, month)));
      int64_t t = UtcMs(y, month, day, static_cast<int>(r.Between(0, 23)),
                        static_cast<int>(r.Between(0, 59)), static_cast<int>(r.Between(0, 59)));
      if (r.Chance(1, 2)) t += r.Between(0, 999);
      // A few slots in a row, so starting exactly on a slot is covered too.
      for (int k = 0; k < 4; ++k) {
        const int64_t want = NaiveNext(spec, t, kWindowDays);
        const int64_t got = NextCronSlot(spec, t);
        if (want >= 0) {
          ASSERT_EQ(got, want) << "seed " << seed << " spec \"" << text << "\" after " << t;
          ++found;
          if (got - t > 86400000LL) ++over_a_day;
          if (got - t > 31 * 86400000LL) ++over_a_month;
          t = got;
        } else {
          // Nothing within the window: the real answer lies beyond it (or nowhere).
          ASSERT_GT(got, (t / 86400000 + kWindowDays + 1) * 86400000)
              << "seed " << seed << " spec \"" << text << "\" after " << t;
          ++beyond;
          break;
        }
      }
    }
  }
  // The specs were chosen to match often enough to test something, and now and then far
  // ahead or beyond the window.
  EXPECT_GT(found, 5000);
  EXPECT_GT(over_a_day, 500);
  EXPECT_GT(over_a_month, 200);
  EXPECT_GT(beyond, 20);
}

}  // namespace
}  // namespace magpie
