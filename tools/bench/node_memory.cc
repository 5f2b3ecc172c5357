#include "tools/bench/node_memory.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace magpie {

Result<long> ProcStatusKb(pid_t pid, const char* field) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return Status::IOError("cannot read " + path);
  const size_t n = std::strlen(field);
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      kb = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  if (kb < 0) return Status::NotFound(std::string(field) + " not in " + path);
  return kb;
}

Status ResetPeakRss(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/clear_refs";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return Status::IOError("cannot write " + path);
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok ? Status::Ok() : Status::IOError("cannot reset the peak RSS through " + path);
}

}  // namespace magpie
