// What the workloads share: pipelined submission, waiting for many tasks, percentiles.
#ifndef MAGPIE_TOOLS_BENCH_BENCH_UTIL_H_
#define MAGPIE_TOOLS_BENCH_BENCH_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "node/client.h"

namespace magpie {

int64_t UnixMicros();
// The client's monotonic clock (steady_clock), for spans the client itself times.
int64_t MonotonicMicros();
double Percentile(std::vector<double> values, double p);  // p in [0, 1]
double Round2(double v);

struct Submitted {
  std::vector<std::string> ids;
  std::vector<int64_t> sent_us;  // when the request holding each task was sent
  int64_t first_sent_us = 0;
  int64_t all_acked_us = 0;
};

// Submits `specs` in requests of `batch` tasks with `window` requests in flight.
// Tasks of one request are submitted atomically, so `after` may name tasks of the same
// request by name; across requests, only by id.
Result<Submitted> SubmitPipelined(Client& client, const std::vector<TaskSpec>& specs, int batch,
                                  int window);

// Waits until every id has ended; returns the final records in the order of ids.
Result<std::vector<Task>> WaitAll(Client& client, const std::vector<std::string>& ids,
                                  int timeout_s);

// Appends one JSON line per task to `path`: its attempts (node, stolen_from, grant and end
// times in ms after first_sent_us, outcome), for looking at a run's timeline afterwards.
Status AppendTimeline(const std::string& path, const char* workload, const std::vector<Task>& tasks,
                      int64_t first_sent_us);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_BENCH_BENCH_UTIL_H_
