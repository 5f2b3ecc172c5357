// Sizes of output as users type them (`--output-keep 8MiB`, `output_keep:` in pipeline
// files) and as messages print them ("kept the last 1 MiB of 5.2 MiB").
#ifndef MAGPIE_NODE_BYTE_SIZE_H_
#define MAGPIE_NODE_BYTE_SIZE_H_

#include <cstdint>
#include <string>

#include "base/status.h"

namespace magpie {

// "1048576", "512B", "64KiB", "8MiB", "1GiB", and the decimal "64KB", "8MB", "1GB"; case
// does not matter, decimals like "1.5MiB" are rounded down to a byte. Never negative. The
// error names the text and the accepted forms.
Result<int64_t> ParseByteSize(const std::string& text);

// For people: "0 B", "512 B", "64 KiB", "1 MiB", "5.2 MiB" (one decimal below 10 units).
std::string FormatByteSize(uint64_t bytes);

}  // namespace magpie

#endif  // MAGPIE_NODE_BYTE_SIZE_H_
