// In-memory datasets and the batch loader the Trainer draws from: readers for Fashion-MNIST
// (the Debian package dataset-fashion-mnist), any MNIST-format IDX folder, the CIFAR-10 binary
// folder and learnable synthetic data; normalisation; a loader that reshuffles every epoch
// from the seed and slices batches with index_select.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/run_config.h"

namespace trainscope {

// Where `apt install dataset-fashion-mnist` puts the four gzipped IDX files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

// A missing or malformed dataset; what() names the file and, for the packaged datasets, the
// package that provides it.
class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Samples in memory: inputs float32 [N, C, H, W] (or [N, D]), targets int64 [N].
struct TRAINSCOPE_API TensorDataset {
  at::Tensor inputs;
  at::Tensor targets;
  std::vector<std::string> class_names;  // index = label; may be empty

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  // class_names.size() when known, else max(target) + 1.
  int64_t num_classes() const;
  // The shape of one sample ({C, H, W} for images).
  std::vector<int64_t> sample_shape() const;
  // The first `n` samples (a view; n <= 0 or n >= size(): everything).
  TensorDataset head(int64_t n) const;
};

struct Datasets {
  TensorDataset train;
  TensorDataset val;
  std::string description;  // "fashion_mnist (/usr/share/...): 60000 train, 10000 val"
};

TRAINSCOPE_API const std::vector<std::string>& fashion_mnist_classes();
TRAINSCOPE_API const std::vector<std::string>& cifar10_classes();

// One IDX file (gzipped or raw) as a uint8 tensor with the file's dimensions.
TRAINSCOPE_API at::Tensor read_idx(const std::string& path);
// An MNIST-format folder: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Pixels scaled to
// [0, 1], shape [N, 1, H, W].
TRAINSCOPE_API TensorDataset load_mnist_idx(const std::string& dir, bool train,
                                            std::vector<std::string> class_names = {});
// Fashion-MNIST from `dir` (empty: kFashionMnistDir), with its class names.
TRAINSCOPE_API TensorDataset load_fashion_mnist(const std::string& dir, bool train);
// CIFAR-10 binary version: data_batch_1..5.bin (train) or test_batch.bin; [N, 3, 32, 32] in [0, 1].
TRAINSCOPE_API TensorDataset load_cifar10(const std::string& dir, bool train);
// Learnable synthetic images [n, channels, size, size]: each class has its own smooth pattern
// (from `seed` alone), each sample is its class's pattern plus Gaussian noise. `stream` picks
// the draw of samples (0 for training, 1 for validation: same patterns, other samples).
TRAINSCOPE_API TensorDataset make_synthetic(int64_t n, int64_t classes, uint64_t seed, int64_t channels = 1,
                                            int64_t size = 28, double noise = 0.5, uint64_t stream = 0);

// In place: inputs = (inputs - mean[c]) / std[c] (one value broadcasts over every channel).
TRAINSCOPE_API void normalize(TensorDataset& data, const std::vector<double>& mean, const std::vector<double>& std);

// Everything [data] says: reads (or makes) both splits, applies limits and normalisation
// (the dataset's default when the section gives none; synthetic data is not normalised).
TRAINSCOPE_API Datasets load_datasets(const DataSection& section, uint64_t seed);

// ---- Batches ------------------------------------------------------------------------------

struct Batch {
  at::Tensor inputs;  // on the loader's device
  at::Tensor targets;
};

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  c10::Device device{c10::kCPU};
  // CUDA only: gather batches into pinned host memory and copy them with non_blocking.
  bool pin_memory = true;
};

// Serves one epoch's batches in an order fixed by (seed, epoch): the same epoch always gives
// the same batches, so a resumed run sees what an uninterrupted one would have seen.
class TRAINSCOPE_API BatchLoader {
 public:
  BatchLoader(TensorDataset data, LoaderOptions options);

  // Chooses the order for `epoch` (a permutation when shuffling, identity otherwise).
  void set_epoch(int64_t epoch);
  int64_t batches() const;  // per epoch
  // Batch `i` (0-based) of the current epoch, moved to the device.
  Batch batch(int64_t i) const;

  const TensorDataset& data() const { return data_; }
  const LoaderOptions& options() const { return options_; }
  const at::Tensor& order() const { return order_; }

 private:
  TensorDataset data_;
  LoaderOptions options_;
  at::Tensor order_;  // int64 [N] sample indices of the current epoch
  bool pinned_ = false;
};

}  // namespace trainscope
