// confusion_matrix: the validation set's confusion matrix each epoch, as a heatmap image with
// the class names on the axes and the value in every cell, and as exact counts in markdown.
//
// At validation_batch_end the pair (target, argmax of the output) of every sample is counted
// into a C x C int64 tensor on the device (scatter_add_, no host sync). At validation_end the
// counts are read to the host once, normalised (option `normalize`, as sklearn's
// confusion_matrix(normalize=...)) and drawn with a small built-in 5x7 bitmap font (digits,
// capital letters, some punctuation; lower case is drawn in capitals).
//
// Image layout (pixels; A = 12, the advance of one character at scale 2):
//   cell   = max(4, digits of the largest count with normalize = "none") * A + 8   (square)
//   label  = min(12, longest class name) * A + 8
//   W = 24 + label + C * cell + 8,  H = 24 + label + C * cell + 8
// Rows are true classes (names on the left), columns predicted classes (names above, read
// bottom to top), titled TRUE and PREDICTED. Colours: ColorBrewer's "Blues" scaled to the
// largest cell (matplotlib's default normalisation with vmin = 0).
//
// Tags: confusion_matrix (image), confusion_matrix/counts (markdown text; stored by the writer
// as confusion_matrix/counts/text_summary), accuracy/class/<class name> (scalars: the share of
// the class's validation samples predicted as it, from the same counts; a class without
// samples is not logged). Options: normalize ("true"), max_classes (100),
// per_class_accuracy (true).
// Cadence: the core's every_n_epochs key (default 1).
#include <ATen/ATen.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---- a 5x7 bitmap font ---------------------------------------------------------------------
// Each glyph is 7 rows of 5 bits, bit 4 the leftmost pixel.
struct Glyph {
  char c;
  std::array<uint8_t, 7> rows;
};

constexpr Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'\'', {0x0C, 0x04, 0x08, 0, 0, 0, 0}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},
    {'&', {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}},
    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},
    {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},  // also drawn for characters the font lacks
};

const std::array<uint8_t, 7>& glyph(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const auto& g : kFont) {
    if (g.c == c) return g.rows;
  }
  return kFont[std::size(kFont) - 1].rows;
}

constexpr int64_t kScale = 2;                // each font pixel is 2x2 image pixels
constexpr int64_t kAdvance = 6 * kScale;     // A: 5 columns and a gap
constexpr int64_t kTextHeight = 7 * kScale;  // 14
constexpr int64_t kLine = 8 * kScale;        // 16
constexpr int64_t kTitle = kLine + 8;        // the band holding an axis title
constexpr int64_t kMaxLabel = 12;            // class names are cut to 12 characters

using Rgb = std::array<uint8_t, 3>;

// An RGB canvas (HWC, uint8) that clips what falls outside it.
class Canvas {
 public:
  Canvas(int64_t w, int64_t h) : w_(w), h_(h), px_(at::full({h, w, 3}, 255, at::kByte)) {}
  void set(int64_t x, int64_t y, const Rgb& c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    uint8_t* p = px_.data_ptr<uint8_t>() + (y * w_ + x) * 3;
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
  }
  void fill(int64_t x0, int64_t y0, int64_t w, int64_t h, const Rgb& c) {
    for (int64_t y = y0; y < y0 + h; ++y)
      for (int64_t x = x0; x < x0 + w; ++x) set(x, y, c);
  }
  // Horizontal text with its top-left corner at (x, y); `up`: rotated a quarter turn
  // counter-clockwise, read bottom to top, starting at (x, y) and going up.
  void text(int64_t x, int64_t y, std::string_view s, const Rgb& c, bool up = false) {
    for (size_t i = 0; i < s.size(); ++i) {
      const auto& rows = glyph(s[i]);
      for (int64_t r = 0; r < 7; ++r)
        for (int64_t col = 0; col < 5; ++col) {
          if (!(rows[static_cast<size_t>(r)] & (0x10 >> col))) continue;
          for (int64_t dy = 0; dy < kScale; ++dy)
            for (int64_t dx = 0; dx < kScale; ++dx) {
              const int64_t tx = static_cast<int64_t>(i) * kAdvance + col * kScale + dx;  // along the text
              const int64_t ty = r * kScale + dy;                                         // across it
              if (up)
                set(x + ty, y - tx, c);
              else
                set(x + tx, y + ty, c);
            }
        }
    }
  }
  at::Tensor pixels() const { return px_; }

 private:
  int64_t w_, h_;
  at::Tensor px_;
};

int64_t text_width(size_t chars) { return static_cast<int64_t>(chars) * kAdvance - kScale; }

// ColorBrewer "Blues" (9 classes), linearly interpolated; v in [0, 1].
Rgb blues(double v) {
  static constexpr Rgb kStops[] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225}, {107, 174, 214},
                                   {66, 146, 198},  {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
  constexpr int kLast = static_cast<int>(std::size(kStops)) - 1;
  v = std::clamp(v, 0.0, 1.0) * kLast;
  const int i = std::min(static_cast<int>(v), kLast - 1);
  const double f = v - i;
  Rgb out{};
  for (size_t k = 0; k < 3; ++k)
    out[k] = static_cast<uint8_t>(kStops[i][k] + (kStops[i + 1][k] - kStops[i][k]) * f + 0.5);
  return out;
}

enum class Normalize { kTrue, kPred, kAll, kNone };

Normalize parse_normalize(const std::string& s) {
  if (s == "true") return Normalize::kTrue;
  if (s == "pred") return Normalize::kPred;
  if (s == "all") return Normalize::kAll;
  return Normalize::kNone;  // the schema allows only these four words
}

std::string label_of(const std::vector<std::string>& names, int64_t c) {
  return c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
}

class ConfusionMatrix final : public trainscope::Plugin {
 public:
  explicit ConfusionMatrix(const trainscope::Options& opt)
      : normalize_(parse_normalize(opt.get<std::string>("normalize"))),
        max_classes_(opt.get<int64_t>("max_classes")),
        per_class_(opt.get<bool>("per_class_accuracy")) {}

  void on_validation_begin(trainscope::HookContext&) override { counts_ = at::Tensor(); }

  void on_validation_batch_end(trainscope::HookContext& ctx) override {
    const at::Tensor& out = ctx.outputs();
    const at::Tensor& target = ctx.targets();
    if (!out.defined() || !target.defined() || out.size(0) == 0) return;
    if (out.dim() != 2 || out.size(1) < 2)
      throw std::runtime_error("confusion_matrix: needs class scores [N, C] with C >= 2 as the model's output");
    if (target.dim() != 1 || target.size(0) != out.size(0) || target.is_floating_point())
      throw std::runtime_error("confusion_matrix: needs integer class labels [N] as targets");
    const int64_t c = out.size(1);
    if (c > max_classes_)
      throw std::runtime_error("confusion_matrix: the model has " + std::to_string(c) + " classes, more than option " +
                               "'max_classes' (" + std::to_string(max_classes_) +
                               "); raise it if an image that large is wanted");
    if (!counts_.defined()) {
      counts_ = at::zeros({c * c + 1}, out.options().dtype(at::kLong));  // the last slot takes bad labels
      classes_ = c;
    }
    if (c != classes_) throw std::runtime_error("confusion_matrix: the number of classes changed within a validation");
    const at::Tensor t = target.to(at::kLong);
    const at::Tensor pred = out.detach().argmax(1);
    const at::Tensor valid = t.ge(0).logical_and(t.lt(c));
    const at::Tensor idx = at::where(valid, t.mul(c).add(pred), at::full({}, c * c, t.options()));
    counts_.scatter_add_(0, idx, at::ones_like(idx));
  }

  void on_validation_end(trainscope::HookContext& ctx) override {
    if (!counts_.defined()) return;
    // The epoch's one host read: C * C counts.
    const at::Tensor host = counts_.narrow(0, 0, classes_ * classes_).cpu().view({classes_, classes_}).contiguous();
    counts_ = at::Tensor();
    const auto& names = ctx.class_names();
    ctx.writer().add_text("confusion_matrix/counts", markdown(host, names), ctx.step());
    ctx.writer().add_image("confusion_matrix", render(host, names), ctx.step(), "HWC");
    if (per_class_) log_per_class(ctx, host, names);
  }

 private:
  // The values shown: counts normalised as sklearn does (a zero row / column / total gives 0).
  at::Tensor normalized(const at::Tensor& counts) const {
    const at::Tensor m = counts.to(at::kDouble);
    at::Tensor sums;
    switch (normalize_) {
      case Normalize::kTrue:
        sums = m.sum(1, true);
        break;
      case Normalize::kPred:
        sums = m.sum(0, true);
        break;
      case Normalize::kAll:
        sums = m.sum();
        break;
      case Normalize::kNone:
        return m;
    }
    return at::where(sums.gt(0), m.div(sums.clamp_min(1)), at::zeros_like(m));
  }

  at::Tensor render(const at::Tensor& counts, const std::vector<std::string>& names) const {
    const int64_t c = classes_;
    const at::Tensor values = normalized(counts);
    const double* v = values.data_ptr<double>();
    std::vector<std::string> cells(static_cast<size_t>(c * c));
    size_t value_chars = 4;
    for (int64_t i = 0; i < c * c; ++i) {
      char buf[32];
      if (normalize_ == Normalize::kNone)
        std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v[i]));
      else
        std::snprintf(buf, sizeof(buf), "%.2f", v[i]);
      cells[static_cast<size_t>(i)] = buf;
      value_chars = std::max(value_chars, cells[static_cast<size_t>(i)].size());
    }
    std::vector<std::string> labels;
    size_t label_chars = 1;
    for (int64_t k = 0; k < c; ++k) {
      labels.push_back(label_of(names, k).substr(0, kMaxLabel));
      label_chars = std::max(label_chars, labels.back().size());
    }
    const int64_t cell = static_cast<int64_t>(value_chars) * kAdvance + 8;
    const int64_t label = static_cast<int64_t>(label_chars) * kAdvance + 8;
    const int64_t left = kTitle + label, top = kTitle + label;
    Canvas img(left + c * cell + 8, top + c * cell + 8);

    const double vmax = std::max(values.max().item<double>(), 1e-12);
    const Rgb black{0, 0, 0}, white{255, 255, 255}, gray{90, 90, 90};
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = 0; j < c; ++j) {
        const double f = v[i * c + j] / vmax;
        const int64_t x = left + j * cell, y = top + i * cell;
        img.fill(x, y, cell, cell, blues(f));
        const std::string& s = cells[static_cast<size_t>(i * c + j)];
        img.text(x + (cell - text_width(s.size())) / 2, y + (cell - kTextHeight) / 2, s, f > 0.5 ? white : black);
      }
      // Row label: right-aligned left of the row; column label: above the column, upwards.
      const std::string& l = labels[static_cast<size_t>(i)];
      img.text(left - 4 - text_width(l.size()), top + i * cell + (cell - kTextHeight) / 2, l, black);
      img.text(left + i * cell + (cell - kTextHeight) / 2, top - 5, l, black, /*up=*/true);
    }
    const std::string_view pred = "PREDICTED", truth = "TRUE";
    img.text(std::max<int64_t>(0, left + (c * cell - text_width(pred.size())) / 2), 4, pred, gray);
    img.text(4, top + (c * cell + text_width(truth.size())) / 2, truth, gray, /*up=*/true);
    return img.pixels();
  }

  static std::string cell_text(std::string s) {
    std::string out;
    for (char ch : s) {
      if (ch == '|')
        out += "\\|";
      else if (ch == '\n' || ch == '\r')
        out += ' ';
      else
        out += ch;
    }
    return out;
  }

  std::string markdown(const at::Tensor& counts, const std::vector<std::string>& names) const {
    const int64_t c = classes_;
    const int64_t* n = counts.data_ptr<int64_t>();
    int64_t total = 0;
    for (int64_t i = 0; i < c * c; ++i) total += n[i];
    std::string s = "Confusion matrix counts: rows are the true class, columns the predicted class (" +
                    std::to_string(total) + " validation samples).\n\n| true / predicted |";
    for (int64_t j = 0; j < c; ++j) {
      s += ' ';
      s += cell_text(label_of(names, j));
      s += " |";
    }
    s += "\n|---|";
    for (int64_t j = 0; j < c; ++j) s += "---:|";
    s += "\n";
    for (int64_t i = 0; i < c; ++i) {
      s += "| ";
      s += cell_text(label_of(names, i));
      s += " |";
      for (int64_t j = 0; j < c; ++j) {
        s += ' ';
        s += std::to_string(n[i * c + j]);
        s += " |";
      }
      s += "\n";
    }
    return s;
  }

  // accuracy/class/<name> = counts[i][i] / row i's sum (torchmetrics' per-class accuracy,
  // average=None), for every class with validation samples.
  void log_per_class(trainscope::HookContext& ctx, const at::Tensor& counts, const std::vector<std::string>& names) {
    const int64_t c = classes_;
    const int64_t* n = counts.data_ptr<int64_t>();
    while (static_cast<int64_t>(class_tags_.size()) < c) {
      class_tags_.push_back("accuracy/class/" + label_of(names, static_cast<int64_t>(class_tags_.size())));
    }
    for (int64_t i = 0; i < c; ++i) {
      int64_t row = 0;
      for (int64_t j = 0; j < c; ++j) row += n[i * c + j];
      if (row == 0) continue;
      ctx.writer().add_scalar(class_tags_[static_cast<size_t>(i)],
                              static_cast<double>(n[i * c + i]) / static_cast<double>(row), ctx.step());
    }
  }

  Normalize normalize_;
  int64_t max_classes_;
  bool per_class_;
  std::vector<std::string> class_tags_;  // "accuracy/class/<name>", made once
  int64_t classes_ = 0;
  at::Tensor counts_;  // [C * C + 1] int64 on the device: index target * C + prediction
};

}  // namespace

TRAINSCOPE_PLUGIN(
    ConfusionMatrix, "confusion_matrix", "1.0.0",
    trainscope::option<std::string>("normalize", "true",
                                    "true (rows sum to 1), pred (columns), all (whole matrix) or none (counts)")
        .one_of({"true", "pred", "all", "none"}),
    trainscope::option<int64_t>("max_classes", 100, "largest number of classes drawn (the image grows with C squared)")
        .min(2),
    trainscope::option<bool>("per_class_accuracy", true,
                             "accuracy/class/<name>: each class's validation accuracy (its diagonal cell / its row)"))
