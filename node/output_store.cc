#include "node/output_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "node/output_messages.h"

namespace magpie {

namespace {

// A .meta is a few dozen bytes; anything far larger is not one of ours.
constexpr size_t kMaxMetaBytes = 4096;

std::string Errno() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// pread until `want` bytes or the end of the file.
Status ReadAt(int fd, uint64_t at, size_t want, std::string* out) {
  out->resize(want);
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, out->data() + got, want - got, static_cast<off_t>(at + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError("read failed: " + Errno());
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out->resize(got);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(Errno());
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<KeptMeta> ReadMeta(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::NotFound("no copy");
  std::string bytes;
  if (Status s = ReadAt(fd.get(), 0, kMaxMetaBytes, &bytes); !s.ok()) return s;
  try {
    size_t off = 0;
    msgpack::object_handle oh = msgpack::unpack(
        bytes.data(), bytes.size(), off, nullptr, nullptr,
        msgpack::unpack_limit(16, 16, kMaxMetaBytes, kMaxMetaBytes, kMaxMetaBytes, 8));
    KeptMeta m;
    oh.get().convert(m);
    if (m.stdout_from > m.stdout_size || m.stderr_from > m.stderr_size) {
      return Status::Corruption(path + " is inconsistent");
    }
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption(path + " is unreadable: " + e.what());
  }
}

}  // namespace

OutputCopyWriter::OutputCopyWriter(std::string base, int out_fd, int err_fd)
    : base_(std::move(base)), out_fd_(out_fd), err_fd_(err_fd) {}

OutputCopyWriter::~OutputCopyWriter() {
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
  if (!committed_) {
    unlink((base_ + ".out.part").c_str());
    unlink((base_ + ".err.part").c_str());
  }
}

Status OutputCopyWriter::Fail(const std::string& what) {
  return Status::IOError("cannot keep a copy of output in " + base_ + ": " + what);
}

Status OutputCopyWriter::Append(bool stderr_stream, std::string_view data) {
  if (committed_) return Fail("already committed");
  Status s = WriteAll(stderr_stream ? err_fd_ : out_fd_, data);
  return s.ok() ? s : Fail(s.message());
}

Status OutputCopyWriter::Commit(const KeptMeta& meta) {
  // Durable before it is acknowledged: the runner counts this copy as one that survives it.
  if (fdatasync(out_fd_) != 0 || fdatasync(err_fd_) != 0) return Fail("fdatasync: " + Errno());
  if (rename((base_ + ".out.part").c_str(), (base_ + ".out").c_str()) != 0 ||
      rename((base_ + ".err.part").c_str(), (base_ + ".err").c_str()) != 0) {
    return Fail("rename: " + Errno());
  }
  msgpack::sbuffer buf;
  msgpack::pack(buf, meta);
  const std::string tmp = base_ + ".meta.part";
  {
    Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return Fail("open " + tmp + ": " + Errno());
    if (Status s = WriteAll(fd.get(), std::string_view(buf.data(), buf.size())); !s.ok()) {
      return Fail(s.message());
    }
    if (fdatasync(fd.get()) != 0) return Fail("fdatasync: " + Errno());
  }
  if (rename(tmp.c_str(), (base_ + ".meta").c_str()) != 0) return Fail("rename: " + Errno());
  const std::string dir = base_.substr(0, base_.rfind('/'));
  Fd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) fsync(dfd.get());
  committed_ = true;
  return Status::Ok();
}

OutputStore::OutputStore(std::string output_dir, std::string kept_dir)
    : output_dir_(std::move(output_dir)), kept_dir_(std::move(kept_dir)) {}

std::string OutputStore::OriginalPath(const std::string& task_id, uint32_t attempt,
                                      bool stderr_stream) const {
  return output_dir_ + "/" + task_id + "/" + std::to_string(attempt) + (stderr_stream ? ".err" : ".out");
}

std::string OutputStore::KeptBase(const std::string& task_id, uint32_t attempt) const {
  return kept_dir_ + "/" + task_id + "/" + std::to_string(attempt);
}

Result<OutputChunk> OutputStore::Read(const std::string& task_id, uint32_t attempt,
                                      bool stderr_stream, uint64_t offset,
                                      uint32_t max_bytes) const {
  if (!IsSafeTaskId(task_id)) return Status::InvalidArgument("not a task id: " + task_id);
  max_bytes = std::min(max_bytes, kMaxOutputChunkBytes);
  OutputChunk c;
  {
    Fd fd(open(OriginalPath(task_id, attempt, stderr_stream).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) {
      struct stat st;
      if (fstat(fd.get(), &st) != 0) return Status::IOError("stat failed: " + Errno());
      c.original = true;
      c.size = static_cast<uint64_t>(st.st_size);
      c.offset = std::min(offset, c.size);
      const size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, c.size - c.offset));
      if (Status s = ReadAt(fd.get(), c.offset, want, &c.data); !s.ok()) return s;
      return c;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
      return Status::IOError("cannot open the output of " + task_id + ": " + Errno());
    }
  }
  const std::string base = KeptBase(task_id, attempt);
  auto meta = ReadMeta(base + ".meta");
  if (!meta.ok()) return meta.status();
  c.size = stderr_stream ? meta->stderr_size : meta->stdout_size;
  c.kept_from = stderr_stream ? meta->stderr_from : meta->stdout_from;
  c.runner_address = meta->runner_address;
  c.offset = std::clamp(offset, c.kept_from, c.size);
  Fd fd(open((base + (stderr_stream ? ".err" : ".out")).c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::IOError("a copy of the output of " + task_id + " lost a file: " + Errno());
  const size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, c.size - c.offset));
  if (Status s = ReadAt(fd.get(), c.offset - c.kept_from, want, &c.data); !s.ok()) return s;
  if (c.data.size() != want) return Status::Corruption("a copy of the output of " + task_id + " is short");
  return c;
}

bool OutputStore::HasCopy(const std::string& task_id, uint32_t attempt) const {
  struct stat st;
  return stat((KeptBase(task_id, attempt) + ".meta").c_str(), &st) == 0;
}

Result<std::unique_ptr<OutputCopyWriter>> OutputStore::StartCopy(const std::string& task_id,
                                                                 uint32_t attempt) {
  if (!IsSafeTaskId(task_id)) return Status::InvalidArgument("not a task id: " + task_id);
  std::error_code ec;
  std::filesystem::create_directories(kept_dir_ + "/" + task_id, ec);
  if (ec) return Status::IOError("cannot create " + kept_dir_ + "/" + task_id + ": " + ec.message());
  const std::string base = KeptBase(task_id, attempt);
  int out = open((base + ".out.part").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return Status::IOError("cannot create " + base + ".out.part: " + Errno());
  int err = open((base + ".err.part").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err < 0) {
    const std::string why = Errno();
    close(out);
    unlink((base + ".out.part").c_str());
    return Status::IOError("cannot create " + base + ".err.part: " + why);
  }
  return std::unique_ptr<OutputCopyWriter>(new OutputCopyWriter(base, out, err));
}

}  // namespace magpie
