// Broken invariants abort with a message; expected failures are Status values instead.
#ifndef MAGPIE_BASE_CHECK_H_
#define MAGPIE_BASE_CHECK_H_

#include <string>

namespace magpie {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace magpie

#define MAGPIE_CHECK(cond, msg)                                      \
  do {                                                               \
    if (!(cond)) ::magpie::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#endif  // MAGPIE_BASE_CHECK_H_
