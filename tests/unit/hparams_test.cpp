// HParams and custom scalars: every refused call names the call and the key and adds nothing
// to the log dir; the records land in the writer's own run by default; an open session is
// ended by close(), the destructor and stack unwinding; the encoders' bytes.
#include "trainscope/wire/dashboards/hparams.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <regex>
#include <set>
#include <stdexcept>

#include "test_util.h"
#include "torch_test_util.h"
#include "trainscope/summary_writer.h"
#include "trainscope/wire/dashboards/custom_scalars.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::read_events;

using testing::expect_value_error;

// Everything under `dir`: relative path -> size in bytes (directories as -1).
std::map<std::string, int64_t> snapshot(const std::string& dir) {
  std::map<std::string, int64_t> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out[fs::relative(e.path(), dir).string()] = e.is_directory() ? -1 : static_cast<int64_t>(e.file_size());
  return out;
}

// tag -> plugin name of every summary value in `dir`'s own event files.
std::multimap<std::string, std::string> tags_in(const std::string& dir) {
  std::multimap<std::string, std::string> out;
  for (const auto& ev : read_events(dir))
    for (const auto& v : ev.values) out.emplace(v.tag, v.plugin_name);
  return out;
}

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  return out;
}

const HParams kHParams = {{"lr", 0.01}, {"batch", 32}, {"optimizer", "adam"}, {"bn", true}};

TEST(HParams, RefusedCallsNameTheCallAndKeyAndWriteNothing) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  ASSERT_TRUE(w.flush());
  const auto before = snapshot(dir);
  const uint64_t enqueued = w.stats().enqueued;

  expect_value_error([&] { w.add_hparams({}, {{"acc", 1}}); }, {"add_hparams", "hparams is empty"});
  expect_value_error([&] { w.hparams_start({}, {"acc"}); }, {"hparams_start", "hparams is empty"});
  expect_value_error([&] { w.add_hparams({{"x", HParamValue{}}}, {}); }, {"add_hparams", "'x'", "unsupported type"});
  expect_value_error([&] { w.add_hparams({{"", 1}}, {}); }, {"add_hparams", "name is empty"});
  expect_value_error([&] { w.add_hparams({{"lr", std::nan("")}}, {}); }, {"add_hparams", "'lr'", "non-finite"});
  expect_value_error([&] { w.add_hparams(kHParams, {{"", 1}}); }, {"add_hparams", "metric name is empty"});

  HParamsOptions o;
  o.domain_discrete["optimizer"] = {"adam", 1.0};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); },
                     {"add_hparams", "'optimizer'", "mixes types", "a number", "a string"});
  o = {};
  o.domain_discrete["optimizer"] = {"sgd", "rmsprop"};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); },
                     {"add_hparams", "'optimizer'", "does not contain its value 'adam'"});
  o = {};
  o.domain_discrete["bn"] = {true, true};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'bn'", "twice"});
  o = {};
  o.domain_discrete["momentum"] = {0.9};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"add_hparams", "'momentum'", "not an hparam"});
  o = {};
  o.domain_discrete["lr"] = {};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'lr'", "domain_discrete is empty"});
  o = {};
  o.domain_discrete["lr"] = {0.01, HParamValue{}};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'lr'", "unsupported type"});
  o = {};
  o.domain_interval["optimizer"] = {0, 1};
  expect_value_error([&] { w.hparams_start(kHParams, {}, o); },
                     {"hparams_start", "'optimizer'", "domain_interval needs a number"});
  o = {};
  o.domain_interval["lr"] = {0.1, 1};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'lr'", "does not contain its value 0.01"});
  o = {};
  o.domain_interval["lr"] = {1, 0};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'lr'", "min <= max"});
  o = {};
  o.domain_interval["lr"] = {0, 1};
  o.domain_discrete["lr"] = {0.01};
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"'lr'", "both"});
  o = {};
  o.run_name = "../elsewhere";
  expect_value_error([&] { w.add_hparams(kHParams, {}, o); }, {"add_hparams", "run_name '../elsewhere'"});
  expect_value_error([&] { w.hparams_start(kHParams, {"acc", "acc"}); }, {"hparams_start", "'acc'", "twice"});
  expect_value_error([&] { w.hparams_start(kHParams, {"acc", ""}); }, {"hparams_start", "metric tag 1 is empty"});
  expect_value_error([&] { w.hparams_end(); }, {"hparams_end", "no hparams session is open"});
  expect_value_error([&] { w.hparams_end(SessionStatus::kRunning); }, {"hparams_end", "kSuccess or kFailure"});

  expect_value_error([&] { w.add_custom_scalars({}); }, {"add_custom_scalars", "no categories"});
  expect_value_error(
      [&] {
        w.add_custom_scalars({{{"", {CustomChart::multiline("c", {"a"})}}}});
      },
      {"add_custom_scalars", "category 0 has an empty title"});
  expect_value_error([&] { w.add_custom_scalars({{{"loss", {}}}}); }, {"'loss'", "has no charts"});
  expect_value_error(
      [&] {
        w.add_custom_scalars(
            {{{"loss", {CustomChart::multiline("c", {"a"})}}, {"loss", {CustomChart::multiline("d", {"b"})}}}});
      },
      {"add_custom_scalars", "category 'loss' appears twice"});
  expect_value_error(
      [&] {
        w.add_custom_scalars({{{"loss", {CustomChart::multiline("c", {"a"}), CustomChart::multiline("c", {"b"})}}}});
      },
      {"'loss'", "chart 'c' appears twice"});
  expect_value_error(
      [&] {
        w.add_custom_scalars({{{"loss", {CustomChart::multiline("c", {})}}}});
      },
      {"'loss'", "'c'", "no tags"});
  expect_value_error(
      [&] {
        w.add_custom_scalars({{{"loss", {CustomChart::multiline("c", {"a", ""})}}}});
      },
      {"'c'", "tag 1 is empty"});
  expect_value_error(
      [&] {
        w.add_custom_scalars({{{"loss", {CustomChart::margin("m", {{"v", "", "u"}})}}}});
      },
      {"'m'", "series 0 needs value, lower and upper"});
  expect_value_error([&] { w.add_custom_scalars({{{"loss", {CustomChart::margin("m", {})}}}}); }, {"'m'", "no series"});
  expect_value_error(
      [&] {
        w.add_custom_scalars_marginchart({"a", "b", "c", "d"});
      },
      {"add_custom_scalars_marginchart", "not a multiple of 3", "got 4"});
  expect_value_error([&] { w.add_custom_scalars_marginchart({}); }, {"add_custom_scalars_marginchart"});
  expect_value_error([&] { w.add_custom_scalars_multilinechart({}); },
                     {"add_custom_scalars_multilinechart", "tags is empty"});
  expect_value_error([&] { w.add_custom_scalars_multilinechart({"a"}, "", "t"); },
                     {"add_custom_scalars_multilinechart", "empty title"});

  ASSERT_TRUE(w.flush());
  EXPECT_EQ(w.stats().enqueued, enqueued);
  EXPECT_EQ(snapshot(dir), before);
}

TEST(HParams, AddHParamsWritesOneSessionIntoTheWritersOwnRun) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  w.add_scalar("loss", 0.5, 1);
  w.add_hparams(kHParams, {{"hparam/accuracy", 0.9}, {"hparam/loss", 0.1}});
  ASSERT_TRUE(w.flush());
  EXPECT_TRUE(subdirs(dir).empty()) << "no extra run by default";
  const auto tags = tags_in(dir);
  for (const char* t : {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}) {
    ASSERT_EQ(tags.count(t), 1u) << t;
    EXPECT_EQ(tags.find(t)->second, "hparams");
  }
  EXPECT_EQ(tags.count("hparam/accuracy"), 1u);
  EXPECT_EQ(tags.count("hparam/loss"), 1u);

  // A second session in the same run would be invisible in TensorBoard: refused, nothing added.
  const auto before = snapshot(dir);
  expect_value_error(
      [&] {
        w.add_hparams(kHParams, {{"hparam/accuracy", 0.8}});
      },
      {"add_hparams", "already holds an hparams session", "pytorch_child_run"});
  expect_value_error([&] { w.hparams_start(kHParams, {"acc"}); }, {"hparams_start", "already holds"});
  ASSERT_TRUE(w.flush());
  EXPECT_EQ(snapshot(dir), before);
}

TEST(HParams, PyTorchChildRunIsNamedByTheTimeAndHoldsTheSession) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  HParamsOptions o;
  o.pytorch_child_run = true;
  w.add_hparams(kHParams, {{"acc", 0.9}}, o);
  w.add_hparams(kHParams, {{"acc", 0.8}}, o);  // one child run per call, as PyTorch
  ASSERT_TRUE(w.flush());
  const auto children = subdirs(dir);
  ASSERT_EQ(children.size(), 2u);
  for (const auto& c : children) {
    EXPECT_TRUE(std::regex_match(c, std::regex(R"(\d+\.\d+)"))) << c;
    EXPECT_EQ(tags_in(dir + "/" + c).count("_hparams_/session_start_info"), 1u);
  }
  EXPECT_EQ(tags_in(dir).count("_hparams_/session_start_info"), 0u);

  o = {};
  o.run_name = "trial";
  w.add_hparams(kHParams, {{"acc", 0.7}}, o);
  const auto before = snapshot(dir);
  expect_value_error([&] { w.add_hparams(kHParams, {{"acc", 0.7}}, o); }, {"add_hparams", "run 'trial'"});
  ASSERT_TRUE(w.flush());
  EXPECT_EQ(snapshot(dir), before);
}

size_t end_records(const std::string& dir) { return tags_in(dir).count("_hparams_/session_end_info"); }

TEST(HParams, OpenSessionIsEndedByEndCloseDestructorAndUnwinding) {
  const std::string a = fresh_dir("a"), b = fresh_dir("b"), c = fresh_dir("c"), d = fresh_dir("d");
  {
    SummaryWriter w(a);
    w.hparams_start(kHParams, {"acc"});
    expect_value_error([&] { w.hparams_start(kHParams, {"acc"}); }, {"hparams_start", "already open"});
    expect_value_error([&] { w.add_hparams(kHParams, {}); }, {"add_hparams", "still open"});
    w.add_scalar("acc", 0.5, 10);
    w.hparams_end(SessionStatus::kFailure);
    expect_value_error([&] { w.hparams_end(); }, {"hparams_end", "no hparams session is open"});
  }
  {
    SummaryWriter w(b);
    w.hparams_start(kHParams, {"acc"});
    w.close();
    w.close();
  }
  { SummaryWriter(c).hparams_start(kHParams, {"acc"}); }
  try {
    SummaryWriter w(d);
    w.hparams_start(kHParams, {"acc"});
    throw std::runtime_error("training failed");
  } catch (const std::runtime_error&) {
  }
  for (const auto& dir : {a, b, c, d}) EXPECT_EQ(end_records(dir), 1u) << dir;
}

TEST(HParams, EncodersProduceTensorBoardBytes) {
  // HParamsPluginData{version 0 (omitted), session_end_info(4){status(1)=2}}.
  EXPECT_EQ(detail::hparams_session_end_content(SessionStatus::kFailure, 0), std::string("\x22\x02\x08\x02", 4));
  // session_start_info(3){hparams(1){key "b", value{bool_value(4) true}}}.
  const std::string start = detail::hparams_session_start_content({{"b", true}}, "", 0);
  EXPECT_EQ(start, std::string("\x1a\x09\x0a\x07\x0a\x01"
                               "b"
                               "\x12\x02\x20\x01",
                               11));
  // Layout{category(2){title(1) "c", chart(2){title "t", multiline(2){tag(1) "x"}}}}.
  const std::string layout = detail::custom_scalars_layout({{{"c", {CustomChart::multiline("t", {"x"})}}}});
  EXPECT_EQ(layout, std::string("\x12\x0d\x0a\x01"
                                "c"
                                "\x12\x08\x0a\x01"
                                "t"
                                "\x12\x03\x0a\x01"
                                "x",
                                15));
}

}  // namespace
}  // namespace trainscope
