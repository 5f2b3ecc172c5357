#include "node/pipeline_graph.h"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <set>

namespace magpie {

namespace {

std::string Quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

Status PipelineError(const std::string& source, int line, const std::string& msg) {
  if (line <= 0) return Status::InvalidArgument(source.empty() ? msg : source + ": " + msg);
  if (source.empty()) return Status::InvalidArgument("line " + std::to_string(line) + ": " + msg);
  return Status::InvalidArgument(source + ":" + std::to_string(line) + ": " + msg);
}

Status CheckPipelineGraph(const std::vector<TaskSpec>& tasks, const std::vector<int>& lines,
                          const std::string& source) {
  auto line_of = [&](size_t i) { return i < lines.size() ? lines[i] : 0; };
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const std::string& name = tasks[i].name;
    if (name.empty())
      return PipelineError(source, line_of(i), "task " + std::to_string(i + 1) + " has no name");
    auto [it, inserted] = index.emplace(name, i);
    if (!inserted) {
      std::string first = line_of(it->second) > 0
                              ? " (first at line " + std::to_string(line_of(it->second)) + ")"
                              : "";
      return PipelineError(source, line_of(i),
                           "task name " + Quote(name) + " is used twice" + first);
    }
  }
  // deps[i]: the tasks i waits on, in the order written, duplicates dropped.
  std::vector<std::vector<size_t>> deps(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (const std::string& a : tasks[i].after) {
      auto it = index.find(a);
      if (it == index.end()) {
        return PipelineError(source, line_of(i),
                             "task " + Quote(tasks[i].name) + ": after names " + Quote(a) +
                                 ", which is not a task in this pipeline");
      }
      if (std::find(deps[i].begin(), deps[i].end(), it->second) == deps[i].end()) {
        deps[i].push_back(it->second);
      }
    }
  }
  // Depth-first search without recursion (a pipeline may be a chain of thousands); a task
  // met again while still on the path closes a cycle.
  enum Color : uint8_t { kWhite, kGray, kBlack };
  std::vector<Color> color(tasks.size(), kWhite);
  for (size_t root = 0; root < tasks.size(); ++root) {
    if (color[root] != kWhite) continue;
    std::vector<std::pair<size_t, size_t>> stack = {{root, 0}};  // task, next dep to visit
    color[root] = kGray;
    while (!stack.empty()) {
      auto& [task, next] = stack.back();
      if (next == deps[task].size()) {
        color[task] = kBlack;
        stack.pop_back();
        continue;
      }
      size_t dep = deps[task][next++];
      if (color[dep] == kGray) {
        std::string cycle;
        size_t start = 0;
        while (stack[start].first != dep) ++start;
        for (size_t k = start; k < stack.size(); ++k) cycle += tasks[stack[k].first].name + " -> ";
        cycle += tasks[dep].name;
        return PipelineError(source, line_of(dep),
                             "cycle in 'after': " + cycle + " (each task waits on the next)");
      }
      if (color[dep] == kWhite) {
        color[dep] = kGray;
        stack.push_back({dep, 0});
      }
    }
  }
  return Status::Ok();
}

std::vector<size_t> TopologicalOrder(const std::vector<TaskSpec>& tasks) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < tasks.size(); ++i) index.emplace(tasks[i].name, i);
  std::vector<std::vector<size_t>> waiters(tasks.size());
  std::vector<size_t> missing(tasks.size(), 0);
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::set<size_t> deps;
    for (const std::string& a : tasks[i].after) {
      auto it = index.find(a);
      if (it != index.end()) deps.insert(it->second);
    }
    missing[i] = deps.size();
    for (size_t d : deps) waiters[d].push_back(i);
  }
  // Kahn's algorithm, always taking the earliest task in the file among those ready.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (missing[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  order.reserve(tasks.size());
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t w : waiters[i]) {
      if (--missing[w] == 0) ready.push(w);
    }
  }
  MAGPIE_CHECK(order.size() == tasks.size(), "TopologicalOrder called on a graph with a cycle");
  return order;
}

}  // namespace magpie
