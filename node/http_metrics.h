// /metrics: a node snapshot (node/http_snapshot.h) in the Prometheus text exposition
// format 0.0.4. Every family has HELP and TYPE lines; names and labels are in docs/api.md.
#ifndef MAGPIE_NODE_HTTP_METRICS_H_
#define MAGPIE_NODE_HTTP_METRICS_H_

#include <string>

#include "node/http_snapshot.h"

namespace magpie {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderPrometheus(const NodeSnapshot& snapshot);

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_METRICS_H_
