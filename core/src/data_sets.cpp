// Dataset readers as tensors, synthetic data, normalisation and the [data] section.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <sstream>

#include "data_files.h"
#include "trainscope/data.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;

at::Tensor bytes_to_tensor(std::vector<uint8_t> bytes, const std::vector<int64_t>& shape) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  return at::from_blob(
      owned->data(), shape, [owned](void*) { delete owned; }, at::TensorOptions(at::kByte));
}

// Runs a torch-free reader and reports its failure as a DatasetError.
template <typename F>
auto reading(F&& f) {
  try {
    return f();
  } catch (const DatasetError&) {
    throw;
  } catch (const std::exception& e) {
    throw DatasetError(e.what());
  }
}

std::string join(const std::vector<double>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

}  // namespace

int64_t TensorDataset::num_classes() const {
  if (!class_names.empty()) return static_cast<int64_t>(class_names.size());
  return targets.defined() && targets.numel() > 0 ? targets.max().item<int64_t>() + 1 : 0;
}

std::vector<int64_t> TensorDataset::sample_shape() const {
  if (!inputs.defined()) return {};
  auto s = inputs.sizes().vec();
  s.erase(s.begin());
  return s;
}

TensorDataset TensorDataset::head(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return {inputs.narrow(0, 0, n), targets.narrow(0, 0, n), class_names};
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> names{"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

at::Tensor read_idx(const std::string& path) {
  auto arr = reading([&] { return detail::read_idx_file(path); });
  auto dims = arr.dims;
  return bytes_to_tensor(std::move(arr.data), dims);
}

TensorDataset load_mnist_idx(const std::string& dir, bool train, std::vector<std::string> class_names) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = detail::existing_variant((fs::path(dir) / (prefix + "-images-idx3-ubyte")).string());
  const std::string labels_path = detail::existing_variant((fs::path(dir) / (prefix + "-labels-idx1-ubyte")).string());
  for (const auto& p : {images_path, labels_path}) {
    if (!fs::is_regular_file(p))
      throw DatasetError(p + "[.gz]: no such file (an MNIST-format IDX folder holds " + prefix +
                         "-images-idx3-ubyte and " + prefix + "-labels-idx1-ubyte, optionally gzipped)");
  }
  at::Tensor images = read_idx(images_path);
  at::Tensor labels = read_idx(labels_path);
  if (images.dim() != 3)
    throw DatasetError(images_path + ": expected 3 dimensions [N, H, W], got " + std::to_string(images.dim()));
  if (labels.dim() != 1)
    throw DatasetError(labels_path + ": expected 1 dimension [N], got " + std::to_string(labels.dim()));
  if (images.size(0) != labels.size(0)) {
    throw DatasetError(images_path + " holds " + std::to_string(images.size(0)) + " images but " + labels_path +
                       " holds " + std::to_string(labels.size(0)) + " labels");
  }
  TensorDataset out;
  out.inputs = images.unsqueeze(1).to(at::kFloat).div_(255.0);
  out.targets = labels.to(at::kLong);
  out.class_names = std::move(class_names);
  return out;
}

TensorDataset load_fashion_mnist(const std::string& dir_in, bool train) {
  const std::string dir = dir_in.empty() ? kFashionMnistDir : dir_in;
  const std::string file = std::string(train ? "train" : "t10k") + "-images-idx3-ubyte";
  if (!fs::is_regular_file(detail::existing_variant((fs::path(dir) / file).string()))) {
    throw DatasetError("Fashion-MNIST not found: " + (fs::path(dir) / (file + ".gz")).string() +
                       " does not exist. Install the Debian package with `sudo apt install dataset-fashion-mnist` "
                       "(it provides " +
                       std::string(kFashionMnistDir) +
                       "), or set [data] path to a folder holding "
                       "the four IDX files. Nothing is downloaded.");
  }
  return load_mnist_idx(dir, train, fashion_mnist_classes());
}

TensorDataset load_cifar10(const std::string& dir, bool train) {
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i)
      files.push_back((fs::path(dir) / ("data_batch_" + std::to_string(i) + ".bin")).string());
  } else {
    files.push_back((fs::path(dir) / "test_batch.bin").string());
  }
  for (const auto& f : files) {
    if (!fs::is_regular_file(f))
      throw DatasetError(f +
                         ": no such file (the CIFAR-10 binary version holds data_batch_1..5.bin and test_batch.bin)");
  }
  auto rec = reading([&] { return detail::read_cifar_files(files); });
  const auto n = static_cast<int64_t>(rec.labels.size());
  TensorDataset out;
  out.inputs = bytes_to_tensor(std::move(rec.pixels), {n, 3, 32, 32}).to(at::kFloat).div_(255.0);
  out.targets = bytes_to_tensor(std::move(rec.labels), {n}).to(at::kLong);
  out.class_names = cifar10_classes();
  return out;
}

TensorDataset make_synthetic(int64_t n, int64_t classes, uint64_t seed, int64_t channels, int64_t size, double noise,
                             uint64_t stream) {
  TORCH_CHECK(n > 0 && classes > 1 && channels > 0 && size > 0, "make_synthetic: n (", n, "), classes (", classes,
              "), channels and size must be positive (classes > 1)");
  // The class patterns depend on the seed alone; the samples also on the stream (train/val).
  auto pattern_gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Smooth, class-specific blobs: a coarse random grid upsampled, so a small CNN learns them fast.
  const int64_t coarse = std::max<int64_t>(2, size / 7);
  at::Tensor grid = at::rand({classes, channels, coarse, coarse}, pattern_gen);
  at::Tensor patterns = at::upsample_bilinear2d(grid, {size, size}, /*align_corners=*/false);
  auto sample_gen = at::make_generator<at::CPUGeneratorImpl>(seed * 0x9E3779B97F4A7C15ull + 1 + stream);
  at::Tensor targets = at::randint(classes, {n}, sample_gen, at::kLong);
  at::Tensor inputs = patterns.index_select(0, targets) + at::randn({n, channels, size, size}, sample_gen) * noise;
  TensorDataset out;
  out.inputs = inputs.contiguous();
  out.targets = targets;
  for (int64_t c = 0; c < classes; ++c) out.class_names.push_back("class " + std::to_string(c));
  return out;
}

void normalize(TensorDataset& data, const std::vector<double>& mean, const std::vector<double>& std) {
  TORCH_CHECK(data.inputs.defined() && data.inputs.dim() >= 2, "normalize: inputs must be [N, C, ...]");
  TORCH_CHECK(!mean.empty() && mean.size() == std.size(),
              "normalize: mean and std need the same, non-zero length (got ", mean.size(), " and ", std.size(), ")");
  const int64_t c = data.inputs.size(1);
  TORCH_CHECK(mean.size() == 1 || static_cast<int64_t>(mean.size()) == c, "normalize: ", mean.size(), " values for ", c,
              " channels (give one per channel, or one for all)");
  for (double s : std) TORCH_CHECK(s > 0, "normalize: std must be positive, got ", s);
  std::vector<int64_t> shape(static_cast<size_t>(data.inputs.dim()), 1);
  shape[1] = static_cast<int64_t>(mean.size());
  auto m = at::tensor(mean, at::kDouble).to(data.inputs.scalar_type()).view(shape);
  auto s = at::tensor(std, at::kDouble).to(data.inputs.scalar_type()).view(shape);
  // A fresh tensor: the input may be a view shared with another split (head()).
  data.inputs = (data.inputs - m) / s;
}

Datasets load_datasets(const DataSection& section, uint64_t seed) {
  Datasets out;
  std::vector<double> mean = section.normalize_mean, std = section.normalize_std;
  std::string where;
  if (section.dataset == "fashion_mnist") {
    where = section.path.empty() ? kFashionMnistDir : section.path;
    out.train = load_fashion_mnist(section.path, true);
    out.val = load_fashion_mnist(section.path, false);
    if (mean.empty()) mean = {kFashionMnistMean}, std = {kFashionMnistStd};
  } else if (section.dataset == "mnist_idx") {
    if (section.path.empty())
      throw DatasetError("[data] dataset = \"mnist_idx\" needs [data] path (a folder of IDX files)");
    where = section.path;
    out.train = load_mnist_idx(section.path, true);
    out.val = load_mnist_idx(section.path, false);
  } else if (section.dataset == "cifar10") {
    if (section.path.empty())
      throw DatasetError("[data] dataset = \"cifar10\" needs [data] path (the cifar-10-batches-bin folder)");
    where = section.path;
    out.train = load_cifar10(section.path, true);
    out.val = load_cifar10(section.path, false);
    if (mean.empty()) mean = {0.4914, 0.4822, 0.4465}, std = {0.2470, 0.2435, 0.2616};
  } else if (section.dataset == "synthetic") {
    where = "generated";
    const int64_t n = section.synthetic_samples;
    out.train = make_synthetic(n, section.synthetic_classes, seed, 1, 28, 0.5, 0);
    out.val = make_synthetic(std::max<int64_t>(1, n / 4), section.synthetic_classes, seed, 1, 28, 0.5, 1);
  } else {
    throw DatasetError("[data] dataset = \"" + section.dataset +
                       "\" is not known (fashion_mnist, mnist_idx, cifar10, synthetic)");
  }
  out.train = out.train.head(section.train_limit);
  out.val = out.val.head(section.val_limit);
  if (mean.empty() && section.dataset == "mnist_idx") {
    // An unknown IDX dataset: normalise by the training split's own statistics.
    mean = {out.train.inputs.mean().item<double>()};
    std = {out.train.inputs.std().item<double>()};
  }
  if (!mean.empty()) {
    normalize(out.train, mean, std);
    normalize(out.val, mean, std);
  }
  std::ostringstream os;
  os << section.dataset << " (" << where << "): " << out.train.size() << " train, " << out.val.size() << " val";
  if (!mean.empty()) os << ", normalised with mean " << join(mean) << " std " << join(std);
  out.description = os.str();
  return out;
}

}  // namespace trainscope
