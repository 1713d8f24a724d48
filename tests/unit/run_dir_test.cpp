// Run folder templates and claiming a used run folder (trainscope/run_dir.h, docs/runs.md);
// the run-status file (trainscope/run_status.h).
#include "trainscope/run_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"
#include "trainscope/run_config.h"
#include "trainscope/run_status.h"

namespace {

namespace fs = std::filesystem;
using trainscope::RunConfig;

std::string host() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  std::string h = buf;
  for (char& c : h) c = c == '/' || c == ' ' ? '_' : c;
  return h;
}

RunConfig config_with(const std::string& name, const std::string& log_dir, const std::string& text = "") {
  RunConfig c;
  c.file = "job.toml";
  c.text = text;
  c.run.name = name;
  c.run.log_dir = log_dir;
  c.hparams["lr"] = 0.001;
  c.hparams["opt"] = std::string("adam/w");
  c.hparams["deep"] = true;
  c.hparams["width"] = int64_t{64};
  return c;
}

TEST(RunDir, PlaceholdersExpandAndValuesBecomeOnePathComponent) {
  RunConfig c =
      config_with("w{hparams.width}-{hparams.opt}-{hparams.lr}-{hparams.deep}_{host}", "runs/{name}/{timestamp}");
  trainscope::expand_run_dir_templates(c);
  EXPECT_EQ(c.run.name, "w64-adam_w-0.001-true_" + host());
  EXPECT_EQ(c.run.log_dir, "runs/" + c.run.name + "/" + trainscope::run_timestamp());
  // One timestamp per process, in a form that sorts by time.
  EXPECT_EQ(trainscope::run_timestamp().size(), std::string("2026-12-06_21-04-05").size());
  EXPECT_EQ(trainscope::format_run_timestamp(0).size(), trainscope::run_timestamp().size());
  RunConfig again = c;
  trainscope::expand_run_dir_templates(again);  // nothing left to expand
  EXPECT_EQ(again.run.name, c.run.name);
  EXPECT_EQ(again.run.log_dir, c.run.log_dir);
}

TEST(RunDir, BadTemplatesAreRefusedAtTheBraceWithTheFix) {
  const std::string text = "[run]\nname = \"a-{hparams.lrr}\"\nlog_dir = \"runs/}{name\"\n";
  RunConfig c = config_with("a-{hparams.lrr}", "runs/}{name", text);
  c.locations["run.name"] = "job.toml:2:8";
  c.locations["run.log_dir"] = "job.toml:3:11";
  const auto problems = trainscope::check_run_dir_templates(c);
  ASSERT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);
  EXPECT_EQ(problems[0].rfind("job.toml:2:11: run.name: unknown placeholder {hparams.lrr}: [hparams] has no key 'lrr'; "
                              "did you mean {hparams.lr}?",
                              0),
            0u)
      << problems[0];
  EXPECT_EQ(problems[1].rfind("job.toml:3:17: run.log_dir: a '}' without its '{'", 0), 0u) << problems[1];
  EXPECT_EQ(problems[2].rfind("job.toml:3:18: run.log_dir: a '{' that is never closed", 0), 0u) << problems[2];
  EXPECT_THROW(trainscope::expand_run_dir_templates(c), std::invalid_argument);
  // {name} names the run: it cannot be part of its own name.
  RunConfig self = config_with("x{name}", "runs");
  const auto p2 = trainscope::check_run_dir_templates(self);
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_NE(p2[0].find("run.name cannot name itself"), std::string::npos) << p2[0];
}

void touch(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << bytes;
}

TEST(RunDir, AUsedFolderIsRefusedOrMovedAsideWholeNeverDeleted) {
  const fs::path root = trainscope::testing::fresh_dir();
  const fs::path run = root / "run";
  EXPECT_TRUE(trainscope::claim_run_dir(run.string(), {}).messages.empty());  // no folder yet
  touch(run / "checkpoints" / "epoch_0001.pt", "ckpt");
  EXPECT_TRUE(trainscope::claim_run_dir(run.string(), {}).messages.empty());  // no events
  touch(run / "child" / "events.out.tfevents.1.h.1.0", "events");             // a child run's
  try {
    trainscope::claim_run_dir(run.string(), {});
    FAIL() << "a used folder was accepted";
  } catch (const trainscope::RunDirTaken& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'" + run.string() +
                     "' already holds the events of another run (1 event file, e.g. "
                     "child/events.out.tfevents.1.h.1.0"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("resume = \"auto\""), std::string::npos) << m;
    EXPECT_NE(m.find("--set run.name=<other>"), std::string::npos) << m;
    EXPECT_NE(m.find("--overwrite"), std::string::npos) << m;
  }
  EXPECT_TRUE(trainscope::claim_run_dir(run.string(), {true, false, false}).messages.empty());  // resuming
  EXPECT_TRUE(fs::exists(run / "child" / "events.out.tfevents.1.h.1.0"));

  const auto claim = trainscope::claim_run_dir(run.string(), {false, true, false});
  ASSERT_FALSE(claim.moved_to.empty());
  EXPECT_EQ(fs::path(claim.moved_to).parent_path(), root);
  EXPECT_EQ(fs::path(claim.moved_to).filename().string().rfind("run.old-", 0), 0u) << claim.moved_to;
  EXPECT_FALSE(fs::exists(run));
  EXPECT_TRUE(fs::exists(fs::path(claim.moved_to) / "child" / "events.out.tfevents.1.h.1.0"));
  EXPECT_TRUE(fs::exists(fs::path(claim.moved_to) / "checkpoints" / "epoch_0001.pt"));
  // A second overwrite of the same moment gets its own name.
  touch(run / "events.out.tfevents.2.h.1.0", "events");
  fs::last_write_time(run / "events.out.tfevents.2.h.1.0",
                      fs::last_write_time(fs::path(claim.moved_to) / "child" / "events.out.tfevents.1.h.1.0"));
  const auto second = trainscope::claim_run_dir(run.string(), {false, true, false});
  EXPECT_EQ(second.moved_to, claim.moved_to + "-2");
}

TEST(RunDir, ResumeAutoWithoutACheckpointRestartsOnlyAnUnfinishedAttempt) {
  const fs::path run = fs::path(trainscope::testing::fresh_dir()) / "run";
  touch(run / "events.out.tfevents.1.h.1.0", "events");
  trainscope::RunStatus s;
  s.state = "finished";
  ASSERT_TRUE(trainscope::write_run_status(run.string(), s));
  const trainscope::RunDirPolicy policy{false, false, true};
  EXPECT_THROW(trainscope::claim_run_dir(run.string(), policy), trainscope::RunDirTaken);  // finished: refused
  s.state = "running";  // a killed attempt (the caller holds the lock)
  ASSERT_TRUE(trainscope::write_run_status(run.string(), s));
  const auto claim = trainscope::claim_run_dir(run.string(), policy);
  ASSERT_EQ(claim.messages.size(), 1u);
  EXPECT_NE(claim.messages[0].find("earlier attempt of this run"), std::string::npos) << claim.messages[0];
  EXPECT_FALSE(fs::exists(run / "events.out.tfevents.1.h.1.0"));
  EXPECT_TRUE(fs::exists(run / ".trainscope-run"));
}

TEST(RunStatus, WrittenAndReadBackAndAFitLeftByAnExceptionIsFailed) {
  const std::string dir = trainscope::testing::fresh_dir();
  {
    trainscope::RunStatusFile f(dir, "exp", {{"lr", 0.01}, {"opt", std::string("sgd")}});
    const auto s = trainscope::read_run_status(dir);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->state, "running");
    EXPECT_EQ(s->pid, static_cast<long long>(getpid()));
    EXPECT_EQ(s->hparams.at("lr"), "0.01");
    EXPECT_EQ(s->hparams.at("opt"), "sgd");
    f.finish("stopped", 12, 3, {{"val/accuracy", 0.75}}, "max_steps\nreached");
  }
  auto s = trainscope::read_run_status(dir);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->state, "stopped");
  EXPECT_EQ(s->steps, 12);
  EXPECT_EQ(s->epochs, 3);
  EXPECT_EQ(s->metrics.at("val/accuracy"), 0.75);
  EXPECT_EQ(s->message, "max_steps reached");
  EXPECT_GE(s->end_time, s->start_time);
  { trainscope::RunStatusFile f(dir, "exp", {}); }  // never finished
  s = trainscope::read_run_status(dir);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->state, "failed");
}

}  // namespace
