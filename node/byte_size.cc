#include "node/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace magpie {

namespace {

// Past any output a node keeps; also where a double stops holding every integer exactly.
constexpr double kMaxBytes = 9007199254740992.0;  // 2^53

Status Malformed(const std::string& text) {
  return Status::InvalidArgument("'" + text +
                                 "' is not a size: use bytes (1048576) or a number with a unit "
                                 "(512B, 64KiB, 8MiB, 1GiB, or KB, MB, GB for powers of 1000)");
}

}  // namespace

Result<int64_t> ParseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i);
  std::string unit;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == ' ' && unit.empty()) continue;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  }
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return Malformed(text);
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kib" || unit == "k") scale = 1024.0;
  else if (unit == "mib" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else return Malformed(text);
  double value = 0;
  if (std::sscanf(number.c_str(), "%lf", &value) != 1) return Malformed(text);
  const double bytes = std::floor(value * scale);
  if (!(bytes >= 0) || bytes > kMaxBytes) return Malformed(text);
  return static_cast<int64_t>(bytes);
}

std::string FormatByteSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
    return buf;
  }
  std::snprintf(buf, sizeof(buf), v < 9.95 ? "%.1f" : "%.0f", v);
  std::string number = buf;
  if (number.size() > 2 && number.compare(number.size() - 2, 2, ".0") == 0) number.resize(number.size() - 2);
  return number + " " + kUnits[u];
}

}  // namespace magpie
