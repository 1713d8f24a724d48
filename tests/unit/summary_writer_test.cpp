// SummaryWriter: input validation (errors name the tag and the problem, nothing is queued),
// the device-side histogram reduction against the host binning, layout conversions, and
// what lands on disk.
#include "trainscope/summary_writer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "host_buffer_pool.h"
#include "image_pixels.h"
#include "tensor_payloads.h"
#include "test_util.h"
#include "torch_test_util.h"
#include "trainscope/memory_sink.h"
#include "trainscope/null_sink.h"

namespace trainscope {
namespace {

using testing::fresh_dir;
using testing::read_events;

using testing::expect_value_error;

TEST(SummaryWriter, BadInputsThrowNamingTagAndProblemAndWriteNothing) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  expect_value_error([&] { w.add_image("img", torch::rand({2, 3, 4, 5}), 0); }, {"add_image", "'img'", "add_images"});
  expect_value_error([&] { w.add_image("img", torch::rand({3, 4}), 0, "CHW"); }, {"'img'", "3-D tensor", "[3, 4]"});
  expect_value_error([&] { w.add_image("img", torch::rand({2, 4, 4}), 0); }, {"'img'", "1, 3 or 4 channels", "got 2"});
  expect_value_error([&] { w.add_image("img", torch::rand({0, 4, 4}), 0); }, {"'img'", "empty"});
  expect_value_error([&] { w.add_image("img", torch::rand({3, 4, 4}), 0, "CHX"); }, {"dataformats 'CHX'"});
  expect_value_error([&] { w.add_images("imgs", torch::rand({3, 4, 4}), 0, "CHW"); }, {"add_images", "batch format"});
  expect_value_error([&] { w.add_histogram("h", torch::empty({0}), 0); }, {"add_histogram", "'h'", "empty"});
  expect_value_error([&] { w.add_histogram("h", torch::rand({4}), 0, HistogramBins::uniform(0)); }, {"bin count"});
  expect_value_error(
      [&] {
        w.add_histogram("h", torch::rand({4}), 0, HistogramBins::explicit_edges({1, 1, 2}));
      },
      {"increase strictly"});
  expect_value_error([&] { w.add_scalar("s", torch::rand({2}), 0); }, {"add_scalar", "'s'", "one element"});
  expect_value_error([&] { w.add_scalar("", 1.0, 0); }, {"tag is empty"});
  expect_value_error([&] { w.add_audio("a", torch::rand({2, 100}), 0); }, {"add_audio", "'a'", "mono"});
  expect_value_error([&] { w.add_audio("a", torch::rand({100}), 0, -1); }, {"sample_rate"});
  expect_value_error([&] { w.add_video("v", torch::rand({2, 3, 4, 4}), 0); }, {"add_video", "'v'", "5-D"});
  expect_value_error([&] { w.add_video("v", torch::rand({1, 2, 2, 4, 4}), 0); }, {"channels"});
  expect_value_error([&] { w.add_histogram_raw("r", 0, 1, 2, 1, 1, {1, 2}, {1}, 0); }, {"bucket_counts"});
  expect_value_error([&] { w.add_scalars("m", {{"a/b", 1.0}}, 0); }, {"key 'a/b'"});
  ASSERT_TRUE(w.close());
  EXPECT_EQ(w.stats().enqueued, 0u);
  const auto events = read_events(dir);
  ASSERT_EQ(events.size(), 1u);  // only file_version
  EXPECT_EQ(std::filesystem::directory_iterator(dir)->path().string().find("tfevents") != std::string::npos, true);
}

TEST(SummaryWriter, DeviceReductionMatchesHostBinning) {
  torch::manual_seed(3);
  auto v = torch::cat({torch::randn({5000}) * 3, torch::zeros({7}),
                       torch::tensor({1e-12, -1e-12, 1e25, std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::infinity()}),
                       torch::rand({100}) * 1e-9});
  const auto& edges = tensorflow_edges();
  auto edges_t = torch::tensor(c10::ArrayRef<double>(edges.data(), edges.size()), torch::kDouble);
  auto packed = detail::reduce_histogram(v, edges_t);
  HistogramData dev = detail::unpack_histogram(packed, edges, v.numel(), 0);
  auto vf = v.to(torch::kFloat).contiguous();
  HistogramData host = compute_histogram(vf.data_ptr<float>(), vf.numel(), HistogramBins::tensorflow());
  EXPECT_EQ(dev.bucket_limit, host.bucket_limit);
  EXPECT_EQ(dev.bucket, host.bucket);
  EXPECT_EQ(dev.min, host.min);
  EXPECT_EQ(dev.max, host.max);
  EXPECT_EQ(dev.num, host.num);
  EXPECT_NEAR(dev.sum, host.sum, 1e-9 * std::abs(host.sum) + 1e-12);
  EXPECT_EQ(dev.nonfinite, 2);
  EXPECT_EQ(host.nonfinite, 2);
  // Explicit edges, value on the last edge lands in the last (closed) bin.
  std::vector<double> e = {-1, 0, 0.5, 2};
  auto w = torch::tensor({-1.0, -0.5, 0.0, 0.49, 0.5, 2.0, 3.0});
  auto d2 = detail::unpack_histogram(detail::reduce_histogram(w, torch::tensor(e, torch::kDouble)), e, 7, 0);
  auto wf = w.to(torch::kFloat).contiguous();
  auto h2 = compute_histogram(wf.data_ptr<float>(), 7, HistogramBins::explicit_edges(e));
  EXPECT_EQ(d2.bucket, h2.bucket);
  EXPECT_EQ(d2.bucket_limit, h2.bucket_limit);
}

TEST(SummaryWriter, GridTilesEightPerRowAndExpandsGray) {
  auto batch = torch::arange(10 * 1 * 2 * 3, torch::kFloat).reshape({10, 1, 2, 3});
  auto hwc = detail::to_hwc(batch, "NCHW");
  ASSERT_EQ(hwc.sizes(), (std::vector<int64_t>{4, 24, 3}));  // 2 rows of 8, gray -> RGB
  // Image 9 (index 9) sits at row 1, column 1; its pixel (1, 2) equals the input.
  EXPECT_EQ(hwc[2 + 1][3 * 1 + 2][0].item<float>(), batch[9][0][1][2].item<float>());
  EXPECT_EQ(hwc[2 + 1][3 * 1 + 2][2].item<float>(), batch[9][0][1][2].item<float>());
  // The empty slots of the last row are zero.
  EXPECT_EQ(hwc.slice(0, 2, 4).slice(1, 6, 24).abs().sum().item<float>(), 0.f);
  // NHWC gives the same grid.
  EXPECT_TRUE(torch::equal(detail::to_hwc(batch.permute({0, 2, 3, 1}), "NHWC"), hwc));
}

TEST(SummaryWriter, PixelScalingTruncatesLikePyTorch) {
  auto t = torch::tensor({0.0f, 0.5f, 1.0f, 1.5f, -0.2f, 0.999f, NAN});
  auto u = detail::to_uint8(t);
  std::vector<int> got(u.data_ptr<uint8_t>(), u.data_ptr<uint8_t>() + u.numel());
  EXPECT_EQ(got, (std::vector<int>{0, 127, 255, 255, 0, 254, 0}));
}

// The one-pass pixel path the writer uses for CPU images against the ATen ops it replaces
// (to_hwc, to_uint8): every layout, dtype, channel count, grid shape and odd value.
TEST(SummaryWriter, OnePassImagePixelsEqualTheAtenPath) {
  auto odd = [](torch::Tensor t) {  // NaN, infinities, out-of-range and edge values
    auto f = t.flatten();
    const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 1.0f, 1.5f, -0.2f, 0.999f, 1.0f / 255.0f};
    for (int64_t i = 0; i < std::min<int64_t>(f.numel(), 9); ++i) f[i * 7 % f.numel()] = specials[i];
    // Rows of 16 values and more are converted 16 at a time: specials all along them too.
    for (int64_t i = 63; i < f.numel(); i += 5) f[i] = specials[i % 9];
    return t;
  };
  struct Case {
    std::vector<int64_t> shape;
    const char* fmt;
  };
  // The last eight are wide enough for the vectorised row conversion (and the interleave of
  // channel rows), with a remainder: 1, 3 and 4 channels, CHW and HWC, tiles of 33.
  const std::vector<Case> cases = {{{3, 5, 7}, "CHW"},      {{1, 5, 7}, "CHW"},       {{4, 5, 7}, "CHW"},
                                   {{5, 7, 3}, "HWC"},      {{5, 7, 1}, "hwc"},       {{5, 7}, "HW"},
                                   {{7, 5}, "WH"},          {{7, 5, 4}, "WHC"},       {{10, 1, 2, 3}, "NCHW"},
                                   {{64, 3, 4, 4}, "NCHW"}, {{11, 4, 6, 3}, "NHWC"},  {{9, 2, 3, 3}, "NHWC"},
                                   {{13, 3, 2, 4}, "NCHW"}, {{3, 9, 37}, "CHW"},      {{1, 4, 53}, "CHW"},
                                   {{4, 3, 70}, "CHW"},     {{17, 3, 5, 33}, "NCHW"}, {{9, 1, 2, 40}, "NCHW"},
                                   {{2, 48, 3}, "HWC"},     {{3, 40, 4}, "HWC"},      {{5, 3, 20, 3}, "NHWC"}};
  for (const Case& c : cases) {
    for (auto dtype : {torch::kFloat, torch::kDouble, torch::kByte}) {
      torch::Tensor t = dtype == torch::kByte ? torch::randint(0, 256, c.shape, torch::kByte)
                                              : odd(torch::rand(c.shape, torch::kDouble) * 1.5 - 0.25).to(dtype);
      const std::optional<ImageData> got = detail::image_pixels(t, c.fmt);
      ASSERT_TRUE(got.has_value()) << c.fmt;
      const ImageData want = detail::image_from_hwc_uint8(detail::to_uint8(detail::to_hwc(t, c.fmt)));
      EXPECT_EQ(got->height, want.height) << c.fmt << " " << dtype;
      EXPECT_EQ(got->width, want.width) << c.fmt << " " << dtype;
      EXPECT_EQ(got->channels, want.channels) << c.fmt << " " << dtype;
      EXPECT_EQ(got->pixels, want.pixels) << c.fmt << " " << dtype;
    }
  }
  // Non-contiguous input reads through the strides.
  auto wide = torch::rand({3, 6, 14});
  auto strided = wide.slice(2, 0, 14, 2);
  EXPECT_EQ(detail::image_pixels(strided, "CHW")->pixels,
            detail::image_from_hwc_uint8(detail::to_uint8(detail::to_hwc(strided, "CHW"))).pixels);
  // Other dtypes are left to the ATen path.
  EXPECT_FALSE(detail::image_pixels(torch::rand({3, 2, 2}).to(torch::kHalf), "CHW").has_value());
}

// Tensors of kBinAtCallNumel values or more are binned during add_histogram (no copy): the
// result equals binning a copy, and changing the tensor after the call changes nothing.
TEST(SummaryWriter, BigCpuHistogramsAreBinnedDuringTheCall) {
  auto v = torch::randn({detail::kBinAtCallNumel + 5});
  v[7] = NAN;
  v[detail::kBinAtCallNumel] = INFINITY;
  const torch::Tensor copy = v.clone();
  HistogramData want =
      compute_histogram(copy.data_ptr<float>(), static_cast<size_t>(copy.numel()), HistogramBins::tensorflow(), 40);
  auto deferred = detail::deferred_histogram(v, HistogramBins::tensorflow(), 40);
  EXPECT_LT(deferred->held_bytes(), size_t{1} << 16);  // counts only, no snapshot
  v.fill_(1e6f);                                       // after the call: must not matter
  const SummaryPayload got = deferred->resolve();
  const auto& h = std::get<HistogramData>(got);
  EXPECT_EQ(h.bucket, want.bucket);
  EXPECT_EQ(h.bucket_limit, want.bucket_limit);
  EXPECT_EQ(h.min, want.min);
  EXPECT_EQ(h.max, want.max);
  EXPECT_EQ(h.num, want.num);
  EXPECT_EQ(h.sum, want.sum);
  EXPECT_EQ(h.sum_squares, want.sum_squares);
  EXPECT_EQ(h.nonfinite, 2);

  // All NaN: binned during the call, so refused during the call (as add_histogram refuses a
  // small CPU tensor with no finite value), not later on the writer thread.
  auto nan = torch::full({detail::kBinAtCallNumel}, NAN);
  EXPECT_THROW(detail::deferred_histogram(nan, HistogramBins::tensorflow(), 0), std::invalid_argument);
}

TEST(SummaryWriter, VideoTilesClipsIntoPowerOfTwoGrid) {
  // PyTorch's rule: pad N to a power of two; rows = 2^((bit_length(N) - 1) // 2).
  auto v = torch::rand({3, 5, 3, 4, 6});  // 3 clips -> padded to 4 -> 1 row x 4
  auto tiled = detail::tile_video(v);
  EXPECT_EQ(tiled.sizes(), (std::vector<int64_t>{5, 4, 24, 3}));
  EXPECT_TRUE(torch::equal(tiled.slice(2, 12, 18)[2], v[2][2].permute({1, 2, 0})));
  EXPECT_EQ(tiled.slice(2, 18, 24).abs().sum().item<float>(), 0.f);  // padding clip
  auto v8 = torch::rand({8, 2, 1, 3, 3});                            // 8 clips -> 2 rows x 4
  auto t8 = detail::tile_video(v8);
  EXPECT_EQ(t8.sizes(), (std::vector<int64_t>{2, 6, 12, 1}));
  EXPECT_TRUE(torch::equal(t8.slice(1, 3, 6).slice(2, 3, 6)[1], v8[5][1].permute({1, 2, 0})));
}

TEST(SummaryWriter, WritesEverySummaryKindAndChildRuns) {
  const std::string dir = fresh_dir();
  {
    SummaryWriter w(dir);
    w.add_scalar("s", 1.5, 1);
    w.add_scalar("st", torch::tensor(2.5), 2);
    w.add_scalars("m/x", {{"a", 1.0}, {"b", 2.0}}, 3);
    w.add_histogram("h", torch::randn({100}), 4);
    w.add_image("i", torch::rand({3, 5, 7}), 5);
    w.add_images("is", torch::rand({3, 1, 5, 7}), 6);
    w.add_text("t", "hello", 7);
    w.add_audio("a", torch::rand({100}) - 0.5, 8, 8000);
    w.add_video("v", torch::rand({1, 2, 3, 4, 4}), 9);
    ASSERT_TRUE(w.flush());
    EXPECT_EQ(w.stats().written, 8u);  // add_scalars went to the child runs
  }
  std::map<std::string, std::string> kinds;
  for (const auto& e : read_events(dir))
    for (const auto& v : e.values) kinds[v.tag] = v.kind;
  EXPECT_EQ(kinds, (std::map<std::string, std::string>{{"s", "simple_value"},
                                                       {"st", "simple_value"},
                                                       {"h", "histo"},
                                                       {"i", "image"},
                                                       {"is", "image"},
                                                       {"t/text_summary", "tensor"},
                                                       {"a", "audio"},
                                                       {"v", "image"}}));
  EXPECT_EQ(read_events(dir + "/m_x_a").size(), 2u);
  EXPECT_EQ(read_events(dir + "/m_x_b").size(), 2u);
}

TEST(SummaryWriter, ChosenSinkServesTheRunAndItsChildRunsAndTouchesNoDisk) {
  const std::string dir = fresh_dir() + "/mem";
  MemorySinks kept;
  {
    SummaryWriter w(dir, {.writer = {.sink = kept.factory()}});
    EXPECT_FALSE(w.discards());
    w.add_scalar("s", 1.5, 1);
    w.add_scalars("m/x", {{"a", 1.0}, {"b", 2.0}}, 3);
    w.add_histogram("h", torch::arange(10), 4);
    ASSERT_TRUE(w.close());
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
  ASSERT_EQ(kept.sinks().size(), 3u);  // the run and two child runs
  const auto main_events = kept.find(dir)->events();
  ASSERT_EQ(main_events.size(), 3u);
  EXPECT_EQ(main_events[1].values[0].tag, "s");
  EXPECT_EQ(main_events[1].values[0].simple_value, 1.5);
  EXPECT_EQ(main_events[2].values[0].kind, "histo");
  EXPECT_EQ(main_events[2].values[0].histo_num, 10);
  const auto child = kept.find(dir + "/m_x_b")->events();
  ASSERT_EQ(child.size(), 2u);
  EXPECT_EQ(child[1].values[0].tag, "m/x");
  EXPECT_EQ(child[1].values[0].simple_value, 2.0);
}

TEST(SummaryWriter, NullSinkWritesNothingAnywhereAndSaysSo) {
  const std::string dir = fresh_dir() + "/null";
  {
    SummaryWriter w(dir, {.writer = {.sink = null_sink()}});
    EXPECT_TRUE(w.discards());
    w.add_scalar("s", 1.0, 1);
    w.add_scalars("m", {{"a", 1.0}}, 1);
    w.add_image("i", torch::rand({3, 4, 4}), 1);
    w.add_embedding(torch::rand({5, 3}), std::vector<std::string>{"a", "b", "c", "d", "e"});  // projector files
    w.add_hparams({{"lr", 0.1}}, {{"hp/acc", 0.5}});
    ASSERT_TRUE(w.flush());
    const auto* null = dynamic_cast<const NullSink*>(w.event_writer().sink().get());
    ASSERT_NE(null, nullptr);
    EXPECT_GE(w.stats().written, 3u);                   // s, i and the hparams records (no embedding)
    EXPECT_EQ(null->records(), 1 + w.stats().written);  // and the file_version record
    EXPECT_EQ(null->bytes(), w.stats().bytes_written);
    ASSERT_TRUE(w.close());
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(SummaryWriter, LaterInPlaceChangesDoNotAffectLoggedData) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  auto t = torch::zeros({1000});
  auto img = torch::zeros({3, 2, 2});
  w.add_histogram("h", t, 0);
  w.add_image("i", img, 0);
  t.fill_(5.0);  // snapshots were taken at call time
  img.fill_(1.0);
  w.add_image("ones", img, 1);
  w.close();
  std::map<std::string, ValueView> by_tag;
  for (const auto& e : read_events(dir))
    for (const auto& v : e.values) by_tag[v.tag] = v;
  EXPECT_EQ(by_tag.at("h").histo_max, 0.0);
  EXPECT_EQ(by_tag.at("h").histo_num, 1000.0);
  EXPECT_NE(by_tag.at("i").encoded, by_tag.at("ones").encoded);
  EXPECT_EQ(by_tag.at("i").image_width, 2);
}

TEST(SummaryWriter, NonFiniteHistogramValuesAreLeftOutCountedAndReportedOnce) {
  static std::vector<std::string> reported;
  reported.clear();
  set_error_handler([](const std::string& m) { reported.push_back(m); });
  const std::string dir = fresh_dir();
  {
    SummaryWriter w(dir);
    auto v = torch::tensor({1.0f, NAN, INFINITY, 2.0f});
    w.add_histogram("h", v, 3);
    w.add_histogram("h", v, 4);
    ASSERT_TRUE(w.close());
    EXPECT_EQ(w.stats().nonfinite_values, 4u);
    EXPECT_EQ(w.stats().written, 2u);
  }
  set_error_handler(nullptr);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_NE(reported[0].find("'h' at step 3"), std::string::npos) << reported[0];
  EXPECT_NE(reported[0].find("2 NaN/inf"), std::string::npos) << reported[0];
  for (const auto& e : read_events(dir))
    for (const auto& v : e.values) EXPECT_EQ(v.histo_num, 2.0);
}

TEST(SummaryWriter, CpuSnapshotsReuseHostBuffers) {
  const auto src = torch::rand({1000, 1000});
  const size_t before = detail::pooled_bytes();
  {
    auto snap = detail::HostSnapshot::take(src);
    EXPECT_TRUE(torch::equal(snap.wait(), src));
    EXPECT_NE(snap.wait().data_ptr(), src.data_ptr());  // a copy, not a view
  }
  const size_t cached = detail::pooled_bytes();
  EXPECT_GE(cached, before + src.nbytes());  // the buffer went back to the pool
  {
    auto snap = detail::HostSnapshot::take(src * 2);
    EXPECT_EQ(detail::pooled_bytes(), before);  // and was taken again
    EXPECT_TRUE(torch::equal(snap.wait(), src * 2));
  }
}

}  // namespace
}  // namespace trainscope
