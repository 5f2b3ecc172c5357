#include "tools/progress_bar.h"

#include <algorithm>

namespace magpie {

std::string RenderProgress(const Progress& p, int width) {
  width = std::max(width, 1);
  int total = std::max(p.total, 0);
  int done = std::clamp(p.done, 0, total);
  // Round down, so the bar is full only when everything is done.
  int filled = total == 0 ? width : static_cast<int>(static_cast<int64_t>(done) * width / total);
  std::string line = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  line += std::to_string(done) + "/" + std::to_string(total) + " done";
  if (p.failed > 0) line += ", " + std::to_string(p.failed) + " failed";
  if (!p.note.empty()) line += "; " + p.note;
  return line;
}

void ProgressBar::Update(const Progress& p) {
  if (!enabled_) return;
  // \r and erase-to-end-of-line redraw in place without scrolling the terminal.
  std::fprintf(out_, "\r\033[K%s", RenderProgress(p).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace magpie
