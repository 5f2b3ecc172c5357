#include "node/duration.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>

namespace magpie {

namespace {

// Far beyond any real timeout, far below where milliseconds overflow int64.
constexpr int64_t kMaxDurationMs = int64_t{100} * 365 * 24 * 3600 * 1000;
constexpr int kMaxIntegerDigits = 12;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status BadDuration(const std::string& text, const std::string& why) {
  return Status::InvalidArgument("invalid duration '" + text + "': " + why +
                                 " (use e.g. 500ms, 5s, 2m, 1h, 1h30m, or plain seconds)");
}

// The number at text[*pos], as whole units and a fraction of them: "1.25" is
// {whole 1, frac 25, frac_scale 100}.
struct Number {
  int64_t whole = 0;
  int64_t frac = 0;
  int64_t frac_scale = 1;
};

bool ReadNumber(const std::string& text, size_t* pos, Number* out) {
  size_t i = *pos;
  int digits = 0;
  while (i < text.size() && IsDigit(text[i])) {
    if (++digits > kMaxIntegerDigits) return false;
    out->whole = out->whole * 10 + (text[i] - '0');
    ++i;
  }
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) {
      // Digits past a microsecond of an hour change nothing worth keeping.
      if (frac_digits < 9) {
        out->frac = out->frac * 10 + (text[i] - '0');
        out->frac_scale *= 10;
        ++frac_digits;
      }
      ++i;
    }
  }
  if (digits == 0 && frac_digits == 0) return false;
  *pos = i;
  return true;
}

int64_t UnitMs(const std::string& unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  if (unit == "d") return 24 * 3600 * 1000;
  return 0;
}

bool IsPlainNumber(const std::string& text) {
  bool digit = false;
  int dots = 0;
  for (char c : text) {
    if (IsDigit(c)) {
      digit = true;
    } else if (c == '.') {
      ++dots;
    } else {
      return false;
    }
  }
  return digit && dots <= 1;
}

// "2024-05-01", "2024-05-01T12:00", "2024-05-01T12:00:00", "2024-05-01 12:00:00.250Z":
// always UTC. Returns -1 when the text is not of this form.
int64_t ParseIsoUtcMs(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &n) != 3 || n != 10) {
    return -1;
  }
  size_t i = 10;
  int64_t millis = 0;
  if (i < text.size() && (text[i] == 'T' || text[i] == ' ')) {
    int m = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d%n", &hour, &minute, &m) != 2 || m != 5) {
      return -1;
    }
    i += 1 + m;
    if (i < text.size() && text[i] == ':') {
      if (i + 3 > text.size() || !IsDigit(text[i + 1]) || !IsDigit(text[i + 2])) return -1;
      second = (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
      i += 3;
      if (i < text.size() && text[i] == '.') {
        int64_t scale = 1000;
        ++i;
        while (i < text.size() && IsDigit(text[i])) {
          scale /= 10;
          millis += (text[i] - '0') * scale;
          ++i;
        }
      }
    }
  }
  if (i < text.size() && text[i] == 'Z') ++i;
  if (i != text.size()) return -1;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return -1;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t secs = static_cast<int64_t>(timegm(&tm));
  return secs * 1000 + millis;
}

}  // namespace

Result<int64_t> ParseDurationMs(const std::string& text) {
  if (text.empty()) return BadDuration(text, "it is empty");
  if (text[0] == '-') return BadDuration(text, "it is negative");
  size_t pos = 0;
  int64_t total_ms = 0;
  bool first = true;
  while (pos < text.size()) {
    Number num;
    if (!ReadNumber(text, &pos, &num)) {
      return BadDuration(text, "expected a number at '" + text.substr(pos) + "'");
    }
    size_t unit_start = pos;
    while (pos < text.size() && !IsDigit(text[pos]) && text[pos] != '.') ++pos;
    std::string unit = text.substr(unit_start, pos - unit_start);
    int64_t unit_ms = 0;
    if (unit.empty()) {
      // A bare number is seconds, but only on its own: "1h30" is more likely a typo.
      if (!first) return BadDuration(text, "the last number has no unit");
      unit_ms = 1000;
    } else {
      unit_ms = UnitMs(unit);
      if (unit_ms == 0) return BadDuration(text, "unknown unit '" + unit + "'");
    }
    total_ms += num.whole * unit_ms + num.frac * unit_ms / num.frac_scale;
    if (total_ms > kMaxDurationMs) return BadDuration(text, "it is longer than 100 years");
    first = false;
  }
  return total_ms;
}

Result<int64_t> ParseSinceMs(const std::string& text, int64_t now_ms) {
  if (text.empty()) return Status::InvalidArgument("--since is empty");
  if (IsPlainNumber(text)) {
    double secs = std::strtod(text.c_str(), nullptr);
    return static_cast<int64_t>(secs * 1000.0);
  }
  int64_t iso = ParseIsoUtcMs(text);
  if (iso >= 0) return iso;
  auto ago = ParseDurationMs(text);
  if (!ago.ok()) {
    return Status::InvalidArgument("invalid time '" + text +
                                   "': give a duration ago (10m, 2h, 1d), Unix seconds, or "
                                   "an ISO-8601 UTC time (2024-05-01T12:00:00Z)");
  }
  return std::max<int64_t>(now_ms - *ago, 0);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60 * 1000) {
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%lld.%llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>((ms % 1000) / 100));
    return buf;
  }
  // Past a minute, two units say enough.
  struct Unit {
    int64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}};
  for (size_t i = 0; i + 1 < std::size(kUnits); ++i) {
    if (ms >= kUnits[i].ms) {
      int64_t big = ms / kUnits[i].ms;
      int64_t small = (ms % kUnits[i].ms) / kUnits[i + 1].ms;
      std::string out = std::to_string(big) + kUnits[i].name;
      if (small != 0) out += std::to_string(small) + kUnits[i + 1].name;
      return out;
    }
  }
  return std::to_string(ms / 1000) + "s";
}

std::string FormatAge(int64_t then_ms, int64_t now_ms) {
  if (then_ms <= 0 || then_ms > now_ms) return "-";
  int64_t s = (now_ms - then_ms) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

}  // namespace magpie
