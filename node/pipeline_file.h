// Pipeline files: many tasks in one YAML file, with `after` by name, submitted atomically
// by `magpie submit -f FILE`. The format is described in docs/pipelines.md.
//
// Everything that can be checked without a node is checked here, before anything is sent:
// field types and ranges, unknown fields, duplicate names, `after` naming a task that is
// not in the file, and cycles. Errors carry the line number of the offending YAML node.
#ifndef MAGPIE_TOOLS_PIPELINE_FILE_H_
#define MAGPIE_TOOLS_PIPELINE_FILE_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "node/client_protocol.h"
#include "node/pipeline_graph.h"
#include "node/task.h"

namespace magpie {

struct PipelineContext {
  // Prefix of error messages, normally the file's path: "<source>:<line>: ...". Empty
  // gives "line <line>: ...".
  std::string source_name;
  // The cwd of tasks that set none. Empty leaves it empty (the node picks).
  std::string default_cwd;
  // A relative `cwd` in the file is taken relative to this directory, so a pipeline file
  // means the same thing whichever directory it is submitted from. Empty leaves it as
  // written.
  std::string base_dir;
};

// Parses a pipeline document into a request whose tasks are in file order, each with
// `after` still holding names (the node resolves names within one request).
Result<SubmitRequest> ParsePipelineYaml(const std::string& text,
                                        const PipelineContext& context = {});

// Reads and parses a file. Unless the context says otherwise, errors are prefixed with
// `path` and a relative `cwd` is taken relative to the file's directory.
Result<SubmitRequest> ParsePipelineFile(const std::string& path, PipelineContext context = {});

}  // namespace magpie

#endif  // MAGPIE_TOOLS_PIPELINE_FILE_H_
