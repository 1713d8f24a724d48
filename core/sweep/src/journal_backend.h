// Private to trainscope::sweep: where journal records live (a file, Redis). A backend moves
// record texts and provides the cross-process lock; journal_storage.cpp does the rest.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trainscope::sweep::detail {

class JournalBackend {
 public:
  virtual ~JournalBackend() = default;
  // Calls `sink(record, where)` for each complete record appended since the previous call
  // (the first call: all of them), in order. `where` names the record in errors. A record
  // still being written (or torn by a writer that died) is not delivered; it is looked at
  // again next time.
  using Sink = std::function<void(std::string_view record, const std::string& where)>;
  virtual void read_new(const Sink& sink) = 0;
  // Appends records atomically as a group (file: under the lock; Redis: each record by one
  // atomic script, as Optuna does).
  virtual void append(const std::vector<std::string>& records) = 0;
  // Runs `fn` holding the backend's cross-process lock; `append_locked` may be called in it.
  virtual void with_lock(const std::function<void()>& fn) = 0;
  virtual void append_locked(const std::vector<std::string>& records) = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<JournalBackend> open_file_backend(const std::string& path);
std::unique_ptr<JournalBackend> open_redis_backend(const std::string& url);

// A random uuid4 text (Optuna names workers and renamed lock files with these).
std::string make_uuid4();

}  // namespace trainscope::sweep::detail
