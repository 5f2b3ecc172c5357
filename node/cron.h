// Cron schedules: a five-field cron expression parsed once, and the next time it names.
// Pure functions of their inputs (no clock, no time zone database), so the protocol core can
// compute slots from the `now` it is given and every replica computes the same ones.
#ifndef MAGPIE_NODE_CRON_H_
#define MAGPIE_NODE_CRON_H_

#include <bitset>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "base/status.h"

namespace magpie {

// A standard five-field cron expression (minute hour day-of-month month day-of-week), in UTC.
// Each bitset holds the values its field matches, indexed by the value itself: minutes 0-59,
// hours 0-23, days_of_month 1-31 (bit 0 unused), months 1-12 (bit 0 unused), days_of_week
// 0-6 with 0 = Sunday (a 7 in the text is Sunday too).
struct CronSpec {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;
  std::bitset<13> months;
  std::bitset<7> days_of_week;
  // The day-of-month / day-of-week field began with '*' ("*", "*/2"). As in Vixie cron and
  // cronie, when neither did, a day matches if EITHER field does ("0 0 1,15 * mon": the 1st,
  // the 15th and every Monday); otherwise it must match both ("0 0 1-7 * */7": the first
  // Sunday of each month, */7 over 0-7 being Sunday only).
  bool dom_any = true;
  bool dow_any = true;
  std::string text;  // as written, surrounding whitespace trimmed ("@daily" stays "@daily")
};

// Longest expression accepted: a schedule is a line a person writes, and this bounds the work
// and the size of the error message it can cause.
inline constexpr size_t kMaxCronTextBytes = 256;

// Accepts `*`, numbers, lists "a,b", ranges "a-b", steps "*/n", "a-b/n" and "a/n" (a to the
// field's end), month names jan-dec and day names sun-sat (any case, also in ranges),
// day-of-week 0-7, and the macros @hourly @daily @midnight @weekly @monthly @yearly
// @annually. A step wider than its field ("*/90" minutes) is refused as the mistake it
// almost surely is. The error names the field and what is wrong, e.g.
//   cron "*/0 * * * *": minute field: step must be at least 1
Result<CronSpec> ParseCron(std::string_view text);

// What NextCronSlot returns when the spec names no time at all.
inline constexpr int64_t kNoCronSlot = std::numeric_limits<int64_t>::max();

// The first slot strictly after after_ms (Unix milliseconds): a whole minute, UTC.
// kNoCronSlot if the spec can never match, like "0 0 30 2 *". Any spec that can match does
// so within 400 years (the Gregorian calendar's period); rare ones take long, e.g.
// "0 0 29 2 */7" (Feb 29 falling on a Sunday: 2032, 2060, 2088, 2128). A time before 1970
// counts as just before 1970-01-01 00:00; a slot past what int64 milliseconds hold is none.
// Walks day by day, skipping whole months that do not match: a daily spec takes a step or
// two, the rarest (Feb 29 on one weekday, up to 40 years apart) about 1,600.
int64_t NextCronSlot(const CronSpec& spec, int64_t after_ms);

}  // namespace magpie

#endif  // MAGPIE_NODE_CRON_H_
