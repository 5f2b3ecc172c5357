// Task output on this node's disk: what its own attempts wrote (the ProcessExecutor's
// <data-dir>/output/<task>/<attempt>.out|.err) and the copies it keeps of attempts that ran
// on other nodes (<data-dir>/output-kept/<task>/<attempt>.out|.err|.meta). Reads are
// bounded; a copy becomes visible only whole, once its .meta is in place.
#ifndef MAGPIE_NODE_OUTPUT_STORE_H_
#define MAGPIE_NODE_OUTPUT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "base/status.h"

namespace magpie {

// What a kept copy holds: of each stream, the size its process wrote and the first byte kept.
struct KeptMeta {
  uint64_t stdout_size = 0;
  uint64_t stdout_from = 0;
  uint64_t stderr_size = 0;
  uint64_t stderr_from = 0;
  std::string runner_id;
  std::string runner_address;
  MSGPACK_DEFINE(stdout_size, stdout_from, stderr_size, stderr_from, runner_id, runner_address);
};

struct OutputChunk {
  bool original = false;    // this node ran the attempt: the file its process wrote
  uint64_t size = 0;        // the stream's bytes (so far, for an original)
  uint64_t kept_from = 0;   // first byte held here
  uint64_t offset = 0;      // where data starts: max(asked, kept_from), at most size
  std::string data;
  std::string runner_address;  // a copy's: where the attempt ran
};

// A copy being written. Nothing of it is visible to readers until Commit; dropped
// uncommitted, its parts are removed.
class OutputCopyWriter {
 public:
  ~OutputCopyWriter();
  OutputCopyWriter(const OutputCopyWriter&) = delete;
  OutputCopyWriter& operator=(const OutputCopyWriter&) = delete;

  Status Append(bool stderr_stream, std::string_view data);
  // Flushes both streams to disk, then publishes them with `meta`.
  Status Commit(const KeptMeta& meta);

 private:
  friend class OutputStore;
  OutputCopyWriter(std::string base, int out_fd, int err_fd);
  Status Fail(const std::string& what);

  const std::string base_;  // <kept>/<task>/<attempt>
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool committed_ = false;
};

class OutputStore {
 public:
  OutputStore(std::string output_dir, std::string kept_dir);

  // Up to max_bytes of one stream from `offset`: from the original if this node ran the
  // attempt, else from a whole copy. NotFound when neither is here. REQUIRES: task_id is
  // IsSafeTaskId.
  Result<OutputChunk> Read(const std::string& task_id, uint32_t attempt, bool stderr_stream,
                           uint64_t offset, uint32_t max_bytes) const;
  // A committed copy of the attempt is here.
  bool HasCopy(const std::string& task_id, uint32_t attempt) const;
  // Starts writing a copy (replacing any unfinished one). REQUIRES: IsSafeTaskId(task_id).
  Result<std::unique_ptr<OutputCopyWriter>> StartCopy(const std::string& task_id, uint32_t attempt);

  const std::string& output_dir() const { return output_dir_; }
  const std::string& kept_dir() const { return kept_dir_; }

 private:
  std::string OriginalPath(const std::string& task_id, uint32_t attempt, bool stderr_stream) const;
  std::string KeptBase(const std::string& task_id, uint32_t attempt) const;

  const std::string output_dir_;
  const std::string kept_dir_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_OUTPUT_STORE_H_
