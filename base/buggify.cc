#include "base/buggify.h"

#ifdef MAGPIE_BUGGIFY
namespace magpie {
BuggifySwitches& Buggify() {
  static BuggifySwitches switches;
  return switches;
}
}  // namespace magpie
#endif
