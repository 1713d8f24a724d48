// Projector (embeddings): SummaryWriter::add_embedding, as PyTorch's writer.add_embedding
// and torch/utils/tensorboard/_embedding.py, laid out the way TensorBoard's projector plugin
// reads it (names and config text: dashboards/projector.h):
//   <log_dir>/<step %05d>/<tag, '%' '/' '\' escaped>/tensors.tsv   one row per point
//                                                   /metadata.tsv  labels (header row when
//                                                                  there are several columns)
//                                                   /sprite.png    thumbnails, ceil(sqrt(N)) a row
//   <log_dir>/projector_config.pbtxt                every embedding written so far (text format)
// The caller validates, snapshots the tensors and builds the (small) metadata text; the
// writer thread formats the matrix, encodes the sprite, writes the files (each through a
// temporary name and rename) and then merges the entry into projector_config.pbtxt, so
// TensorBoard never lists an embedding whose files are incomplete. The record it leaves in
// the event file is an empty Summary (the payload model has no "no event" variant).
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>

#include "tensor_payloads.h"
#include "trainscope/encode.h"
#include "trainscope/limits.h"
#include "trainscope/summary_writer.h"
#include "trainscope/wire/dashboards/projector.h"

namespace trainscope {
namespace {

constexpr const char* kApi = "add_embedding";

// ---- numbers -------------------------------------------------------------------------------

// Python's repr(float) (what str(x.item()) gives): the shortest digits that round-trip,
// fixed notation for exponents -4..15 with at least one fractional digit, else d.ddde+XX.
// `p` needs 25 bytes.
char* format_python_float(char* p, double v) {
  if (!std::isfinite(v)) {
    for (const char* s = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); *s; ++s) *p++ = *s;
    return p;
  }
  char sci[32];
  const auto res = std::to_chars(sci, sci + sizeof(sci), v, std::chars_format::scientific);
  const char* s = sci;
  if (*s == '-') *p++ = *s++;
  char digits[20];
  int nd = 0;
  for (; *s != 'e'; ++s)
    if (*s != '.') digits[nd++] = *s;
  ++s;  // 'e'
  int exp = 0;
  std::from_chars(s[0] == '+' ? s + 1 : s, res.ptr, exp);
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const int int_digits = exp + 1;
      for (int i = 0; i < int_digits; ++i) *p++ = i < nd ? digits[i] : '0';
      *p++ = '.';
      if (nd > int_digits) {
        std::memcpy(p, digits + int_digits, nd - int_digits);
        p += nd - int_digits;
      } else {
        *p++ = '0';
      }
    } else {
      *p++ = '0';
      *p++ = '.';
      for (int i = 0; i < -exp - 1; ++i) *p++ = '0';
      std::memcpy(p, digits, nd);
      p += nd;
    }
    return p;
  }
  *p++ = digits[0];
  if (nd > 1) {
    *p++ = '.';
    std::memcpy(p, digits + 1, nd - 1);
    p += nd - 1;
  }
  *p++ = 'e';
  *p++ = exp < 0 ? '-' : '+';
  const int a = exp < 0 ? -exp : exp;
  if (a < 10) *p++ = '0';
  return std::to_chars(p, p + 4, a).ptr;
}

// ---- sprite --------------------------------------------------------------------------------

// make_sprite as torch ops (any device): pixels (float64(v) * 255 clipped to [0, 255] and
// truncated; uint8 kept as is), gray made RGB, tiled ceil(sqrt(N)) per row and zero-padded to
// a square as wide as the grid. Where the grid is taller than wide (H > W) PyTorch fails; the
// sprite then keeps the grid's height (TensorBoard takes images per row from the width).
at::Tensor sprite_pixels(const at::Tensor& label_img) {
  at::Tensor x = label_img.detach();
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  if (x.scalar_type() != at::kByte) x = x.to(at::kDouble).mul(255.0).clamp(0.0, 255.0).nan_to_num(0.0).to(at::kByte);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  const auto ncols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int64_t nrows = (n + ncols - 1) / ncols;
  if (nrows * ncols > n) x = at::cat({x, at::zeros({nrows * ncols - n, 3, h, w}, x.options())});
  at::Tensor grid = x.reshape({nrows, ncols, 3, h, w}).permute({0, 3, 1, 4, 2}).reshape({nrows * h, ncols * w, 3});
  const int64_t side = ncols * w;
  if (side > nrows * h) grid = at::cat({grid, at::zeros({side - nrows * h, side, 3}, grid.options())});
  return grid.contiguous();
}

// ---- files ---------------------------------------------------------------------------------

[[noreturn]] void io_error(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(std::string(kApi) + ": cannot " + what + " '" + path + "': " + std::strerror(err));
}

void make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) io_error("create directory", prefix, errno);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) io_error("create directory", path, errno);
  if (!S_ISDIR(st.st_mode)) io_error("use", path, ENOTDIR);
}

// A file written through `<path>.tmp` and renamed into place on commit(), so a reader sees
// the old file or the whole new one; an uncommitted file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) io_error("create", tmp_, errno);
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) io_error("write", tmp_, n < 0 ? errno : EIO);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void commit() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_error("write", tmp_, errno);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) io_error("rename to", path_, errno);
    committed_ = true;
  }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file(const std::string& path, std::string_view data) {
  AtomicFile f(path);
  f.write(data);
  f.commit();
}

// tensors.tsv (make_mat): each row's values joined by tabs, one line per point; floats as
// Python's repr, integers as Python ints. Streamed through a 1 MiB buffer.
void write_matrix(const std::string& path, const at::Tensor& host) {
  const int64_t rows = host.size(0), cols = host.size(1);
  const bool floating = at::isFloatingType(host.scalar_type());
  const at::Tensor m =
      (floating ? (host.scalar_type() == at::kDouble ? host : host.to(at::kFloat)) : host.to(at::kLong)).contiguous();
  constexpr size_t kChunk = 1 << 20;
  const size_t row_max = static_cast<size_t>(cols) * 25;  // longest repr (24) or int64 (20) + separator
  std::unique_ptr<char[]> buf(new char[kChunk + row_max]);
  AtomicFile file(path);
  char* p = buf.get();
  for (int64_t r = 0; r < rows; ++r) {
    if (m.scalar_type() == at::kFloat) {
      const float* d = m.data_ptr<float>() + r * cols;
      for (int64_t c = 0; c < cols; ++c, *p++ = '\t') p = format_python_float(p, static_cast<double>(d[c]));
    } else if (m.scalar_type() == at::kDouble) {
      const double* d = m.data_ptr<double>() + r * cols;
      for (int64_t c = 0; c < cols; ++c, *p++ = '\t') p = format_python_float(p, d[c]);
    } else {
      const int64_t* d = m.data_ptr<int64_t>() + r * cols;
      for (int64_t c = 0; c < cols; ++c, *p++ = '\t') p = std::to_chars(p, p + 20, d[c]).ptr;
    }
    p[-1] = '\n';
    if (static_cast<size_t>(p - buf.get()) >= kChunk) {
      file.write({buf.get(), static_cast<size_t>(p - buf.get())});
      p = buf.get();
    }
  }
  file.write({buf.get(), static_cast<size_t>(p - buf.get())});
  file.commit();
}

// ---- the deferred work ---------------------------------------------------------------------

struct ProjectorConfig {
  std::string path;  // <log_dir>/projector_config.pbtxt
  std::mutex* mu;
  std::map<std::string, std::string>* entries;
};

class DeferredEmbedding final : public DeferredPayload {
 public:
  DeferredEmbedding(detail::HostSnapshot mat, std::optional<detail::HostSnapshot> sprite, bool sprite_ready,
                    std::optional<std::string> metadata_tsv, std::string dir, std::string key, std::string entry,
                    ProjectorConfig config)
      : mat_(std::move(mat)),
        sprite_(std::move(sprite)),
        sprite_ready_(sprite_ready),
        metadata_tsv_(std::move(metadata_tsv)),
        dir_(std::move(dir)),
        key_(std::move(key)),
        entry_(std::move(entry)),
        config_(std::move(config)) {}

  SummaryPayload resolve() override {
    make_dirs(dir_);
    if (metadata_tsv_) write_file(in_dir(detail::kProjectorMetadataFile), *metadata_tsv_);
    if (sprite_) {
      const at::Tensor& s = sprite_->wait();
      write_file(in_dir(detail::kProjectorSpriteFile),
                 encode_png(detail::image_from_hwc_uint8(sprite_ready_ ? s : sprite_pixels(s))));
    }
    write_matrix(in_dir(detail::kProjectorTensorsFile), mat_.wait());
    {
      std::lock_guard lk(*config_.mu);
      (*config_.entries)[key_] = entry_;
      std::string text;
      for (const auto& [k, e] : *config_.entries) text += e;
      write_file(config_.path, text);
    }
    return RawEventData{RawEventData::Field::kSerializedSummary, {}};
  }
  size_t held_bytes() const override {
    return mat_.nbytes() + (sprite_ ? sprite_->nbytes() : 0) + (metadata_tsv_ ? metadata_tsv_->size() : 0);
  }

 private:
  std::string in_dir(std::string_view file) const { return dir_ + "/" + std::string(file); }

  detail::HostSnapshot mat_;
  std::optional<detail::HostSnapshot> sprite_;
  bool sprite_ready_;
  std::optional<std::string> metadata_tsv_;
  std::string dir_, key_, entry_;
  ProjectorConfig config_;
};

// ---- validation ----------------------------------------------------------------------------

void check_cell(std::string_view tag, std::string_view cell, const char* what, size_t row, size_t col) {
  if (auto at = invalid_utf8_offset(cell)) {
    TORCH_CHECK_VALUE(false, kApi, ": tag '", printable(tag), "': ", what, " ", row,
                      (col == SIZE_MAX ? std::string() : ", column " + std::to_string(col)),
                      " is not valid UTF-8 (byte ", *at,
                      "); TensorBoard's projector reads metadata.tsv as UTF-8: convert it");
  }
  for (char c : cell) {
    TORCH_CHECK_VALUE(c != '\t' && c != '\n' && c != '\r', kApi, ": tag '", tag, "': ", what, " ", row,
                      (col == SIZE_MAX ? std::string() : ", column " + std::to_string(col)),
                      " contains a tab or line break, which would shift metadata.tsv's rows");
  }
}

void append_row(std::string& out, const std::vector<std::string>& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) out += '\t';
    out += cells[i];
  }
  out += '\n';
}

void check_common(std::string_view tag, const at::Tensor& mat) {
  TORCH_CHECK_VALUE(!tag.empty(), kApi, ": tag is empty");
  TORCH_CHECK_VALUE(tag != "." && tag != "..", kApi, ": tag '", tag, "' cannot name a directory of its own");
  TORCH_CHECK_VALUE(tag.find('\0') == std::string_view::npos, kApi, ": tag contains a NUL character");
  try {
    check_tag(kApi, tag);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
  TORCH_CHECK_VALUE(mat.defined(), kApi, ": tag '", tag, "': mat is undefined");
  TORCH_CHECK_VALUE(mat.dim() == 2, kApi, ": tag '", tag, "': mat must be 2-D [N, D] (one row per point), got shape ",
                    mat.sizes());
  TORCH_CHECK_VALUE(mat.numel() > 0, kApi, ": tag '", tag, "': mat is empty (shape ", mat.sizes(), ")");
  TORCH_CHECK_VALUE(!mat.is_complex() && mat.scalar_type() != at::kBool, kApi, ": tag '", tag,
                    "': mat must hold real numbers, got ", mat.scalar_type());
}

void check_label_img(std::string_view tag, const at::Tensor& mat, const at::Tensor& img) {
  if (!img.defined()) return;
  TORCH_CHECK_VALUE(img.dim() == 4, kApi, ": tag '", tag, "': label_img must be 4-D [N, C, H, W], got shape ",
                    img.sizes());
  TORCH_CHECK_VALUE(img.size(0) == mat.size(0), kApi, ": tag '", tag, "': label_img has ", img.size(0),
                    " images but mat has ", mat.size(0), " rows");
  TORCH_CHECK_VALUE(img.size(1) == 1 || img.size(1) == 3, kApi, ": tag '", tag,
                    "': label_img needs 1 or 3 channels, got ", img.size(1), " (shape ", img.sizes(), ")");
  TORCH_CHECK_VALUE(img.size(2) > 0 && img.size(3) > 0, kApi, ": tag '", tag, "': label_img is empty (shape ",
                    img.sizes(), ")");
  TORCH_CHECK_VALUE(at::isFloatingType(img.scalar_type()) || img.scalar_type() == at::kByte, kApi, ": tag '", tag,
                    "': label_img must be float in [0, 1] or uint8, got ", img.scalar_type());
}

// Everything after validation: snapshots, names, one deferred record.
void submit(EventWriter& writer, const std::string& log_dir, std::mutex& mu,
            std::map<std::string, std::string>& entries, const at::Tensor& mat, std::optional<std::string> metadata_tsv,
            const at::Tensor& label_img, int64_t step, std::string_view tag) {
  // A sink that keeps nothing (non-zero ranks, --no-log): the projector files would be the
  // only product, and they would land in a log dir that must stay untouched.
  if (writer.discards()) return;
  const std::string step_dir = detail::projector_step_dir(step);
  const std::string subdir = step_dir + "/" + detail::projector_tag_dir(tag);
  std::optional<std::pair<int64_t, int64_t>> sprite_wh;
  std::optional<detail::HostSnapshot> sprite;
  bool sprite_ready = false;
  if (label_img.defined()) {
    sprite_wh.emplace(label_img.size(3), label_img.size(2));
    sprite_ready = !label_img.device().is_cpu();  // tile on the device, copy only the pixels
    sprite = detail::HostSnapshot::take(sprite_ready ? sprite_pixels(label_img) : label_img);
  }
  at::Tensor m = mat.detach();
  if (m.scalar_type() == at::kBFloat16) m = m.to(at::kFloat);  // exact (PyTorch goes through float16)
  std::string entry = detail::projector_config_entry(tag, step_dir, subdir, metadata_tsv.has_value(), sprite_wh);
  writer.add_deferred(tag, step,
                      std::make_unique<DeferredEmbedding>(
                          detail::HostSnapshot::take(m), std::move(sprite), sprite_ready, std::move(metadata_tsv),
                          log_dir + "/" + subdir, subdir, std::move(entry),
                          ProjectorConfig{log_dir + "/" + std::string(detail::kProjectorConfigFile), &mu, &entries}));
}

}  // namespace

void SummaryWriter::add_embedding(const at::Tensor& mat, const std::vector<std::vector<std::string>>& metadata,
                                  const at::Tensor& label_img, int64_t step, std::string_view tag,
                                  const std::vector<std::string>& metadata_header) {
  check_common(tag, mat);
  std::optional<std::string> tsv;
  if (!metadata.empty()) {
    TORCH_CHECK_VALUE(static_cast<int64_t>(metadata.size()) == mat.size(0), kApi, ": tag '", tag, "': metadata has ",
                      metadata.size(), " rows but mat has ", mat.size(0));
    const size_t ncols = metadata_header.empty() ? 1 : metadata_header.size();
    std::string text;
    if (ncols > 1) {  // a header row only with several columns: TensorBoard reads one as a label
      for (size_t c = 0; c < ncols; ++c) check_cell(tag, metadata_header[c], "metadata_header", c, SIZE_MAX);
      append_row(text, metadata_header);
    }
    for (size_t r = 0; r < metadata.size(); ++r) {
      TORCH_CHECK_VALUE(metadata[r].size() == ncols, kApi, ": tag '", tag, "': metadata row ", r, " has ",
                        metadata[r].size(), " columns but ",
                        (metadata_header.empty() ? std::string("a single column is expected without metadata_header")
                                                 : "metadata_header has " + std::to_string(ncols)));
      for (size_t c = 0; c < ncols; ++c) check_cell(tag, metadata[r][c], "metadata row", r, ncols > 1 ? c : SIZE_MAX);
      append_row(text, metadata[r]);
    }
    tsv = std::move(text);
  } else {
    TORCH_CHECK_VALUE(metadata_header.empty(), kApi, ": tag '", tag, "': metadata_header given without metadata");
  }
  check_label_img(tag, mat, label_img);
  submit(*writer_, log_dir_, projector_mu_, projector_entries_, mat, std::move(tsv), label_img, step, tag);
}

void SummaryWriter::add_embedding(const at::Tensor& mat, const std::vector<std::string>& labels,
                                  const at::Tensor& label_img, int64_t step, std::string_view tag) {
  check_common(tag, mat);
  std::optional<std::string> tsv;
  if (!labels.empty()) {
    TORCH_CHECK_VALUE(static_cast<int64_t>(labels.size()) == mat.size(0), kApi, ": tag '", tag, "': metadata has ",
                      labels.size(), " labels but mat has ", mat.size(0), " rows");
    size_t bytes = labels.size();
    for (const auto& l : labels) bytes += l.size();
    std::string text;
    text.reserve(bytes);
    for (size_t r = 0; r < labels.size(); ++r) {
      check_cell(tag, labels[r], "metadata row", r, SIZE_MAX);
      text += labels[r];
      text += '\n';
    }
    tsv = std::move(text);
  }
  check_label_img(tag, mat, label_img);
  submit(*writer_, log_dir_, projector_mu_, projector_entries_, mat, std::move(tsv), label_img, step, tag);
}

}  // namespace trainscope
