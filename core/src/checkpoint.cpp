// Checkpoint files (see checkpoint.h).
#include "trainscope/checkpoint.h"

#include <ATen/Context.h>
#include <ATen/core/List.h>
#include <fcntl.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <regex>
#include <stdexcept>

namespace trainscope {
namespace fs = std::filesystem;
namespace {

std::string os_error(int err) { return std::strerror(err); }

// fsync of a directory, so that a rename in it survives a power loss.
void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

// Streams the archive into <path>.tmp, fsyncs it and renames it over <path>. libtorch's own
// file writer throws from a write error and again from its destructor (std::terminate: the
// "unexpected pos" abort on a full disk), so the bytes go through a function that never
// fails: it keeps the first error and discards the rest, and the error is raised here, after
// the archive is done, with the temporary file removed.
void write_durably(const std::string& path,
                   const std::function<void(const std::function<size_t(const void*, size_t)>&)>& produce) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot write checkpoint " + path + ": cannot create " + tmp + ": " + os_error(errno));
  int error = 0;
  auto sink = [&](const void* data, size_t n) -> size_t {
    const char* p = static_cast<const char*>(data);
    size_t off = 0;
    while (error == 0 && off < n) {
      const ssize_t w = ::write(fd, p + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        error = errno;
      } else {
        off += static_cast<size_t>(w);
      }
    }
    return n;  // always "written": the archive must finish normally (see above)
  };
  std::string failure;
  try {
    produce(sink);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (failure.empty() && error != 0) failure = os_error(error);
  if (failure.empty() && ::fsync(fd) != 0) failure = "fsync: " + os_error(errno);
  if (::close(fd) != 0 && failure.empty()) failure = "close: " + os_error(errno);
  if (failure.empty() && std::rename(tmp.c_str(), path.c_str()) != 0) failure = "rename: " + os_error(errno);
  if (!failure.empty()) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write checkpoint " + path + ": " + failure);
  }
  sync_dir(fs::path(path).parent_path());
}

namespace {

// Named parts: names need not be valid archive keys, so a list of names and one sub-archive
// per position ("part_model_0", "part_optimizer_0", ...).
void write_parts(torch::serialize::OutputArchive& archive, const CheckpointParts& parts) {
  c10::List<std::string> model_names, optimizer_names;
  int64_t i = 0;
  for (const auto& [name, module] : parts.models) {
    torch::serialize::OutputArchive sub;
    module->save(sub);
    archive.write("part_model_" + std::to_string(i++), sub);
    model_names.push_back(name);
  }
  i = 0;
  for (const auto& [name, optimizer] : parts.optimizers) {
    torch::serialize::OutputArchive sub;
    optimizer->save(sub);
    archive.write("part_optimizer_" + std::to_string(i++), sub);
    optimizer_names.push_back(name);
  }
  archive.write("part_model_names", c10::IValue(model_names));
  archive.write("part_optimizer_names", c10::IValue(optimizer_names));
}

template <typename T>
void read_part(torch::serialize::InputArchive& archive, const char* kind, const std::string& name, T& target) {
  c10::IValue names;
  const std::string list = std::string("part_") + kind + "_names";
  int64_t index = -1;
  if (archive.try_read(list, names)) {
    auto l = names.toList();
    for (size_t i = 0; i < l.size(); ++i) {
      if (l.get(i).toStringRef() == name) index = static_cast<int64_t>(i);
    }
  }
  if (index < 0) {
    throw std::runtime_error(std::string("it holds no ") + kind + " named '" + name +
                             "' (was it written by a trainer with the same set_models / set_optimizers?)");
  }
  torch::serialize::InputArchive sub;
  archive.read(std::string("part_") + kind + "_" + std::to_string(index), sub);
  target.load(sub);
}

void read_parts(torch::serialize::InputArchive& archive, const CheckpointParts& parts) {
  for (const auto& [name, module] : parts.models) read_part(archive, "model", name, *module);
  for (const auto& [name, optimizer] : parts.optimizers) read_part(archive, "optimizer", name, *optimizer);
}

}  // namespace

void capture_rng(TrainingState& state) {
  {
    auto gen = at::globalContext().defaultGenerator(c10::DeviceType::CPU);
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.cpu_rng = gen.get_state();
  }
  state.cuda_rng.clear();
  if (torch::cuda::is_available()) {
    for (c10::DeviceIndex i = 0; i < static_cast<c10::DeviceIndex>(torch::cuda::device_count()); ++i) {
      auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, i));
      std::lock_guard<std::mutex> lock(gen.mutex());
      state.cuda_rng.push_back(gen.get_state());
    }
  }
}

void restore_rng(const TrainingState& state) {
  if (state.cpu_rng.defined()) {
    auto gen = at::globalContext().defaultGenerator(c10::DeviceType::CPU);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.cpu_rng.cpu());
  }
  if (!state.cuda_rng.empty() && torch::cuda::is_available()) {
    const auto n = std::min<size_t>(state.cuda_rng.size(), torch::cuda::device_count());
    for (size_t i = 0; i < n; ++i) {
      auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state.cuda_rng[i].cpu());
    }
  }
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainingState& state) {
  save_checkpoint(path, model, optimizer, state, CheckpointParts{});
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainingState& state, const CheckpointParts& parts) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kCheckpointFormat));
  archive.write("step", c10::IValue(state.step));
  archive.write("epoch", c10::IValue(state.epoch));
  archive.write("base_lrs", c10::IValue(c10::List<double>(state.base_lrs)));
  if (!state.scheduler_state.empty()) archive.write("scheduler_state", c10::IValue(state.scheduler_state));

  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  if (state.grad_scale.defined()) {
    archive.write("grad_scale", state.grad_scale, /*is_buffer=*/true);
    archive.write("growth_tracker", state.growth_tracker, /*is_buffer=*/true);
  }
  if (state.cpu_rng.defined()) archive.write("rng_cpu", state.cpu_rng, /*is_buffer=*/true);
  archive.write("rng_cuda_count", c10::IValue(static_cast<int64_t>(state.cuda_rng.size())));
  for (size_t i = 0; i < state.cuda_rng.size(); ++i) {
    archive.write("rng_cuda_" + std::to_string(i), state.cuda_rng[i], /*is_buffer=*/true);
  }
  write_parts(archive, parts);
  // Plugin names need not be valid archive keys: store two parallel lists.
  c10::List<std::string> names, states;
  for (const auto& [name, blob] : state.plugin_states) {
    names.push_back(name);
    states.push_back(blob);
  }
  archive.write("plugin_names", c10::IValue(names));
  archive.write("plugin_states", c10::IValue(states));
  if (!state.event_run_dir.empty()) {
    c10::List<std::string> files;
    c10::List<int64_t> sizes;
    for (const auto& [file, size] : state.event_files) {
      files.push_back(file);
      sizes.push_back(size);
    }
    archive.write("event_run_dir", c10::IValue(state.event_run_dir));
    archive.write("event_files", c10::IValue(files));
    archive.write("event_sizes", c10::IValue(sizes));
  }

  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) throw std::runtime_error("cannot write checkpoint " + path + ": " + ec.message());
  write_durably(path, [&](const std::function<size_t(const void*, size_t)>& sink) { archive.save_to(sink); });
}

TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                              const c10::Device& device) {
  return load_checkpoint(path, model, optimizer, device, CheckpointParts{});
}

TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                              const c10::Device& device, const CheckpointParts& parts) {
  if (!fs::is_regular_file(path)) throw std::runtime_error(path + ": no such checkpoint");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": not a readable checkpoint (" + e.what() + ")");
  }
  c10::IValue v;
  if (!archive.try_read("format", v) || !v.isInt()) throw std::runtime_error(path + ": not a trainscope checkpoint");
  if (v.toInt() > kCheckpointFormat) {
    throw std::runtime_error(path + ": checkpoint format " + std::to_string(v.toInt()) +
                             " is newer than this build reads (" + std::to_string(kCheckpointFormat) + ")");
  }
  TrainingState state;
  try {
    archive.read("step", v);
    state.step = v.toInt();
    archive.read("epoch", v);
    state.epoch = v.toInt();
    archive.read("base_lrs", v);
    for (double lr : v.toDoubleList()) state.base_lrs.push_back(lr);
    if (archive.try_read("scheduler_state", v)) state.scheduler_state = v.toStringRef();  // older checkpoints: none

    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive opt_archive;
      if (!archive.try_read("optimizer", opt_archive)) throw std::runtime_error("it holds no optimizer state");
      optimizer->load(opt_archive);
    }
    read_parts(archive, parts);
    // Each read into an undefined tensor: reading into a defined one would write into it.
    if (at::Tensor scale; archive.try_read("grad_scale", scale, /*is_buffer=*/true)) {
      state.grad_scale = scale;
      archive.read("growth_tracker", state.growth_tracker, /*is_buffer=*/true);
    }
    if (at::Tensor rng; archive.try_read("rng_cpu", rng, /*is_buffer=*/true)) state.cpu_rng = rng.cpu();
    archive.read("rng_cuda_count", v);
    for (int64_t i = 0; i < v.toInt(); ++i) {
      at::Tensor s;
      archive.read("rng_cuda_" + std::to_string(i), s, /*is_buffer=*/true);
      state.cuda_rng.push_back(s.cpu());
    }
    c10::IValue names, states;
    archive.read("plugin_names", names);
    archive.read("plugin_states", states);
    auto n = names.toList(), s = states.toList();
    for (size_t i = 0; i < n.size() && i < s.size(); ++i) {
      state.plugin_states[n.get(i).toStringRef()] = s.get(i).toStringRef();
    }
    if (archive.try_read("event_run_dir", v)) {
      state.event_run_dir = v.toStringRef();
      c10::IValue files, sizes;
      archive.read("event_files", files);
      archive.read("event_sizes", sizes);
      auto f = files.toList(), z = sizes.toList();
      for (size_t i = 0; i < f.size() && i < z.size(); ++i)
        state.event_files[f.get(i).toStringRef()] = z.get(i).toInt();
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": cannot restore the checkpoint: " + e.what());
  }
  return state;
}

std::string checkpoint_path(const std::string& dir, int64_t epochs_completed) {
  char name[32];
  std::snprintf(name, sizeof name, "epoch_%04lld.pt", static_cast<long long>(epochs_completed));
  return (fs::path(dir) / name).string();
}

std::vector<std::string> remove_partial_checkpoints(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  static const std::regex kTmp(R"(epoch_(\d+)\.pt\.tmp)");
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, kTmp) && ::unlink(entry.path().c_str()) == 0) removed.push_back(entry.path().string());
  }
  return removed;
}

std::string latest_checkpoint(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  static const std::regex kName(R"(epoch_(\d+)\.pt)");
  int64_t best = -1;
  std::string found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, m, kName)) {
      const int64_t e = std::stoll(m[1].str());
      if (e > best) best = e, found = entry.path().string();
    }
  }
  return found;
}

}  // namespace trainscope
