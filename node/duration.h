// Durations and points in time as users type them on the command line and in pipeline
// files, and as the CLI prints them back.
#ifndef MAGPIE_TOOLS_DURATION_H_
#define MAGPIE_TOOLS_DURATION_H_

#include <cstdint>
#include <string>

#include "base/status.h"

namespace magpie {

// "500ms", "5s", "2m", "1h", "1d", compounds like "1h30m", decimals like "1.5s", or a plain
// number of seconds ("90", "0.25"). Returns milliseconds, never negative; fractions of a
// millisecond round down. The error names the text and the accepted forms.
Result<int64_t> ParseDurationMs(const std::string& text);

// A point in time for `list --since`: a duration ago ("10m", "2h") counted back from
// now_ms, plain Unix seconds ("1714561200"), or ISO-8601 UTC ("2024-05-01T12:00:00Z",
// "2024-05-01"). Returns Unix milliseconds.
//
// A plain number is Unix seconds here, not a duration: "since 600" meaning "since ten
// minutes ago" would be a guess, and a unit makes the intent explicit.
Result<int64_t> ParseSinceMs(const std::string& text, int64_t now_ms);

// For people: "250ms", "5s", "1.5s", "2m", "2m30s", "1h5m", "3d4h".
std::string FormatDurationMs(int64_t ms);

// A short age for tables: "5s", "3m", "2h", "4d"; "-" for a time of 0 or in the future.
std::string FormatAge(int64_t then_ms, int64_t now_ms);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_DURATION_H_
