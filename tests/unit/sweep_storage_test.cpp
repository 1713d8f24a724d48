// Optuna journal storage (file and Redis): replay round trips, torn and corrupt records,
// concurrent trial creation from threads and processes, stale-trial detection.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "trainscope/sweep/storage.h"

namespace fs = std::filesystem;
using namespace trainscope::sweep;

namespace {

fs::path temp_dir(const std::string& name) {
  const char* base = std::getenv("TRAINSCOPE_TEST_TMP");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 ("sweep_storage_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

NewTrial sample_trial(double x, int64_t units, size_t choice) {
  NewTrial t;
  t.distributions["x"] = FloatDistribution{-5.0, 5.0, false, std::nullopt};
  t.distributions["lr"] = FloatDistribution{1e-4, 1e-1, true, std::nullopt};
  t.distributions["units"] = IntDistribution{16, 128, false, 16};
  t.distributions["opt"] =
      CategoricalDistribution{{std::string("adam"), std::string("sgd"), int64_t{3}, 0.5, true, std::monostate{}}};
  t.params["x"] = x;
  t.params["lr"] = 0.001;
  t.params["units"] = static_cast<double>(units);
  t.params["opt"] = static_cast<double>(choice);
  t.system_attrs["grid_id"] = "7";
  return t;
}

// Every field the storage keeps, compared exactly (datetimes to the microsecond).
void expect_same_trials(const std::vector<Trial>& a, const std::vector<Trial>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("trial " + std::to_string(i));
    EXPECT_EQ(a[i].trial_id, b[i].trial_id);
    EXPECT_EQ(a[i].number, b[i].number);
    EXPECT_EQ(a[i].state, b[i].state);
    EXPECT_EQ(a[i].params, b[i].params);
    EXPECT_EQ(a[i].distributions, b[i].distributions);
    EXPECT_EQ(a[i].value.has_value(), b[i].value.has_value());
    if (a[i].value && b[i].value) {
      EXPECT_EQ(*a[i].value, *b[i].value);
    }
    EXPECT_EQ(a[i].intermediate_values.size(), b[i].intermediate_values.size());
    EXPECT_EQ(a[i].user_attrs, b[i].user_attrs);
    EXPECT_EQ(a[i].system_attrs, b[i].system_attrs);
    EXPECT_EQ(a[i].datetime_start, b[i].datetime_start);
    EXPECT_EQ(a[i].datetime_complete, b[i].datetime_complete);
  }
}

// Writes a study with a COMPLETE, a PRUNED, a FAIL and a RUNNING trial; returns the study id.
int64_t write_study(Storage& s) {
  const int64_t study = s.create_or_load_study("demo", Direction::kMinimize);
  s.set_study_user_attr(study, "note", R"({"by": "test"})");
  auto propose = [](double x, size_t choice) {
    return [=](const std::vector<Trial>&) { return std::optional<NewTrial>(sample_trial(x, 32, choice)); };
  };
  auto t0 = s.create_trial(study, propose(0.25, 0));
  s.set_intermediate_value(t0->trial_id, 0, 3.5);
  s.set_intermediate_value(t0->trial_id, 1, 2.25);
  s.set_trial_user_attr(t0->trial_id, "epochs", "2");
  s.finish_trial(t0->trial_id, TrialState::kComplete, 1.75);
  auto t1 = s.create_trial(study, propose(-1.5, 4));
  s.set_intermediate_value(t1->trial_id, 0, 9.0);
  s.finish_trial(t1->trial_id, TrialState::kPruned, 9.0);
  auto t2 = s.create_trial(study, propose(4.0, 5));
  s.set_trial_system_attr(t2->trial_id, "fail_reason", R"("diverged")");
  s.finish_trial(t2->trial_id, TrialState::kFail, std::nullopt);
  s.create_trial(study, propose(1.0, 2));
  return study;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Creates `n` trials, each recording in its "seen" parameter how many trials it saw.
void create_counted_trials(Storage& s, int64_t study, int n) {
  for (int k = 0; k < n; ++k) {
    s.create_trial(study, [](const std::vector<Trial>& history) {
      NewTrial t;
      t.distributions["seen"] = IntDistribution{0, 100000, false, 1};
      t.params["seen"] = static_cast<double>(history.size());
      return std::optional<NewTrial>(t);
    });
  }
}

// No two trials were proposed from the same view: trial number k saw exactly k trials.
void expect_serialised(const std::vector<Trial>& trials, size_t expected) {
  ASSERT_EQ(trials.size(), expected);
  std::set<int64_t> numbers;
  for (const Trial& t : trials) {
    numbers.insert(t.number);
    EXPECT_EQ(t.params.at("seen"), static_cast<double>(t.number)) << "trial " << t.number;
  }
  EXPECT_EQ(numbers.size(), expected);
}

}  // namespace

TEST(SweepStorage, FileRoundTripReplaysEveryField) {
  const fs::path path = temp_dir("roundtrip") / "sub" / "study.journal";
  auto writer = open_storage(path.string());
  const int64_t study = write_study(*writer);
  const auto written = writer->trials(study);
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[0].state, TrialState::kComplete);
  EXPECT_EQ(written[0].value, 1.75);
  EXPECT_EQ(written[0].intermediate_values, (std::map<int64_t, double>{{0, 3.5}, {1, 2.25}}));
  EXPECT_EQ(written[0].user_attrs.at("epochs"), "2");
  EXPECT_EQ(written[1].state, TrialState::kPruned);
  EXPECT_EQ(written[1].value, 9.0);
  EXPECT_EQ(written[2].state, TrialState::kFail);
  EXPECT_FALSE(written[2].value.has_value());
  EXPECT_EQ(written[2].system_attrs.at("fail_reason"), "\"diverged\"");
  EXPECT_EQ(written[3].state, TrialState::kRunning);
  EXPECT_TRUE(written[3].datetime_start.has_value());
  EXPECT_FALSE(written[3].datetime_complete.has_value());
  EXPECT_TRUE(written[3].system_attrs.count("trainscope:worker"));
  EXPECT_EQ(written[3].params.at("opt"), 2.0);
  EXPECT_EQ(std::get<int64_t>(std::get<Choice>(to_external(written[3].distributions.at("opt"), 2.0))), 3);

  auto reader = open_storage(path.string());
  EXPECT_EQ(reader->find_study("demo"), study);
  EXPECT_EQ(reader->direction(study), Direction::kMinimize);
  expect_same_trials(reader->trials(study), written);
  // The same name with the other direction is refused, naming both.
  try {
    reader->create_or_load_study("demo", Direction::kMaximize);
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("MINIMIZE"), std::string::npos) << e.what();
  }
  // Records are Optuna's: one JSON object per line with op_code and worker_id.
  for (const auto& line : read_lines(path)) {
    EXPECT_EQ(line.rfind("{\"", 0), 0u) << line;
    EXPECT_NE(line.find("\"op_code\":"), std::string::npos) << line;
    EXPECT_NE(line.find("\"worker_id\":"), std::string::npos) << line;
  }
}

TEST(SweepStorage, ReadsOnlyNewRecordsAndSeesOtherWriters) {
  const fs::path path = temp_dir("incremental") / "study.journal";
  auto a = open_storage(path.string());
  auto b = open_storage(path.string());
  const int64_t study = a->create_or_load_study("s", Direction::kMaximize);
  EXPECT_EQ(b->create_or_load_study("s", Direction::kMaximize), study);
  create_counted_trials(*a, study, 2);
  create_counted_trials(*b, study, 1);
  const auto trial = a->trials(study).back();
  EXPECT_EQ(trial.number, 2);
  b->set_intermediate_value(trial.trial_id, 5, std::nan(""));
  b->set_intermediate_value(trial.trial_id, 6, -INFINITY);
  const auto seen = a->trials(study).back().intermediate_values;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(std::isnan(seen.at(5)));
  EXPECT_EQ(seen.at(6), -INFINITY);
  // Python's tokens for non-finite numbers are in the file.
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"intermediate_value\":NaN"), std::string::npos);
  EXPECT_NE(text.find("\"intermediate_value\":-Infinity"), std::string::npos);
  // A finished trial cannot be updated, and replay ignores updates that reach it anyway.
  a->finish_trial(trial.trial_id, TrialState::kComplete, 1.0);
  EXPECT_THROW(b->finish_trial(trial.trial_id, TrialState::kFail, std::nullopt), StorageError);
  EXPECT_EQ(open_storage(path.string())->trials(study).back().state, TrialState::kComplete);
}

TEST(SweepStorage, TornLastLineIsIgnoredThenCutOnTheNextAppend) {
  const fs::path path = temp_dir("torn") / "study.journal";
  auto writer = open_storage(path.string());
  const int64_t study = write_study(*writer);
  const auto before = writer->trials(study);
  const size_t lines_before = read_lines(path).size();
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"op_code":7,"worker_id":"dead","trial_id":3,"step":9,"interm)";  // killed mid-append
  }
  auto reader = open_storage(path.string());
  expect_same_trials(reader->trials(study), before);
  reader->set_intermediate_value(before[3].trial_id, 1, 0.5);
  const auto lines = read_lines(path);
  EXPECT_EQ(lines.size(), lines_before + 2);  // the value and the worker's heartbeat; no torn text
  for (const auto& line : lines) EXPECT_EQ(line.back(), '}') << line;
  EXPECT_EQ(open_storage(path.string())->trials(study)[3].intermediate_values, (std::map<int64_t, double>{{1, 0.5}}));
}

TEST(SweepStorage, CorruptLineNamesFileAndLine) {
  const fs::path path = temp_dir("corrupt") / "study.journal";
  write_study(*open_storage(path.string()));
  auto lines = read_lines(path);
  lines.insert(lines.begin() + 2, "{\"op_code\": 4, oops");
  std::ofstream(path) << [&] {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }();
  try {
    open_storage(path.string());
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":3"), std::string::npos) << e.what();
  }
}

TEST(SweepStorage, MalformedRecordNamesFileAndLine) {
  const fs::path path = temp_dir("malformed") / "study.journal";
  open_storage(path.string())->create_or_load_study("s", Direction::kMinimize);
  std::ofstream(path, std::ios::app) << R"({"op_code": 5, "worker_id": "w"})"
                                     << "\n";
  try {
    open_storage(path.string());
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":2"), std::string::npos) << e.what();
  }
}

// Optuna's JournalFileSymlinkLock holds the journal while "<journal>.lock" exists: a trial is
// created only after it is released.
TEST(SweepStorage, WaitsForOptunasLockFile) {
  const fs::path path = temp_dir("optuna_lock") / "study.journal";
  auto s = open_storage(path.string());
  const int64_t study = s->create_or_load_study("s", Direction::kMinimize);
  const fs::path lock = path.string() + ".lock";
  fs::create_symlink(path, lock);  // what a Python process holding the lock left there
  std::atomic<bool> done{false};
  std::thread worker([&] {
    create_counted_trials(*s, study, 1);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load()) << "created a trial while Optuna's lock was held";
  fs::remove(lock);  // Python releases it
  worker.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(s->trials(study).size(), 1u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(lock)));
}

// Records as older Optuna versions and Python's SET_TRIAL_PARAM write them: pre-3.0 distribution
// classes, the abbreviated {"type": ...} form, one parameter per record, Python's spacing.
TEST(SweepStorage, ReadsOptunasLegacyDistributionsAndParamRecords) {
  const fs::path path = temp_dir("legacy") / "study.journal";
  std::ofstream(path)
      << R"({"op_code": 0, "worker_id": "p-1", "study_name": "old", "directions": [2]})"
         "\n"
      << R"({"op_code": 4, "worker_id": "p-1", "study_id": 0, "datetime_start": "2024-05-01T10:00:00.5+02:00"})"
         "\n"
      << R"({"op_code": 5, "worker_id": "p-1", "trial_id": 0, "param_name": "a", "param_value_internal": 0.5, )"
      << R"("distribution": "{\"name\": \"UniformDistribution\", \"attributes\": {\"low\": 0.0, \"high\": 1.0}}"})"
         "\n"
      << R"({"op_code": 5, "worker_id": "p-1", "trial_id": 0, "param_name": "b", "param_value_internal": 0.2, )"
      << R"("distribution": "{\"name\": \"DiscreteUniformDistribution\", \"attributes\": {\"low\": 0.0, \"high\": 1.0, \"q\": 0.1}}"})"
         "\n"
      << R"({"op_code": 5, "worker_id": "p-1", "trial_id": 0, "param_name": "c", "param_value_internal": 4.0, )"
      << R"("distribution": "{\"name\": \"IntLogUniformDistribution\", \"attributes\": {\"low\": 1, \"high\": 64, \"step\": 1}}"})"
         "\n"
      << R"({"op_code": 5, "worker_id": "p-1", "trial_id": 0, "param_name": "d", "param_value_internal": 1, )"
      << R"("distribution": "{\"type\": \"categorical\", \"choices\": [\"x\", \"y\"]}"})"
         "\n"
      << R"({"op_code": 6, "worker_id": "p-1", "trial_id": 0, "state": 1, "values": [2.5], )"
      << R"("datetime_complete": "2024-05-01T08:00:01.000000Z"})"
         "\n";
  auto s = open_storage(path.string());
  const int64_t study = *s->find_study("old");
  EXPECT_EQ(s->direction(study), Direction::kMaximize);
  const auto trials = s->trials(study);
  ASSERT_EQ(trials.size(), 1u);
  const Trial& t = trials[0];
  EXPECT_EQ(t.state, TrialState::kComplete);
  EXPECT_EQ(t.value, 2.5);
  EXPECT_EQ(t.distributions.at("a"), Distribution(FloatDistribution{0.0, 1.0, false, std::nullopt}));
  EXPECT_EQ(t.distributions.at("b"), Distribution(FloatDistribution{0.0, 1.0, false, 0.1}));
  EXPECT_EQ(t.distributions.at("c"), Distribution(IntDistribution{1, 64, true, 1}));
  EXPECT_EQ(std::get<std::string>(std::get<Choice>(to_external(t.distributions.at("d"), t.params.at("d")))), "y");
  // 10:00:00.5 at +02:00 is 08:00:00.5 UTC; the run took half a second.
  ASSERT_TRUE(t.datetime_start && t.datetime_complete);
  EXPECT_EQ(*t.datetime_complete - *t.datetime_start, std::chrono::milliseconds(500));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t.datetime_complete->time_since_epoch()).count(),
            1714550401);
}

TEST(SweepStorage, ConcurrentThreadsNeverShareAView) {
  const fs::path path = temp_dir("threads") / "study.journal";
  const int64_t study = open_storage(path.string())->create_or_load_study("s", Direction::kMinimize);
  auto shared = open_storage(path.string());
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      if (k % 2 == 0) {
        create_counted_trials(*shared, study, 8);  // one object shared by threads
      } else {
        create_counted_trials(*open_storage(path.string()), study, 8);  // one object each
      }
    });
  }
  for (auto& t : threads) t.join();
  expect_serialised(open_storage(path.string())->trials(study), 32);
}

TEST(SweepStorage, ConcurrentProcessesNeverShareAView) {
  const fs::path path = temp_dir("processes") / "study.journal";
  const int64_t study = open_storage(path.string())->create_or_load_study("s", Direction::kMinimize);
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int k = 0; k < 4; ++k) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        auto storage = open_storage(path.string());
        ::close(go[1]);
        char c;
        while (::read(go[0], &c, 1) > 0) {
        }  // all start together: the pipe closes when the parent closes its end
        create_counted_trials(*storage, study, 10);
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  expect_serialised(open_storage(path.string())->trials(study), 40);
  EXPECT_FALSE(fs::exists(path.string() + ".lock"));
}

TEST(SweepStorage, FailStaleTrialsFailsOnlyAbandonedOnes) {
  const fs::path path = temp_dir("stale") / "study.journal";
  auto s = open_storage(path.string());
  const int64_t study = s->create_or_load_study("s", Direction::kMinimize);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // a worker that dies while its trial runs
    create_counted_trials(*open_storage(path.string()), study, 1);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  create_counted_trials(*s, study, 1);  // ours, alive
  // Trials written as other workers would write them (number: who).
  auto append_trial = [&](const std::string& start, const nlohmann::json& worker, const std::string& heartbeat = "") {
    nlohmann::json sys = {{"trainscope:worker", worker}};
    if (!heartbeat.empty()) sys["trainscope:heartbeat"] = heartbeat;
    nlohmann::json rec = {{"op_code", 4}, {"worker_id", "w-1"}, {"study_id", study}, {"datetime_start", start},
                          {"state", 0},   {"system_attrs", sys}};
    std::ofstream(path, std::ios::app) << rec.dump() << "\n";
  };
  using namespace std::chrono;
  auto iso = [](system_clock::time_point t) {
    const auto tt = system_clock::to_time_t(t);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000000+00:00", std::gmtime(&tt));
    return std::string(buf);
  };
  const std::string long_ago = "2020-01-01T00:00:00.000000+00:00";
  const std::string recent = iso(system_clock::now() - minutes(1));
  const auto me = nlohmann::json::parse(s->trials(study)[1].system_attrs.at("trainscope:worker"));
  nlohmann::json elsewhere = {
      {"host", "elsewhere.invalid"}, {"boot_id", "b"}, {"pid", 1}, {"start_ticks", 1}, {"lease_s", 3600}};
  append_trial(long_ago, elsewhere);          // 2: other host, lease expired
  append_trial(recent, elsewhere);            // 3: other host, started a minute ago
  append_trial(long_ago, elsewhere, recent);  // 4: other host, heartbeat a minute ago
  nlohmann::json reused = me, rebooted = me;
  reused["start_ticks"] = me["start_ticks"].get<int64_t>() + 1;
  rebooted["boot_id"] = "another-boot";
  append_trial(recent, reused);    // 5: our pid, but another process's start
  append_trial(recent, rebooted);  // 6: this host before a reboot
  append_trial(long_ago, me);      // 7: this very process, alive

  EXPECT_EQ(s->fail_stale_trials(study), (std::vector<int64_t>{0, 2, 5, 6}));
  const auto trials = open_storage(path.string())->trials(study);
  ASSERT_EQ(trials.size(), 8u);
  const std::vector<TrialState> expected{TrialState::kFail,    TrialState::kRunning, TrialState::kFail,
                                         TrialState::kRunning, TrialState::kRunning, TrialState::kFail,
                                         TrialState::kFail,    TrialState::kRunning};
  for (size_t k = 0; k < expected.size(); ++k) EXPECT_EQ(trials[k].state, expected[k]) << "trial " << k;
  EXPECT_NE(trials[0].system_attrs.at("fail_reason").find(std::to_string(child)), std::string::npos);
  EXPECT_NE(trials[5].system_attrs.at("fail_reason").find("another process"), std::string::npos);
  EXPECT_NE(trials[6].system_attrs.at("fail_reason").find("rebooted"), std::string::npos);
  EXPECT_TRUE(trials[0].datetime_complete.has_value());
  EXPECT_TRUE(s->fail_stale_trials(study).empty());
}

TEST(SweepStorage, UnreachableRedisNamesUrlAndFix) {
  const std::string url = "redis://127.0.0.1:" + std::to_string(free_port()) + "/0";
  try {
    open_storage(url);
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("redis-server"), std::string::npos) << e.what();
  }
  EXPECT_THROW(open_storage("mysql://db/x"), StorageError);
}

class RedisServer {
 public:
  RedisServer() {
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
      if (fs::exists(p)) binary_ = p;
    }
    if (binary_.empty()) return;
    dir_ = temp_dir("redis");
    port_ = free_port();
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      std::freopen("/dev/null", "w", stdout);
      ::execl(binary_.c_str(), binary_.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--loglevel", "warning", "--dir", dir_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int k = 0; k < 100; ++k) {  // up to 5 s for it to listen
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      try {
        open_storage(url());
        return;
      } catch (const StorageError&) {
      }
    }
  }
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool available() const { return !binary_.empty(); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/3"; }

 private:
  std::string binary_;
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(SweepStorage, RedisRoundTripAndConcurrentCreation) {
  RedisServer server;
  if (!server.available()) GTEST_SKIP() << "redis-server is not installed (Debian: apt-get install redis-server)";
  auto writer = open_storage(server.url());
  const int64_t study = write_study(*writer);
  const auto written = writer->trials(study);
  ASSERT_EQ(written.size(), 4u);
  expect_same_trials(open_storage(server.url())->trials(study), written);

  const int64_t counted = writer->create_or_load_study("counted", Direction::kMaximize);
  std::vector<std::thread> threads;
  for (int k = 0; k < 3; ++k) {
    threads.emplace_back([&] { create_counted_trials(*open_storage(server.url()), counted, 6); });
  }
  for (auto& t : threads) t.join();
  expect_serialised(open_storage(server.url())->trials(counted), 18);
}
