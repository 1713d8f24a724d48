// Input limits of the writer SDK (limits.h; issue 14, items 4 and 6): strings that are not
// UTF-8, tags, histograms, images and records too big for TensorBoard are refused at the call
// naming the tag; an all-NaN histogram is reported at once with its tag.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "torch_test_util.h"
#include "trainscope/event_writer.h"
#include "trainscope/limits.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

using testing::expect_value_error;

// (tag, step) of every summary value written under `dir`.
std::vector<std::pair<std::string, int64_t>> written(const std::string& dir) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& ev : testing::read_events(dir)) {
    for (const auto& v : ev.values) out.emplace_back(v.tag, ev.step);
  }
  return out;
}

// Restores the default limits after a test that changed them.
struct LimitsGuard {
  InputLimits saved = input_limits();
  ~LimitsGuard() { set_input_limits(saved); }
};

// Captures what the writers report (report_error) during its lifetime.
struct Reports {
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::string>& list() {
    static std::vector<std::string> l;
    return l;
  }
  Reports() {
    std::lock_guard lk(mu());
    list().clear();
    set_error_handler([](const std::string& m) {
      std::lock_guard lk(mu());
      list().push_back(m);
    });
  }
  ~Reports() { set_error_handler(nullptr); }
  std::vector<std::string> get() const {
    std::lock_guard lk(mu());
    return list();
  }
};

// ---- UTF-8 ----

TEST(Utf8, ValidAndInvalidSequencesWithTheirOffsets) {
  EXPECT_FALSE(invalid_utf8_offset(""));
  EXPECT_FALSE(invalid_utf8_offset("loss/train"));
  EXPECT_FALSE(invalid_utf8_offset("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));  // é € 😀 U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("abc\xff"), 3u);
  EXPECT_EQ(invalid_utf8_offset("a\xc0\x80"), 1u);                  // overlong NUL
  EXPECT_EQ(invalid_utf8_offset("\xe0\x80\xaf"), 0u);               // overlong '/'
  EXPECT_EQ(invalid_utf8_offset("ok\xed\xa0\x80"), 2u);             // a surrogate
  EXPECT_EQ(invalid_utf8_offset("\xf4\x90\x80\x80"), 0u);           // above U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("0123456789abcdef\xe2\x82"), 16u);  // cut short, after the fast path
  EXPECT_EQ(invalid_utf8_offset("\x80"), 0u);                       // a lone continuation byte
  EXPECT_EQ(printable("a\xff\tb\\"), "a\\xff\\x09b\\x5c");
}

TEST(Utf8, EventWriterRefusesABadTagAndKeepsWriting) {
  const std::string dir = testing::fresh_dir();
  {
    EventWriter w(dir);
    w.add_scalar("loss", 1.f, 0);
    try {
      w.add_scalar(std::string("bad") + '\xff', 2.f, 1);
      FAIL() << "accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(),
                   "EventWriter::add_scalar: tag 'bad\\xff': the tag is not valid UTF-8 (byte 3 is 0xff); TensorBoard "
                   "refuses to load a run with such a string: convert it to UTF-8");
    }
    EXPECT_THROW(w.add("t\xc3", 1, TextData{"x"}), std::invalid_argument);
    EXPECT_THROW(w.add("text", 1, TextData{"x\xc3"}), std::invalid_argument);
    TensorData t;
    t.display_name = "\xfe";
    EXPECT_THROW(w.add("tensor", 1, t), std::invalid_argument);
    w.add_scalar("loss", 3.f, 2);
    ASSERT_TRUE(w.close().ok);
  }
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"loss", 0}, {"loss", 2}}));
}

TEST(Utf8, SummaryWriterRefusesTagsTextAndMetadata) {
  const std::string dir = testing::fresh_dir();
  SummaryWriter w(dir);
  const std::string bad = std::string("x") + '\xff';
  expect_value_error([&] { w.add_scalar(bad, 1.0, 0); },
                     {"add_scalar: tag 'x\\xff': the tag is not valid UTF-8 (byte 1"});
  expect_value_error([&] { w.add_histogram(bad, at::ones({4}), 0); }, {"add_histogram: tag 'x\\xff'"});
  expect_value_error([&] { w.add_text("note", bad, 0); },
                     {"add_text: tag 'note': the text is not valid UTF-8 (byte 1"});
  expect_value_error([&] { w.add_scalars("main", {{bad, 1.0}}, 0); }, {"add_scalars: tag 'main': key 'x\\xff'"});
  expect_value_error(
      [&] {
        w.add_hparams({{bad, 1.0}}, {{"m", 1.0}});
      },
      {"hparam 'x\\xff': the name is not valid UTF-8"});
  expect_value_error(
      [&] {
        w.add_hparams({{"opt", bad}}, {{"m", 1.0}});
      },
      {"hparam 'opt': the value is not valid UTF-8 (byte 1)"});
  expect_value_error([&] { w.add_hparams({{"opt", 1.0}}, {{bad, 1.0}}); }, {"metric tag 'x\\xff' is not valid UTF-8"});
  expect_value_error([&] { w.add_custom_scalars_multilinechart({bad}); }, {"tag regex 'x\\xff' is not valid UTF-8"});
  expect_value_error(
      [&] {
        w.add_embedding(at::ones({2, 3}), std::vector<std::string>{"a", bad});
      },
      {"add_embedding", "is not valid UTF-8 (byte 1)"});
  expect_value_error(
      [&] {
        w.add_embedding(at::ones({2, 3}), std::vector<std::string>{"a", "b"}, {}, 0, bad);
      },
      {"add_embedding: tag 'x\\xff'"});
  w.add_text("note", "caf\xc3\xa9", 0);  // valid
  ASSERT_TRUE(w.close().ok);
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"note/text_summary", 0}}));
}

TEST(Limits, ARawEventMayHaveNoTagOtherPayloadsMust) {
  // add_graph writes its graph_def with no tag; every summary needs one.
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  EXPECT_NO_THROW(w.add("", 0, RawEventData{RawEventData::Field::kGraphDef, std::string()}));
  EXPECT_THROW(w.add("", 0, TextData{"x"}), std::invalid_argument);
  EXPECT_THROW(w.add_scalar("", 1.f, 0), std::invalid_argument);
  ASSERT_TRUE(w.close().ok);
  size_t graphs = 0;
  for (const auto& ev : testing::read_events(dir)) graphs += ev.kind == "graph_def";
  EXPECT_EQ(graphs, 1u);
}

TEST(Utf8, BinaryStringElementsAreNotText) {
  // custom_scalars keeps its serialized layout (bytes, not UTF-8 once it is over 127 bytes
  // long) in a DT_STRING tensor: only strings that are text are checked.
  const std::string dir = testing::fresh_dir();
  SummaryWriter w(dir);
  std::vector<std::string> tags;
  for (int i = 0; i < 20; ++i) tags.push_back("loss/series_" + std::to_string(i));
  w.add_custom_scalars_multilinechart(tags, "losses", "all of them");
  ASSERT_TRUE(w.close().ok);
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"custom_scalars__config__", 0}}));
}

// ---- Sizes ----

TEST(Limits, TagLength) {
  SummaryWriter w(testing::fresh_dir());
  const size_t max = input_limits().max_tag_bytes;
  EXPECT_EQ(max, 1024u);
  EXPECT_NO_THROW(w.add_scalar(std::string(max, 't'), 1.0, 0));
  expect_value_error([&] { w.add_scalar(std::string(max + 1, 't'), 1.0, 0); },
                     {"the tag is 1025 bytes, more than max_tag_bytes = 1024"});
  // The 10 MB tag of the issue; and the message does not carry the whole tag.
  try {
    w.add_scalar(std::string(10 << 20, 't'), 1.0, 0);
    FAIL() << "accepted";
  } catch (const c10::ValueError& e) {
    EXPECT_LT(std::string(e.what_without_backtrace()).size(), 400u);
  }
  LimitsGuard guard;
  InputLimits more = input_limits();
  more.max_tag_bytes = 4096;
  set_input_limits(more);
  EXPECT_NO_THROW(w.add_scalar(std::string(4096, 't'), 1.0, 0));
  more.max_tag_bytes = 0;
  EXPECT_THROW(set_input_limits(more), std::invalid_argument);
}

TEST(Limits, HistogramBins) {
  const std::string dir = testing::fresh_dir();
  SummaryWriter w(dir);
  EXPECT_EQ(input_limits().max_histogram_bins, 1 << 16);
  // uniform(1 << 26) used to write a 1 GB record (3.4 GB of memory); refused before any work.
  expect_value_error([&] { w.add_histogram("h", at::randn({100}), 0, HistogramBins::uniform(1 << 26)); },
                     {"add_histogram: tag 'h': 67108864 histogram bins, more than max_histogram_bins = 65536"});
  std::vector<double> edges(70000);
  for (size_t i = 0; i < edges.size(); ++i) edges[i] = static_cast<double>(i);
  expect_value_error([&] { w.add_histogram("h", at::randn({100}), 0, HistogramBins::explicit_edges(edges)); },
                     {"69999 histogram bins"});
  expect_value_error([&] { w.add_histogram_raw("h", 0, 1, 1, 1, 1, edges, std::vector<double>(edges.size(), 0), 0); },
                     {"add_histogram_raw: tag 'h': 70000 histogram bins"});
  w.add_histogram("h", at::randn({100}), 0, HistogramBins::uniform(1 << 16));  // at the limit: written
  ASSERT_TRUE(w.close().ok);
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"h", 0}}));
}

TEST(Limits, ImagePixels) {
  SummaryWriter w(testing::fresh_dir());
  EXPECT_EQ(input_limits().max_image_pixels, 1 << 24);
  // The 3x8192x8192 image (a 201 MB record), without allocating it: an expanded view.
  const at::Tensor huge = at::zeros({1, 1, 1}, at::kByte).expand({3, 8192, 8192});
  expect_value_error([&] { w.add_image("img", huge, 0); },
                     {"add_image: tag 'img': image of 8192x8192 pixels, more than max_image_pixels = 16777216"});
  LimitsGuard guard;
  InputLimits small = input_limits();
  small.max_image_pixels = 100;
  set_input_limits(small);
  EXPECT_NO_THROW(w.add_image("img", at::zeros({1, 10, 10}), 0));
  expect_value_error([&] { w.add_image("img", at::zeros({1, 10, 11}), 0); }, {"image of 10x11 pixels"});
  expect_value_error([&] { w.add_image("img", at::zeros({11, 10, 1}), 0, "HWC"); }, {"image of 11x10 pixels"});
  // add_images: the grid holds N images.
  expect_value_error([&] { w.add_images("imgs", at::zeros({2, 1, 10, 10}), 0); }, {"image of 20x10 pixels"});
  expect_value_error([&] { w.add_video("vid", at::zeros({2, 2, 1, 10, 10}), 0); }, {"add_video: tag 'vid'"});
  ASSERT_TRUE(w.close().ok);
}

TEST(Limits, RecordBytesAtTheCall) {
  EXPECT_EQ(input_limits().max_record_bytes, size_t{64} << 20);
  LimitsGuard guard;
  InputLimits small = input_limits();
  small.max_record_bytes = 1000;
  set_input_limits(small);
  const std::string dir = testing::fresh_dir();
  SummaryWriter w(dir);
  expect_value_error([&] { w.add_text("note", std::string(2000, 'a'), 0); },
                     {"add_text: tag 'note': record of 2000 bytes, more than max_record_bytes = 1000"});
  expect_value_error([&] { w.add_image("img", at::zeros({3, 20, 20}), 0); }, {"add_image: tag 'img': record of"});
  w.add_text("note", std::string(100, 'a'), 1);
  ASSERT_TRUE(w.close().ok);
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"note/text_summary", 1}}));
}

// A payload that looks small while queued and is big once resolved on the writer thread.
class GrowingPayload final : public DeferredPayload {
 public:
  SummaryPayload resolve() override { return TextData{std::string(5000, 'x')}; }
  size_t held_bytes() const override { return 10; }
};

TEST(Limits, RecordBytesAfterEncodingAreDroppedAndReportedWithTheTag) {
  LimitsGuard guard;
  InputLimits small = input_limits();
  small.max_record_bytes = 1000;
  set_input_limits(small);
  Reports reports;
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  w.add_deferred("big", 3, std::make_unique<GrowingPayload>());
  w.add_scalar("loss", 1.f, 4);
  const WriteStatus st = w.flush();
  EXPECT_FALSE(st.ok);
  const auto got = reports.get();
  ASSERT_EQ(got.size(), 1u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("cannot encode 'big' at step 3: the encoded record is "), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("more than max_record_bytes = 1000"), std::string::npos) << got[0];
  EXPECT_EQ(w.stats().encode_errors, 1u);
  w.close();
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"loss", 4}}));
}

// ---- All-NaN histograms ----

TEST(NonFiniteHistograms, ACpuTensorWithoutAFiniteValueIsRefusedAtTheCall) {
  const std::string dir = testing::fresh_dir();
  SummaryWriter w(dir);
  expect_value_error([&] { w.add_histogram("w/nan", at::full({10}, NAN), 7); },
                     {"add_histogram: tag 'w/nan' at step 7: all 10 values are NaN or inf"});
  expect_value_error([&] { w.add_histogram("w/inf", at::full({4}, INFINITY), 8, HistogramBins::uniform(3)); },
                     {"tag 'w/inf' at step 8: all 4 values are NaN or inf"});
  // A big CPU tensor is binned during the call: refused there too, with its tag.
  expect_value_error([&] { w.add_histogram("w/big", at::full({int64_t{1} << 24}, NAN), 5); },
                     {"add_histogram: tag 'w/big' at step 5: all 16777216 values are NaN or inf"});
  at::Tensor some = at::full({10}, NAN);
  some[3] = 1.0;
  w.add_histogram("w/some", some, 9);  // one finite value: written, the rest counted
  ASSERT_TRUE(w.close().ok);
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"w/some", 9}}));
}

TEST(NonFiniteHistograms, ResolvedOnTheWriterThreadTheyAreReportedAtTheNextFlushPerTag) {
  // A device tensor is read on the writer thread; it hands the writer a histogram with no
  // finite value. The report comes with the batch (not at close()), once per tag.
  Reports reports;
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  HistogramData none;
  none.nonfinite = 12;
  w.add("a", 1, none);
  w.add("a", 2, none);
  w.add("b", 2, none);
  w.add_scalar("loss", 1.f, 2);
  w.flush();
  const auto got = reports.get();
  ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
  EXPECT_EQ(got[0].rfind("histogram 'a' at step 1: all 12 values are NaN or inf; nothing written for this step", 0), 0u)
      << got[0];
  EXPECT_EQ(got[1].rfind("histogram 'b' at step 2: all 12 values are NaN or inf", 0), 0u) << got[1];
  EXPECT_EQ(w.stats().nonfinite_values, 36u);
  EXPECT_EQ(w.stats().encode_errors, 3u);
  w.close();
  EXPECT_EQ(written(dir), (std::vector<std::pair<std::string, int64_t>>{{"loss", 2}}));
}

}  // namespace
}  // namespace trainscope
