// Datasets and the batch loader: IDX (gzipped and raw) and CIFAR-10 readers on files written
// here, the Fashion-MNIST package, synthetic data, normalisation, deterministic shuffling.
#include "trainscope/data.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"
#include "trainscope/run_config.h"

namespace trainscope {
namespace {

using testing::fresh_dir;

std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  out.append(data.begin(), data.end());
  return out;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

void write_raw(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + i);
  return v;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const DatasetError& e) {
    return e.what();
  }
  return "(no DatasetError)";
}

TEST(Idx, ReadsGzippedAndRawFiles) {
  const std::string dir = fresh_dir();
  const std::string bytes = idx_bytes(0x08, {2, 3, 4}, iota_bytes(24));
  write_gz(dir + "/a.gz", bytes);
  write_raw(dir + "/a.raw", bytes);
  for (const auto* name : {"/a.gz", "/a.raw"}) {
    const at::Tensor t = read_idx(dir + name);
    EXPECT_EQ(t.scalar_type(), at::kByte);
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 4}));
    EXPECT_EQ(t[1][2][3].item<int>(), 23);
    EXPECT_EQ(t[0][1][0].item<int>(), 4);
  }
}

TEST(Idx, RefusesBadFilesWithTheirName) {
  const std::string dir = fresh_dir();
  write_gz(dir + "/magic.gz", std::string("\x01\x02\x08\x01\x00\x00\x00\x01\x05", 9));
  EXPECT_NE(error_of([&] { read_idx(dir + "/magic.gz"); }).find("magic.gz: not an IDX file"), std::string::npos);
  write_gz(dir + "/float.gz", idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  EXPECT_NE(error_of([&] { read_idx(dir + "/float.gz"); }).find("not supported"), std::string::npos);
  std::string truncated = idx_bytes(0x08, {10, 10}, iota_bytes(100));
  truncated.resize(50);
  write_gz(dir + "/short.gz", truncated);
  EXPECT_NE(error_of([&] { read_idx(dir + "/short.gz"); }).find("short.gz: truncated"), std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(dir + "/missing.gz"); }).find("missing.gz: cannot open"), std::string::npos);
}

TEST(Idx, MnistFormatFolder) {
  const std::string dir = fresh_dir();
  std::vector<uint8_t> pixels = iota_bytes(5 * 16);
  pixels[0] = 255;
  write_gz(dir + "/train-images-idx3-ubyte.gz", idx_bytes(0x08, {5, 4, 4}, pixels));
  write_gz(dir + "/train-labels-idx1-ubyte.gz", idx_bytes(0x08, {5}, {3, 1, 4, 1, 5}));
  write_raw(dir + "/t10k-images-idx3-ubyte", idx_bytes(0x08, {2, 4, 4}, iota_bytes(32)));
  write_raw(dir + "/t10k-labels-idx1-ubyte", idx_bytes(0x08, {2}, {9, 2}));
  const TensorDataset train = load_mnist_idx(dir, true, {"a", "b"});
  EXPECT_EQ(train.inputs.sizes(), (std::vector<int64_t>{5, 1, 4, 4}));
  EXPECT_EQ(train.inputs.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(train.inputs[0][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(train.inputs[0][0][0][1].item<float>(), 1.0f / 255.0f);
  EXPECT_TRUE(at::equal(train.targets, at::tensor(std::vector<int64_t>{3, 1, 4, 1, 5})));
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"a", "b"}));
  const TensorDataset test = load_mnist_idx(dir, false);
  EXPECT_EQ(test.size(), 2);
  EXPECT_EQ(test.num_classes(), 10);  // max label + 1 without names

  write_gz(dir + "/train-labels-idx1-ubyte.gz", idx_bytes(0x08, {4}, {1, 2, 3, 4}));
  EXPECT_NE(error_of([&] { load_mnist_idx(dir, true); }).find("holds 5 images but"), std::string::npos);
  EXPECT_NE(error_of([&] { load_mnist_idx(dir + "/none", true); }).find("no such file"), std::string::npos);
}

TEST(FashionMnist, MissingDatasetNamesTheDebianPackage) {
  const std::string msg = error_of([] { load_fashion_mnist("/nonexistent/fashion", true); });
  EXPECT_NE(msg.find("apt install dataset-fashion-mnist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/nonexistent/fashion/train-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

TEST(FashionMnist, PackagedTestSplit) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  TensorDataset test = load_fashion_mnist("", false);
  EXPECT_EQ(test.inputs.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.class_names.size(), 10u);
  EXPECT_EQ(test.class_names[9], "Ankle boot");
  EXPECT_EQ(test.targets.bincount().min().item<int64_t>(), 1000);  // balanced classes
  // The default normalisation constants are the dataset's statistics.
  EXPECT_NEAR(test.inputs.mean().item<double>(), kFashionMnistMean, 0.002);
  EXPECT_NEAR(test.inputs.std().item<double>(), kFashionMnistStd, 0.002);
  normalize(test, {kFashionMnistMean}, {kFashionMnistStd});
  EXPECT_NEAR(test.inputs.mean().item<double>(), 0.0, 0.01);
}

TEST(Cifar10, BinaryFolder) {
  const std::string dir = fresh_dir();
  auto record = [](uint8_t label, uint8_t fill) {
    std::string r(1 + 3072, static_cast<char>(fill));
    r[0] = static_cast<char>(label);
    return r;
  };
  for (int i = 1; i <= 5; ++i) {
    write_raw(dir + "/data_batch_" + std::to_string(i) + ".bin", record(i, 0) + record(9, 255));
  }
  write_raw(dir + "/test_batch.bin", record(7, 51));
  const TensorDataset train = load_cifar10(dir, true);
  EXPECT_EQ(train.inputs.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));
  EXPECT_EQ(train.targets[0].item<int64_t>(), 1);
  EXPECT_EQ(train.targets[9].item<int64_t>(), 9);
  EXPECT_FLOAT_EQ(train.inputs[1].max().item<float>(), 1.0f);
  EXPECT_EQ(train.class_names[0], "airplane");
  const TensorDataset test = load_cifar10(dir, false);
  EXPECT_FLOAT_EQ(test.inputs.mean().item<float>(), 0.2f);
  write_raw(dir + "/test_batch.bin", "short");
  EXPECT_NE(error_of([&] { load_cifar10(dir, false); }).find("not a multiple of 3073"), std::string::npos);
}

TEST(Synthetic, DeterministicAndLearnable) {
  const TensorDataset a = make_synthetic(400, 5, 11), b = make_synthetic(400, 5, 11);
  EXPECT_TRUE(at::equal(a.inputs, b.inputs));
  EXPECT_TRUE(at::equal(a.targets, b.targets));
  EXPECT_EQ(a.inputs.sizes(), (std::vector<int64_t>{400, 1, 28, 28}));
  EXPECT_EQ(a.num_classes(), 5);
  const TensorDataset val = make_synthetic(200, 5, 11, 1, 28, 0.5, /*stream=*/1);
  EXPECT_FALSE(at::equal(val.inputs.narrow(0, 0, 10), a.inputs.narrow(0, 0, 10)));
  // The classes are separable: nearest class mean (from the training draw) on the validation draw.
  std::vector<at::Tensor> means;
  for (int64_t c = 0; c < 5; ++c) means.push_back(a.inputs.index({a.targets == c}).mean(0).flatten());
  const at::Tensor centers = at::stack(means);                     // [5, 784]
  const at::Tensor d = at::cdist(val.inputs.flatten(1), centers);  // [200, 5]
  EXPECT_GT(d.argmin(1).eq(val.targets).to(at::kFloat).mean().item<float>(), 0.95f);
  EXPECT_FALSE(at::equal(make_synthetic(10, 5, 12).inputs, make_synthetic(10, 5, 11).inputs));
}

TEST(Normalize, PerChannelOrOneForAll) {
  TensorDataset d{at::ones({2, 3, 2, 2}), at::zeros({2}, at::kLong), {}};
  normalize(d, {0.5, 1.0, 2.0}, {0.5, 1.0, 4.0});
  EXPECT_FLOAT_EQ(d.inputs[0][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(d.inputs[0][1][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(d.inputs[0][2][0][0].item<float>(), -0.25f);
  TensorDataset e{at::ones({2, 3, 2, 2}), at::zeros({2}, at::kLong), {}};
  normalize(e, {1.0}, {2.0});
  EXPECT_FLOAT_EQ(e.inputs.abs().max().item<float>(), 0.0f);
  EXPECT_THROW(normalize(e, {1.0, 2.0}, {1.0, 1.0}), c10::Error);
  EXPECT_THROW(normalize(e, {1.0}, {0.0}), c10::Error);
}

TensorDataset numbered(int64_t n) { return {at::arange(n, at::kFloat).view({n, 1}), at::arange(n, at::kLong), {}}; }

TEST(BatchLoader, ShufflesDeterministicallyPerEpoch) {
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 5;
  BatchLoader a(numbered(10), o), b(numbered(10), o);
  a.set_epoch(3);
  b.set_epoch(3);
  EXPECT_TRUE(at::equal(a.order(), b.order()));
  const at::Tensor epoch3 = a.order().clone();
  a.set_epoch(4);
  EXPECT_FALSE(at::equal(a.order(), epoch3));
  a.set_epoch(3);
  EXPECT_TRUE(at::equal(a.order(), epoch3));  // an epoch's order depends on (seed, epoch) only
  o.seed = 6;
  BatchLoader c(numbered(10), o);
  c.set_epoch(3);
  EXPECT_FALSE(at::equal(c.order(), epoch3));

  // Batches: index_select of the order, every sample once, a short last batch.
  EXPECT_EQ(a.batches(), 3);
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < a.batches(); ++i) {
    const Batch batch = a.batch(i);
    EXPECT_EQ(batch.inputs.size(0), i < 2 ? 4 : 2);
    EXPECT_TRUE(at::equal(batch.inputs.flatten().to(at::kLong), batch.targets));
    for (int64_t j = 0; j < batch.targets.size(0); ++j) seen.push_back(batch.targets[j].item<int64_t>());
  }
  EXPECT_TRUE(at::equal(at::tensor(seen), epoch3));
  std::sort(seen.begin(), seen.end());
  EXPECT_TRUE(at::equal(at::tensor(seen), at::arange(10, at::kLong)));
}

TEST(BatchLoader, InOrderAndDropLast) {
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.drop_last = true;
  BatchLoader l(numbered(10), o);
  EXPECT_EQ(l.batches(), 2);
  EXPECT_TRUE(at::equal(l.batch(1).targets, at::arange(4, 8, at::kLong)));
  EXPECT_THROW(l.batch(2), c10::Error);
  o.batch_size = 0;
  EXPECT_THROW(BatchLoader(numbered(4), o), c10::Error);
}

TEST(Datasets, FromTheDataSection) {
  DataSection s;
  s.dataset = "synthetic";
  s.synthetic_samples = 64;
  s.synthetic_classes = 3;
  s.train_limit = 40;
  Datasets d = load_datasets(s, 1);
  EXPECT_EQ(d.train.size(), 40);
  EXPECT_EQ(d.val.size(), 16);
  EXPECT_EQ(d.train.num_classes(), 3);
  EXPECT_NE(d.description.find("synthetic"), std::string::npos);
  EXPECT_TRUE(at::equal(load_datasets(s, 1).train.inputs, d.train.inputs));
  s.normalize_mean = {0.5};
  s.normalize_std = {2.0};
  Datasets n = load_datasets(s, 1);
  EXPECT_TRUE(at::allclose(n.train.inputs, (d.train.inputs - 0.5) / 2.0));

  s.dataset = "imagenet";
  EXPECT_NE(error_of([&] { load_datasets(s, 1); }).find("not known"), std::string::npos);
  s.dataset = "mnist_idx";
  EXPECT_NE(error_of([&] { load_datasets(s, 1); }).find("needs [data] path"), std::string::npos);
}

}  // namespace
}  // namespace trainscope
