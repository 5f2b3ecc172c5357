#include "simulations/known_bugs.h"

#include <sstream>

namespace magpie {

namespace {

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

Result<std::vector<KnownBug>> ParseKnownBugs(const std::string& text) {
  std::vector<KnownBug> bugs;
  std::stringstream ss(text);
  std::string line;
  int line_no = 0;
  while (std::getline(ss, line)) {
    ++line_no;
    if (Trim(line).empty() || Trim(line)[0] == '#') continue;
    std::vector<std::string> fields;
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      const size_t bar = line.find('|', start);
      if (bar == std::string::npos) break;
      fields.push_back(Trim(line.substr(start, bar - start)));
      start = bar + 1;
    }
    fields.push_back(Trim(line.substr(start)));
    if (fields.size() != 4 || fields[0].empty() || fields[1].empty() || fields[2].empty()) {
      return Status::InvalidArgument("line " + std::to_string(line_no) +
                                     ": want ID | PROMISE | REGEX | summary");
    }
    KnownBug b;
    b.id = fields[0];
    b.promise = fields[1];
    b.pattern = fields[2];
    b.summary = fields[3];
    try {
      b.regex = std::regex(b.pattern);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": bad pattern: " + e.what());
    }
    bugs.push_back(std::move(b));
  }
  return bugs;
}

const KnownBug* MatchKnownBug(const std::vector<KnownBug>& bugs, const Violation& v) {
  for (const auto& b : bugs) {
    if (b.promise == v.promise && std::regex_search(v.detail, b.regex)) return &b;
  }
  return nullptr;
}

}  // namespace magpie
