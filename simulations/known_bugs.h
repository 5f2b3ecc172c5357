// Open bugs the simulator has found in the core and that are reported but not yet fixed.
// Each is a signature: a promise and a pattern its violation's words match. A swarm run
// whose violation matches one is counted as that known bug instead of a new failure, so
// CI stays a gate for new breakage while the fix is under way; the summary counts every
// known bug it saw, and a bug that is never seen any more is a hint that it was fixed.
//
// File format (simulations/known_bugs.txt): one bug per line,
//   ID | PROMISE | REGEX (ECMAScript, without '|'; searched in the violation's detail) | what
// '#' starts a comment.
#ifndef MAGPIE_SIMULATIONS_KNOWN_BUGS_H_
#define MAGPIE_SIMULATIONS_KNOWN_BUGS_H_

#include <regex>
#include <string>
#include <vector>

#include "base/status.h"
#include "simulations/violation.h"

namespace magpie {

struct KnownBug {
  std::string id;
  std::string promise;
  std::string pattern;
  std::regex regex;
  std::string summary;
};

Result<std::vector<KnownBug>> ParseKnownBugs(const std::string& text);
// The first known bug the violation matches, or nullptr.
const KnownBug* MatchKnownBug(const std::vector<KnownBug>& bugs, const Violation& v);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_KNOWN_BUGS_H_
