// Console progress (see progress.h). Torch-free: the Trainer hands it plain numbers.
#include "trainscope/progress.h"

#include <unistd.h>

#include <cmath>
#include <sstream>

namespace trainscope {

Progress::Progress(std::FILE* out, int tty)
    : out_(out), tty_(out != nullptr && (tty < 0 ? ::isatty(::fileno(out)) != 0 : tty != 0)) {}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

void Progress::begin_epoch(int64_t epoch, int64_t epochs, int64_t batches, int64_t batch_size) {
  finish_bar();
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  batch_size_ = batch_size;
  epoch_start_ = std::chrono::steady_clock::now();
}

std::string Progress::bar_line(int64_t done, int64_t step, double loss, double seconds) const {
  std::ostringstream os;
  os << "epoch " << epoch_ + 1 << "/" << epochs_ << " ";
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = batches_ > 0 ? static_cast<int>(kWidth * std::min<int64_t>(done, batches_) / batches_) : 0;
    os << "[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] ";
  }
  os << done << "/" << batches_ << "  step " << step;
  if (!std::isnan(loss)) {
    char l[32];
    std::snprintf(l, sizeof l, "%.4f", loss);
    os << "  loss " << l;
  }
  const double rate = seconds > 0 ? static_cast<double>(done * batch_size_) / seconds : 0;
  char r[32];
  std::snprintf(r, sizeof r, "%.0f", rate);
  os << "  " << r << " samples/s";
  const double eta = done > 0 ? seconds / static_cast<double>(done) * static_cast<double>(batches_ - done) : NAN;
  os << "  ETA " << format_duration(eta);
  return os.str();
}

void Progress::update(int64_t done, int64_t step, double loss) {
  if (!out_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  const std::string line = bar_line(done, step, loss, secs);
  if (tty_) {
    std::fprintf(out_, "\r%s\x1b[K", line.c_str());
    bar_open_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void Progress::end_epoch(const std::map<std::string, double>& metrics) {
  if (!out_) return;
  finish_bar();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  std::ostringstream os;
  os << "epoch " << epoch_ + 1 << "/" << epochs_ << " done in " << format_duration(secs);
  const char* sep = ": ";
  for (const auto& [name, value] : metrics) {
    char v[32];
    std::snprintf(v, sizeof v, "%.4f", value);
    os << sep << name << " " << v;
    sep = ", ";
  }
  std::fprintf(out_, "%s\n", os.str().c_str());
  std::fflush(out_);
}

void Progress::message(const std::string& text) {
  if (!out_) return;
  finish_bar();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void Progress::finish_bar() {
  if (bar_open_ && out_) std::fputc('\n', out_);
  bar_open_ = false;
}

}  // namespace trainscope
