// The journal in Redis, in Optuna's JournalRedisBackend layout (prefix "", Optuna's default):
// - "<prefix>:log_number" holds the number of the last record (-1 once initialised with
//   SETNX, absent before the first append);
// - "<prefix>:log:<n>" holds record n (0, 1, ...) as JSON text;
// - each append runs one Lua script (INCR the counter, SET the record under the new number),
//   so records are numbered without gaps and never torn;
// - "<prefix>:snapshot" is Python's pickled replay cache: never written or read here.
// Lock for create_trial: Redis has no journal lock in Optuna (a Python worker samples without
// one), so trainscope processes exclude each other with their own key
// "<prefix>:trainscope:lock", taken with SET NX PX <60 s> and a random token and released by a
// script that deletes it only if it still holds our token. We prefer this to an optimistic
// WATCH on the counter because any record (an intermediate value from another worker) bumps
// the counter, so under load every proposal would be retried; the lease (PX) frees the lock of
// a worker that died holding it.
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "journal_backend.h"
#include "trainscope/sweep/storage.h"

namespace trainscope::sweep::detail {
namespace {

constexpr const char* kAppendScript =
    "local i = redis.call('incr', string.format('%s:log_number', ARGV[1])) "
    "redis.call('set', string.format('%s:log:%d', ARGV[1], i), ARGV[2]) return i";
constexpr const char* kUnlockScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
constexpr int kLockLeaseMs = 60000;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisBackend final : public JournalBackend {
 public:
  explicit RedisBackend(std::string url) : url_(std::move(url)) {
    parse_url();
    const timeval timeout{5, 0};
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, timeout);
    if (ctx_ == nullptr || ctx_->err) {
      const std::string why = ctx_ ? ctx_->errstr : "out of memory";
      if (ctx_) redisFree(ctx_);
      ctx_ = nullptr;
      throw StorageError("cannot connect to the Redis journal " + url_ + ": " + why +
                         ". Start a Redis server there (e.g. `redis-server --port " + std::to_string(port_) +
                         "`) or fix the URL (redis://[:password@]host[:port][/db]).");
    }
    redisSetTimeout(ctx_, timeval{30, 0});
    if (!password_.empty()) command({"AUTH", password_});
    if (db_ != 0) command({"SELECT", std::to_string(db_)});
  }
  ~RedisBackend() override {
    if (ctx_) redisFree(ctx_);
  }

  void read_new(const Sink& sink) override {
    Reply max_reply = command({"GET", prefix_ + ":log_number"});
    if (max_reply->type == REDIS_REPLY_NIL) return;
    const long long max = std::atoll(std::string(max_reply->str, max_reply->len).c_str());
    while (next_ <= max) {
      const long long last = std::min<long long>(max, next_ + 499);
      std::vector<std::string> args{"MGET"};
      for (long long n = next_; n <= last; ++n) args.push_back(key(n));
      Reply values = command(args);
      for (size_t k = 0; k < values->elements; ++k) {
        const long long n = next_;
        const redisReply* v = values->element[k];
        std::string text;
        if (v->type == REDIS_REPLY_STRING) {
          text.assign(v->str, v->len);
        } else {
          text = wait_for(n);  // counted but not yet set (Optuna's cluster mode): wait for it
        }
        sink(text, url_ + " record " + std::to_string(n));
        ++next_;
      }
    }
  }

  void append(const std::vector<std::string>& records) override {
    command({"SETNX", prefix_ + ":log_number", "-1"});
    for (const auto& r : records) command({"EVAL", kAppendScript, "0", prefix_, r});
  }

  void append_locked(const std::vector<std::string>& records) override { append(records); }

  void with_lock(const std::function<void()>& fn) override {
    const std::string lock_key = prefix_ + ":trainscope:lock";
    const std::string token = make_uuid4();
    auto sleep = std::chrono::milliseconds(1);
    while (true) {
      Reply r = command({"SET", lock_key, token, "NX", "PX", std::to_string(kLockLeaseMs)});
      if (r->type == REDIS_REPLY_STATUS) break;
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::milliseconds(100));
    }
    auto unlock = [&] { command({"EVAL", kUnlockScript, "1", lock_key, token}); };
    try {
      fn();
    } catch (...) {
      unlock();
      throw;
    }
    unlock();
  }

  std::string describe() const override { return url_; }

 private:
  // redis://[[user]:password@]host[:port][/db]
  void parse_url() {
    std::string rest = url_.substr(std::string("redis://").size());
    const auto at = rest.rfind('@');
    if (at != std::string::npos) {
      const std::string cred = rest.substr(0, at);
      const auto colon = cred.find(':');
      password_ = colon == std::string::npos ? cred : cred.substr(colon + 1);
      rest = rest.substr(at + 1);
    }
    const auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    if (slash != std::string::npos && slash + 1 < rest.size()) {
      char* end = nullptr;
      db_ = static_cast<int>(std::strtol(rest.c_str() + slash + 1, &end, 10));
      if (*end != '\0') bad_url("the database after '/' must be a number");
    }
    const auto colon = hostport.rfind(':');
    if (colon != std::string::npos) {
      char* end = nullptr;
      port_ = static_cast<int>(std::strtol(hostport.c_str() + colon + 1, &end, 10));
      if (*end != '\0' || port_ <= 0 || port_ > 65535) bad_url("the port must be a number in 1-65535");
      hostport = hostport.substr(0, colon);
    }
    host_ = hostport.empty() ? "localhost" : hostport;
  }

  [[noreturn]] void bad_url(const std::string& why) const {
    throw StorageError("bad Redis URL " + url_ + ": " + why + " (expected redis://[:password@]host[:port][/db])");
  }

  std::string key(long long n) const { return prefix_ + ":log:" + std::to_string(n); }

  std::string wait_for(long long n) {
    auto sleep = std::chrono::milliseconds(100);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(sleep);
      Reply r = command({"GET", key(n)});
      if (r->type == REDIS_REPLY_STRING) return std::string(r->str, r->len);
      sleep = std::min(sleep * 2, std::chrono::milliseconds(2000));
    }
    throw StorageError(url_ + ": record " + std::to_string(n) + " was counted in :log_number but never written");
  }

  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* raw =
        static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (raw == nullptr) {
      throw StorageError("lost the connection to the Redis journal " + url_ + " (" + ctx_->errstr +
                         "): is the server still running?");
    }
    Reply r(raw);
    if (r->type == REDIS_REPLY_ERROR) {
      throw StorageError("the Redis journal " + url_ + " refused " + args[0] + ": " + std::string(r->str, r->len));
    }
    return r;
  }

  std::string url_;
  std::string host_;
  int port_ = 6379;
  int db_ = 0;
  std::string password_;
  std::string prefix_;  // Optuna's JournalRedisBackend(prefix="")
  redisContext* ctx_ = nullptr;
  long long next_ = 0;  // the next record number to read
};

}  // namespace

std::unique_ptr<JournalBackend> open_redis_backend(const std::string& url) {
  return std::make_unique<RedisBackend>(url);
}

}  // namespace trainscope::sweep::detail
