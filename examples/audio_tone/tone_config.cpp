// Reads examples/audio_tone's TOML file with TOML++ (tone_config.h). Kept apart from the torch
// code: TOML++ is costly to compile.
#include "tone_config.h"

#define TOML_ENABLE_FORMATTERS 0  // only parsing
#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace audio_tone {
namespace {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  std::string at(const toml::source_region& r) const {
    if (r.begin.line == 0) return file_;
    return file_ + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
  }
  [[noreturn]] void fail(const toml::source_region& r, const std::string& key, const std::string& what) const {
    throw std::runtime_error(at(r) + ": " + key + ": " + what);
  }

  // Calls read(key, node) for each key of table `name` (absent: nothing); refuses other keys.
  template <typename F>
  void table(const toml::table& root, const std::string& name, const std::vector<std::string>& keys, F read) const {
    const toml::node* node = root.get(name);
    if (!node) return;
    const toml::table* t = node->as_table();
    if (!t) fail(node->source(), name, "expected a table [" + name + "]");
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      bool known = false;
      for (const auto& want : keys) known = known || want == key;
      if (!known) {
        std::string list;
        for (const auto& want : keys) list += (list.empty() ? "" : ", ") + want;
        fail(k.source(), name + "." + key, "unknown key (the keys of [" + name + "] are " + list + ")");
      }
      read(name + "." + key, v);
    }
  }

  int64_t integer(const std::string& key, const toml::node& v, int64_t min, int64_t max) const {
    const auto* i = v.as_integer();
    if (!i) fail(v.source(), key, "expected an integer");
    const int64_t x = i->get();
    if (x < min || x > max) {
      fail(v.source(), key,
           "= " + std::to_string(x) + " is out of range: must be in [" + std::to_string(min) + ", " +
               std::to_string(max) + "]");
    }
    return x;
  }
  // Integers are numbers too. Strictly above `lower` when `open`, else at least it.
  double number(const std::string& key, const toml::node& v, double lower, bool open, double max) const {
    double x = 0;
    if (const auto* d = v.as_floating_point()) {
      x = d->get();
    } else if (const auto* i = v.as_integer()) {
      x = static_cast<double>(i->get());
    } else {
      fail(v.source(), key, "expected a number");
    }
    if (!std::isfinite(x) || (open ? x <= lower : x < lower) || x > max) {
      std::ostringstream s;
      s << "= " << x << " is out of range: must be " << (open ? "> " : ">= ") << lower << " and <= " << max;
      fail(v.source(), key, s.str());
    }
    return x;
  }
  std::string text(const std::string& key, const toml::node& v) const {
    const auto* s = v.as_string();
    if (!s) fail(v.source(), key, "expected a string");
    return s->get();
  }

 private:
  std::string file_;
};

}  // namespace

ToneConfig load_tone_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open the configuration file");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();
  // ASCII only: this small reader has no use for more, and it keeps TOML++'s handling of
  // malformed UTF-8 out of the picture (the core's config reader guards that in depth).
  for (size_t i = 0, line = 1, col = 1; i < doc.size(); ++i, ++col) {
    if (doc[i] == '\n') line += 1, col = 0;
    if (static_cast<unsigned char>(doc[i]) >= 0x80) {
      throw std::runtime_error(path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                               ": a non-ASCII byte; this example's configuration must be plain ASCII");
    }
  }
  toml::table root;
  try {
    root = toml::parse(doc, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw std::runtime_error(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                             std::string(e.description()));
  }
  const Reader r(path);
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    if (key != "run" && key != "audio" && key != "model" && key != "trainer") {
      r.fail(k.source(), key, "unknown table (the tables are [run], [audio], [model] and [trainer])");
    }
  }
  ToneConfig c;
  r.table(root, "run", {"log_dir", "seed", "device"}, [&](const std::string& key, const toml::node& v) {
    if (key == "run.log_dir") c.log_dir = r.text(key, v);
    if (key == "run.seed") c.seed = r.integer(key, v, 0, INT64_MAX);
    if (key == "run.device") c.device = r.text(key, v);
  });
  r.table(root, "audio", {"sample_rate", "seconds", "notes_hz", "target"},
          [&](const std::string& key, const toml::node& v) {
            if (key == "audio.sample_rate") c.sample_rate = r.integer(key, v, 1000, 192000);
            if (key == "audio.seconds") c.seconds = r.number(key, v, 0, false, 60);
            if (key == "audio.target") {
              c.target = r.text(key, v);
              // Relative to the configuration file, as the core's config does with its paths.
              if (!c.target.empty() && std::filesystem::path(c.target).is_relative()) {
                c.target = (std::filesystem::path(path).parent_path() / c.target).lexically_normal().string();
              }
            }
            if (key == "audio.notes_hz") {
              const toml::array* a = v.as_array();
              if (!a || a->empty()) r.fail(v.source(), key, "expected a non-empty list of frequencies in Hz");
              c.notes_hz.clear();
              for (const toml::node& f : *a) c.notes_hz.push_back(r.number(key, f, 0, true, 20000));
            }
          });
  r.table(root, "model", {"lowest_hz", "oscillators"}, [&](const std::string& key, const toml::node& v) {
    if (key == "model.lowest_hz") c.lowest_hz = r.number(key, v, 0, true, 20000);
    if (key == "model.oscillators") c.oscillators = r.integer(key, v, 1, 1024);
  });
  r.table(root, "trainer", {"epochs", "steps_per_epoch", "batch_size", "lr"},
          [&](const std::string& key, const toml::node& v) {
            if (key == "trainer.epochs") c.epochs = r.integer(key, v, 1, 100000);
            if (key == "trainer.steps_per_epoch") c.steps_per_epoch = r.integer(key, v, 1, 1000000);
            if (key == "trainer.batch_size") c.batch_size = r.integer(key, v, 1, 1 << 24);
            if (key == "trainer.lr") c.lr = r.number(key, v, 0, true, 10);
          });
  if (c.sample_rate > 0 && c.target.empty()) {
    for (double f : c.notes_hz) {
      if (f >= c.sample_rate / 2.0) {
        throw std::runtime_error(path + ": audio.notes_hz: " + std::to_string(f) +
                                 " Hz is at or above half the sample rate (" + std::to_string(c.sample_rate) +
                                 " Hz): it cannot be represented; raise audio.sample_rate or lower the note");
      }
    }
  }
  return c;
}

}  // namespace audio_tone
