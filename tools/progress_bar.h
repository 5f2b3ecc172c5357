// The progress line `magpie wait` draws on a terminal: "[#####.....] 5/10 done, 1 failed".
#ifndef MAGPIE_TOOLS_PROGRESS_BAR_H_
#define MAGPIE_TOOLS_PROGRESS_BAR_H_

#include <cstdio>
#include <string>

namespace magpie {

struct Progress {
  int total = 0;
  int done = 0;    // ended, in any end state
  int failed = 0;  // ended without succeeding: failed, cancelled or blocked
  std::string note;  // what a running task last said of itself (`magpie progress`)
};

// The line itself, without control characters; `width` is the number of cells in the bar.
std::string RenderProgress(const Progress& p, int width = 20);

// Redraws the line in place on a terminal. Draws nothing unless `enabled`, so callers
// need not repeat the isatty test. The stream must outlive the bar.
class ProgressBar {
 public:
  ProgressBar(std::FILE* out, bool enabled) : out_(out), enabled_(enabled) {}
  ~ProgressBar() { Clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Update(const Progress& p);
  // Erases the line, so what is printed next starts on a clean line.
  void Clear();

 private:
  std::FILE* const out_;
  const bool enabled_;
  bool drawn_ = false;
};

}  // namespace magpie

#endif  // MAGPIE_TOOLS_PROGRESS_BAR_H_
