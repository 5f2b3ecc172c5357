#include "node/cron.h"

#include <cstdio>

#include "base/check.h"

namespace magpie {

namespace {

// ---- Parsing ----

struct FieldRule {
  const char* name;  // as errors say it: "minute field: ..."
  int min;
  int max;
  const char* const* names;  // three-letter names for min, min+1, ...; nullptr: numbers only
  int name_count;
  const char* names_word;  // "a number or a month name"
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// Day-of-week takes 0-7 because both 0 and 7 mean Sunday in every cron people know.
constexpr FieldRule kFields[5] = {
    {"minute", 0, 59, nullptr, 0, "a number"},
    {"hour", 0, 23, nullptr, 0, "a number"},
    {"day-of-month", 1, 31, nullptr, 0, "a number"},
    {"month", 1, 12, kMonthNames, 12, "a number or a month name (jan-dec)"},
    {"day-of-week", 0, 7, kDayNames, 7, "a number or a day name (sun-sat)"},
};
constexpr int kDayOfWeekField = 4;

struct Macro {
  const char* name;
  const char* expansion;
};
constexpr Macro kMacros[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// One value of a field: a number or, where the field has them, a name. On failure returns
// false with *why set; `item` is the list item it came from, for errors about empty parts.
bool ParseValue(const FieldRule& f, std::string_view token, std::string_view item, int* out,
                std::string* why) {
  if (token.empty()) {
    *why = Quoted(item) + " is missing a number";
    return false;
  }
  for (int i = 0; i < f.name_count; ++i) {
    if (EqualsIgnoreCase(token, f.names[i])) {
      *out = f.min + i;
      return true;
    }
  }
  int v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') {
      *why = Quoted(token) + " is not " + f.names_word;
      return false;
    }
    // Saturate: any number this large is out of range, and int must not overflow.
    if (v < 1000) v = v * 10 + (c - '0');
  }
  if (v < f.min || v > f.max) {
    *why = Quoted(token) + " is out of range " + std::to_string(f.min) + "-" +
           std::to_string(f.max);
    return false;
  }
  *out = v;
  return true;
}

// One list item: "*", "5", "1-5", "*/15", "1-30/2" or "5/10". Adds its values to *bits.
bool ParseItem(const FieldRule& f, std::string_view item, uint64_t* bits, std::string* why) {
  if (item.empty()) {
    *why = "empty list item";
    return false;
  }
  std::string_view base = item;
  int step = 1;
  const bool has_step = item.find('/') != std::string_view::npos;
  if (has_step) {
    const size_t slash = item.find('/');
    base = item.substr(0, slash);
    const std::string_view step_text = item.substr(slash + 1);
    if (step_text.empty()) {
      *why = Quoted(item) + " is missing its step";
      return false;
    }
    step = 0;
    for (char c : step_text) {
      if (c < '0' || c > '9') {
        *why = "step " + Quoted(step_text) + " is not a number";
        return false;
      }
      if (step < 1000) step = step * 10 + (c - '0');
    }
    if (step < 1) {
      *why = "step must be at least 1";
      return false;
    }
    // A step past the field's whole span can only pick its first value: almost surely a
    // mistake ("*/90" minutes), so it is refused rather than quietly meaning "once".
    const int span = f.max - f.min + 1;
    if (step > span) {
      *why = "step " + std::string(step_text) + " is larger than the field's range " +
             std::to_string(f.min) + "-" + std::to_string(f.max);
      return false;
    }
  }
  int lo = f.min;
  int hi = f.max;
  if (base != "*") {
    const size_t dash = base.find('-');
    if (dash == std::string_view::npos) {
      if (!ParseValue(f, base, item, &lo, why)) return false;
      hi = has_step ? f.max : lo;  // "5/10": from 5 to the end of the field, every 10th
    } else {
      if (!ParseValue(f, base.substr(0, dash), item, &lo, why)) return false;
      if (!ParseValue(f, base.substr(dash + 1), item, &hi, why)) return false;
      if (lo > hi) {
        *why = "range " + Quoted(base) + " runs backwards";
        return false;
      }
    }
  }
  for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
  return true;
}

bool ParseField(const FieldRule& f, std::string_view field, uint64_t* bits, std::string* why) {
  size_t start = 0;
  while (true) {
    const size_t comma = field.find(',', start);
    const std::string_view item =
        field.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                            : comma - start);
    if (!ParseItem(f, item, bits, why)) return false;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

// ---- Calendar arithmetic (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms") ----
// Days are counted from 1970-01-01; valid for any int64 day count a Unix millisecond can name.

struct CivilDate {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                 // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         // [0, 146096]
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                      // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);               // [1, 31]
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);                  // [1, 12]
  return {yoe + era * 400 + (m <= 2), m, d};
}

// 0 = Sunday; 1970-01-01 was a Thursday.
int WeekdayFromDays(int64_t z) { return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6); }

// The most days a month can have in any year (Feb 29 included).
constexpr int kMaxMonthDays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

template <size_t N>
int NextSet(const std::bitset<N>& bits, int from) {
  for (int i = from; i < static_cast<int>(N); ++i) {
    if (bits[i]) return i;
  }
  return -1;
}

bool DayMatches(const CronSpec& spec, int day_of_month, int weekday) {
  const bool dom = spec.days_of_month[day_of_month];
  const bool dow = spec.days_of_week[weekday];
  return (spec.dom_any || spec.dow_any) ? (dom && dow) : (dom || dow);
}

// Whether any minute at all matches. Every (month, day) the calendar has falls on every
// weekday within 400 years, so only the fields' sets and month lengths matter; checking
// first keeps an impossible spec from costing a 400-year walk on every call.
bool CanEverMatch(const CronSpec& spec) {
  if (spec.minutes.none() || spec.hours.none() || spec.months.none()) return false;
  for (int m = 1; m <= 12; ++m) {
    if (!spec.months[m]) continue;
    for (int d = 1; d <= kMaxMonthDays[m]; ++d) {
      for (int w = 0; w < 7; ++w) {
        if (DayMatches(spec, d, w)) return true;
      }
    }
  }
  return false;
}

constexpr int64_t kMsPerMinute = 60 * 1000;
constexpr int64_t kMinutesPerDay = 24 * 60;
// The Gregorian calendar repeats its dates and weekdays every 400 years (146097 days).
constexpr int64_t kSearchDays = 146097;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Result<CronSpec> ParseCron(std::string_view text) {
  if (text.size() > kMaxCronTextBytes) {
    return Status::InvalidArgument("cron expression is " + std::to_string(text.size()) +
                                   " bytes long, at most " +
                                   std::to_string(kMaxCronTextBytes) + " are accepted");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // Refused before the text is echoed in an error, so no message carries raw control bytes.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char buf[96];
      std::snprintf(buf, sizeof(buf),
                    "cron expression has a control character (0x%02x) at byte %zu", c, i);
      return Status::InvalidArgument(buf);
    }
  }
  const std::string prefix = "cron " + Quoted(text) + ": ";

  size_t b = 0;
  size_t e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  const std::string_view trimmed = text.substr(b, e - b);

  std::string_view body = trimmed;
  if (!trimmed.empty() && trimmed[0] == '@') {
    body = {};
    for (const Macro& m : kMacros) {
      if (EqualsIgnoreCase(trimmed, m.name)) body = m.expansion;
    }
    if (body.empty()) {
      return Status::InvalidArgument(prefix + "unknown macro " + Quoted(trimmed) +
                                     " (known: @hourly @daily @midnight @weekly @monthly "
                                     "@yearly @annually)");
    }
  }

  std::string_view fields[5];
  int count = 0;
  for (size_t i = 0; i < body.size();) {
    if (IsSpace(body[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < body.size() && !IsSpace(body[j])) ++j;
    if (count < 5) fields[count] = body.substr(i, j - i);
    ++count;
    i = j;
  }
  if (count != 5) {
    return Status::InvalidArgument(
        prefix + "needs 5 fields (minute hour day-of-month month day-of-week), got " +
        std::to_string(count));
  }

  uint64_t bits[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    std::string why;
    if (!ParseField(kFields[i], fields[i], &bits[i], &why)) {
      return Status::InvalidArgument(prefix + kFields[i].name + " field: " + why);
    }
  }
  // Sunday is both 0 and 7 in the text; the set keeps it as 0 only.
  if (bits[kDayOfWeekField] & (uint64_t{1} << 7)) bits[kDayOfWeekField] |= 1;

  CronSpec spec;
  spec.minutes = std::bitset<60>(bits[0]);
  spec.hours = std::bitset<24>(bits[1]);
  spec.days_of_month = std::bitset<32>(bits[2]);
  spec.months = std::bitset<13>(bits[3]);
  spec.days_of_week = std::bitset<7>(bits[kDayOfWeekField] & 0x7f);
  spec.dom_any = fields[2][0] == '*';
  spec.dow_any = fields[4][0] == '*';
  spec.text = std::string(trimmed);
  return spec;
}

int64_t NextCronSlot(const CronSpec& spec, int64_t after_ms) {
  if (!CanEverMatch(spec)) return kNoCronSlot;
  if (after_ms < 0) after_ms = -1;  // the first candidate is then 1970-01-01 00:00
  // Strictly after: the minute after the one after_ms falls in, whether or not it is whole.
  const int64_t first_minute = FloorDiv(after_ms, kMsPerMinute) + 1;
  int64_t days = FloorDiv(first_minute, kMinutesPerDay);
  const int64_t minute_of_day = first_minute - days * kMinutesPerDay;
  int hour = static_cast<int>(minute_of_day / 60);
  int minute = static_cast<int>(minute_of_day % 60);
  const int64_t last_day = days + kSearchDays;

  // Each pass either returns or moves to a later day (or the 1st of a later month), so the
  // loop ends within kSearchDays passes.
  while (days <= last_day) {
    const CivilDate date = CivilFromDays(days);
    if (!spec.months[date.month]) {
      const int64_t next_month = date.month == 12 ? DaysFromCivil(date.year + 1, 1, 1)
                                                  : DaysFromCivil(date.year, date.month + 1, 1);
      MAGPIE_CHECK(next_month > days, "calendar arithmetic went backwards");
      days = next_month;
      hour = minute = 0;
      continue;
    }
    if (DayMatches(spec, date.day, WeekdayFromDays(days))) {
      int h = NextSet(spec.hours, hour);
      int m = h == hour ? NextSet(spec.minutes, minute) : NextSet(spec.minutes, 0);
      if (h == hour && m < 0) {  // this hour's matching minutes have passed
        h = NextSet(spec.hours, hour + 1);
        m = NextSet(spec.minutes, 0);
      }
      if (h >= 0) {
        const int64_t slot_minute = days * kMinutesPerDay + h * 60 + m;
        if (slot_minute > std::numeric_limits<int64_t>::max() / kMsPerMinute) return kNoCronSlot;
        return slot_minute * kMsPerMinute;
      }
    }
    ++days;
    hour = minute = 0;
  }
  return kNoCronSlot;
}

}  // namespace magpie
