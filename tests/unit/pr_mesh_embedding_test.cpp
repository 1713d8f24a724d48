// add_pr_curve / add_pr_curve_raw / add_mesh / add_embedding: bad input is refused on the
// calling thread with an error naming the call, the tag and the problem, and then nothing at
// all is written (no event, no projector file); good input lands where TensorBoard looks.
// Values against PyTorch and TensorBoard: tests/conformance/test_pr_mesh_embedding.py.
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "test_util.h"
#include "torch_test_util.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::read_events;

using testing::expect_value_error;

std::vector<std::string> entries_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `{}` for the metadata is ambiguous between the two overloads: name the empty one.
const std::vector<std::string> kNoLabels;
using Table = std::vector<std::vector<std::string>>;
const Table kNoMetadata;

TEST(RichSummaries, BadInputThrowsNamingCallTagAndProblemAndWritesNothing) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  const auto mat = torch::rand({5, 3});
  // add_embedding
  expect_value_error(
      [&] {
        w.add_embedding(mat, std::vector<std::string>{"a", "b"});
      },
      {"add_embedding", "tag 'default'", "metadata has 2 labels but mat has 5 rows"});
  expect_value_error(
      [&] {
        w.add_embedding(torch::rand({5, 3, 2}), kNoLabels, {}, 0, "emb");
      },
      {"add_embedding", "tag 'emb'", "2-D [N, D]", "[5, 3, 2]"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, kNoLabels, torch::rand({4, 3, 8, 8}), 0, "emb");
      },
      {"tag 'emb'", "label_img has 4 images but mat has 5 rows"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, kNoLabels, torch::rand({5, 3, 8}), 0, "emb");
      },
      {"label_img must be 4-D [N, C, H, W]", "[5, 3, 8]"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, kNoLabels, torch::rand({5, 4, 8, 8}), 0, "emb");
      },
      {"1 or 3 channels", "got 4"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, kNoLabels, torch::randint(0, 9, {5, 3, 8, 8}, torch::kLong), 0, "emb");
      },
      {"label_img must be float in [0, 1] or uint8", "Long"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, Table{{"a", "1"}, {"b", "2"}, {"c"}, {"d", "4"}, {"e", "5"}}, {}, 0, "emb", {"n", "v"});
      },
      {"metadata row 2 has 1 columns but metadata_header has 2"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, Table{{"a"}, {"b"}, {"c", "x"}, {"d"}, {"e"}}, {}, 0, "emb");
      },
      {"metadata row 2 has 2 columns", "single column is expected without metadata_header"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, std::vector<std::string>{"a", "b\nc", "d", "e", "f"});
      },
      {"metadata row 1", "tab or line break"});
  expect_value_error(
      [&] {
        w.add_embedding(mat, kNoMetadata, {}, 0, "emb", {"n", "v"});
      },
      {"metadata_header given without metadata"});
  expect_value_error([&] { w.add_embedding(mat, kNoLabels, {}, 0, ".."); }, {"add_embedding", "'..'"});
  expect_value_error([&] { w.add_embedding(torch::zeros({5, 3}, torch::kBool)); }, {"real numbers", "Bool"});
  expect_value_error([&] { w.add_embedding(mat, kNoLabels, {}, 0, ""); }, {"add_embedding", "tag is empty"});
  // add_pr_curve / add_pr_curve_raw
  const auto labels = torch::randint(0, 2, {10});
  const auto preds = torch::rand({10});
  expect_value_error([&] { w.add_pr_curve("pr", labels, torch::rand({9}), 0); },
                     {"add_pr_curve", "tag 'pr'", "labels has 10 elements", "predictions has 9"});
  expect_value_error([&] { w.add_pr_curve("pr", labels, preds, 0, 1); },
                     {"add_pr_curve", "tag 'pr'", "num_thresholds must be >= 2, got 1"});
  expect_value_error([&] { w.add_pr_curve("pr", labels, preds, 0, 127, torch::rand({3})); },
                     {"weights has 3 elements", "one per prediction (10)"});
  expect_value_error([&] { w.add_pr_curve("pr", labels, at::Tensor(), 0); }, {"predictions is undefined"});
  expect_value_error([&] { w.add_pr_curve("pr", labels, torch::rand({10}, torch::kComplexFloat), 0); },
                     {"predictions must be real"});
  expect_value_error([&] { w.add_pr_curve_raw("raw", preds, preds, preds, preds, preds, torch::rand({9}), 0, 10); },
                     {"add_pr_curve_raw", "tag 'raw'", "recall has 9 elements", "true_positive_counts has 10"});
  // add_mesh
  const auto v = torch::rand({1, 6, 3});
  expect_value_error(
      [&] {
        w.add_mesh("m", torch::rand({6, 3}));
      },
      {"add_mesh", "tag 'm'", "vertices must be [B, N, 3]", "[6, 3]"});
  expect_value_error([&] { w.add_mesh("m", torch::rand({1, 6, 2})); }, {"vertices must be [B, N, 3]", "[1, 6, 2]"});
  expect_value_error(
      [&] {
        w.add_mesh("m", v, torch::randint(0, 255, {1, 5, 3}, torch::kByte));
      },
      {"colors must match vertices", "[1, 5, 3]"});
  expect_value_error(
      [&] {
        w.add_mesh("m", v, {}, torch::randint(0, 6, {2, 4, 3}));
      },
      {"faces have batch size 2 but vertices have 1"});
  expect_value_error(
      [&] {
        w.add_mesh("m", v, {}, torch::randint(0, 6, {1, 4, 2}));
      },
      {"faces must be [B, F, 3] vertex indices"});
  expect_value_error([&] { w.add_mesh("m", at::Tensor()); }, {"add_mesh", "vertices are undefined"});

  ASSERT_TRUE(w.close());
  EXPECT_EQ(w.stats().enqueued, 0u);
  const auto events = read_events(dir);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "file_version");
  const auto files = entries_under(dir);
  ASSERT_EQ(files.size(), 1u);  // the event file alone: no step dir, no projector_config.pbtxt
  EXPECT_NE(files[0].find("tfevents"), std::string::npos);
}

TEST(RichSummaries, PrCurveAndMeshEventsHaveTensorBoardShapes) {
  const std::string dir = fresh_dir();
  {
    SummaryWriter w(dir);
    w.add_pr_curve("pr", torch::tensor({1, 0, 1, 1}), torch::tensor({0.1f, 0.4f, 0.35f, 0.8f}), 1, 500);
    w.add_pr_curve_raw("raw", torch::ones({7}), torch::ones({7}), torch::ones({7}), torch::ones({7}), torch::ones({7}),
                       torch::ones({7}), 2, 7);
    w.add_mesh("m", torch::rand({2, 6, 3}), torch::randint(0, 256, {2, 6, 3}, torch::kByte),
               torch::randint(0, 6, {2, 4, 3}, torch::kInt), R"({"camera": {"fov": 75}})", 3);
    ASSERT_TRUE(w.close());
    EXPECT_EQ(w.stats().written, 3u);  // the mesh is one record
    EXPECT_EQ(w.stats().encode_errors, 0u);
  }
  std::map<std::string, ValueView> values;
  std::vector<size_t> per_event;
  for (const auto& e : read_events(dir)) {
    if (e.kind != "summary") continue;
    per_event.push_back(e.values.size());
    for (const auto& v : e.values) values[v.tag] = v;
  }
  EXPECT_EQ(per_event, (std::vector<size_t>{1, 1, 3}));  // the mesh is one event, as PyTorch writes it
  EXPECT_EQ(values["pr"].plugin_name, "pr_curves");
  EXPECT_EQ(values["pr"].tensor_shape, (std::vector<int64_t>{6, 127}));  // capped like PyTorch
  EXPECT_EQ(values["raw"].tensor_shape, (std::vector<int64_t>{6, 7}));
  for (const char* part : {"m_VERTEX", "m_FACE", "m_COLOR"}) {
    EXPECT_EQ(values[part].plugin_name, "mesh") << part;
    EXPECT_EQ(values[part].tensor_shape[0], 2) << part;
    EXPECT_EQ(values[part].tensor_shape[2], 3) << part;
  }
  EXPECT_EQ(values["m_FACE"].tensor_shape[1], 4);
}

TEST(RichSummaries, EmbeddingFilesAsTensorBoardReadsThem) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  // float64 values that exercise Python's repr: fixed, exponent, negative zero, integral.
  const auto mat = torch::tensor({0.1, 1e-5, 1e16, -0.0, 2.0, 0.0001}, torch::kDouble).reshape({3, 2});
  w.add_embedding(mat, std::vector<std::string>{"a", "b", "c"}, {}, 7, "x/y");
  // One column with a header: no header row (TensorBoard would read it as a label).
  w.add_embedding(mat, Table{{"p"}, {"q"}, {"r"}}, torch::rand({3, 1, 2, 4}), -3, "one", {"name"});
  w.add_embedding(torch::arange(6, torch::kInt).reshape({2, 3}), Table{{"p", "1"}, {"q", "2"}}, {}, 123456, "two",
                  {"name", "n"});
  ASSERT_TRUE(w.flush());  // the files are written on the writer thread; flush() waits for them
  const fs::path d(dir);
  EXPECT_EQ(slurp(d / "00007" / "x%2fy" / "tensors.tsv"), "0.1\t1e-05\n1e+16\t-0.0\n2.0\t0.0001\n");
  EXPECT_EQ(slurp(d / "00007" / "x%2fy" / "metadata.tsv"), "a\nb\nc\n");
  EXPECT_EQ(slurp(d / "-0003" / "one" / "metadata.tsv"), "p\nq\nr\n");
  EXPECT_TRUE(fs::exists(d / "-0003" / "one" / "sprite.png"));
  EXPECT_EQ(slurp(d / "123456" / "two" / "tensors.tsv"), "0\t1\t2\n3\t4\t5\n");
  EXPECT_EQ(slurp(d / "123456" / "two" / "metadata.tsv"), "name\tn\np\t1\nq\t2\n");
  EXPECT_EQ(slurp(d / "projector_config.pbtxt"),
            "embeddings {\n"
            "  tensor_name: \"one:-0003\"\n"
            "  metadata_path: \"-0003/one/metadata.tsv\"\n"
            "  sprite {\n"
            "    image_path: \"-0003/one/sprite.png\"\n"
            "    single_image_dim: 4\n"
            "    single_image_dim: 2\n"
            "  }\n"
            "  tensor_path: \"-0003/one/tensors.tsv\"\n"
            "}\n"
            "embeddings {\n"
            "  tensor_name: \"x/y:00007\"\n"
            "  metadata_path: \"00007/x%2fy/metadata.tsv\"\n"
            "  tensor_path: \"00007/x%2fy/tensors.tsv\"\n"
            "}\n"
            "embeddings {\n"
            "  tensor_name: \"two:123456\"\n"
            "  metadata_path: \"123456/two/metadata.tsv\"\n"
            "  tensor_path: \"123456/two/tensors.tsv\"\n"
            "}\n");
  ASSERT_TRUE(w.close());
  EXPECT_EQ(w.stats().encode_errors, 0u);
}

TEST(RichSummaries, EmbeddingWriteFailureIsCountedAndNotListed) {
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  std::ofstream(fs::path(dir) / "00000") << "a file where the step directory should go";
  w.add_embedding(torch::rand({3, 2}), std::vector<std::string>{"a", "b", "c"});
  w.close();
  EXPECT_EQ(w.stats().encode_errors, 1u);  // reported through the writer's error handler
  EXPECT_FALSE(fs::exists(fs::path(dir) / "projector_config.pbtxt"));
}

// On a GPU the calls only launch work: with a long queue of matrix products in flight, every
// call returns while that work is still running (a host sync inside would wait for it).
TEST(RichSummaries, CudaCallsReturnWithoutWaitingForTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const c10::Device dev(c10::DeviceType::CUDA, 0);
  const auto on = torch::TensorOptions().device(dev);
  const auto labels = torch::randint(0, 2, {100'000}, on);
  const auto preds = torch::rand({100'000}, on);
  const auto weights = torch::rand({100'000}, on);
  const auto verts = torch::rand({1, 1000, 3}, on);
  const auto faces = torch::randint(0, 1000, {1, 500, 3}, on.dtype(torch::kInt));
  const auto colors = torch::randint(0, 256, {1, 1000, 3}, on.dtype(torch::kByte));
  const auto mat = torch::randn({2000, 64}, on);
  const auto img = torch::rand({2000, 3, 8, 8}, on);
  const std::vector<std::string> names(2000, "x");
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  w.add_pr_curve("warmup", labels, preds, 0);  // first use allocates pinned memory etc.
  w.add_embedding(mat, names, img, 0, "warmup");
  ASSERT_TRUE(w.flush());
  torch::cuda::synchronize();

  auto big = torch::rand({4096, 4096}, on);
  c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
  const auto calls = std::vector<std::pair<const char*, std::function<void()>>>{
      {"add_pr_curve", [&] { w.add_pr_curve("pr", labels, preds, 1, 127, weights); }},
      {"add_pr_curve_raw", [&] { w.add_pr_curve_raw("raw", preds, preds, preds, preds, preds, preds, 1); }},
      {"add_mesh", [&] { w.add_mesh("mesh", verts, colors, faces, "", 1); }},
      {"add_embedding", [&] { w.add_embedding(mat, names, img, 1, "emb"); }},
  };
  for (const auto& [name, call] : calls) {
    auto acc = big;
    for (int i = 0; i < 40; ++i) acc = torch::mm(acc, big).div_(4096.0);  // ~5 TFLOP in flight
    c10::Event busy(c10::DeviceType::CUDA);
    busy.record(impl.getStream(dev));
    call();
    EXPECT_FALSE(busy.query()) << name << " waited for the GPU";
    busy.synchronize();
  }
  ASSERT_TRUE(w.close());
  EXPECT_EQ(w.stats().encode_errors, 0u);
  EXPECT_EQ(w.stats().written, 6u);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "00001" / "emb" / "sprite.png"));
}

}  // namespace
}  // namespace trainscope
