// write_summaries <logdir> <manifest>
//
// Drives trainscope::SummaryWriter from a manifest written by the Python conformance tests
// (tests/conformance/tb_helpers.py), one call per line; tokens are separated by whitespace:
//
//   scalar    <tag> <step> <value>
//   scalars   <main_tag> <step> <key>=<value>[,<key>=<value>...]
//   histogram <tag> <step> <file.bin> <dtype> <shape> <bins> <max_bins>
//             bins: tensorflow | count:<N> | edges:<file.bin of float64>; max_bins 0 = no limit
//   image     <tag> <step> <file.bin> <dtype> <shape> <dataformats>
//   images    <tag> <step> <file.bin> <dtype> <shape> <dataformats>
//   text      <tag> <step> <file.txt>
//   audio     <tag> <step> <file.bin> <dtype> <shape> <sample_rate>
//   video     <tag> <step> <file.bin> <dtype> <shape> <fps>
//
// dtype: float32 | float64 | uint8 | int32 | int64; shape: comma-separated sizes ("3,4").
// Files hold raw little-endian elements and are relative to the manifest's folder. Blank
// lines and lines starting with '#' are ignored.
//
// Exit status: 0 on success; 2 for a usage error or a bad manifest line (the message names
// the line); 3 when the SDK rejects a call; 4 when close() reports an error or a record
// failed to encode.
#include <torch/torch.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/summary_writer.h"

#include "manifest.h"

namespace fs = std::filesystem;

namespace {

using trainscope::tools::ManifestError;
using trainscope::tools::split_ws;
using trainscope::tools::split;

int64_t parse_int(const std::string& s, const char* what) {
  if (s.empty()) throw ManifestError(std::string("empty ") + what);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) throw ManifestError(std::string("bad ") + what + " '" + s + "'");
  return static_cast<int64_t>(v);
}

double parse_double(const std::string& s, const char* what) {
  if (s.empty()) throw ManifestError(std::string("empty ") + what);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);  // accepts nan, inf, hex floats
  if (end != s.c_str() + s.size()) throw ManifestError(std::string("bad ") + what + " '" + s + "'");
  return v;
}

at::ScalarType parse_dtype(const std::string& s) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"uint8", at::kByte},
      {"int32", at::kInt},     {"int64", at::kLong},
  };
  auto it = kTypes.find(s);
  if (it == kTypes.end()) throw ManifestError("unknown dtype '" + s + "' (float32|float64|uint8|int32|int64)");
  return it->second;
}

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> shape;
  for (const std::string& d : split(s, ',')) {
    const int64_t v = parse_int(d, "shape dimension");
    if (v < 0) throw ManifestError("negative shape dimension in '" + s + "'");
    shape.push_back(v);
  }
  return shape;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ManifestError("cannot open '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads a raw little-endian array (this program only runs on little-endian hosts).
at::Tensor load_tensor(const fs::path& path, const std::string& dtype, const std::string& shape_text) {
  const at::ScalarType type = parse_dtype(dtype);
  const std::vector<int64_t> shape = parse_shape(shape_text);
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  std::string bytes = read_file(path);
  const size_t want = static_cast<size_t>(numel) * c10::elementSize(type);
  if (bytes.size() != want) {
    throw ManifestError("'" + path.string() + "' holds " + std::to_string(bytes.size()) + " bytes, but " + dtype +
                        " [" + shape_text + "] needs " + std::to_string(want));
  }
  // from_blob does not own the bytes: clone before `bytes` goes away.
  return torch::from_blob(bytes.data(), shape, torch::TensorOptions().dtype(type)).clone();
}

trainscope::HistogramBins parse_bins(const std::string& s, const fs::path& base) {
  if (s == "tensorflow") return trainscope::HistogramBins::tensorflow();
  if (s.rfind("count:", 0) == 0) {
    return trainscope::HistogramBins::uniform(static_cast<int>(parse_int(s.substr(6), "bin count")));
  }
  if (s.rfind("edges:", 0) == 0) {
    const std::string bytes = read_file(base / s.substr(6));
    if (bytes.size() % sizeof(double) != 0) throw ManifestError("edge file size is not a multiple of 8: " + s);
    std::vector<double> edges(bytes.size() / sizeof(double));
    std::memcpy(edges.data(), bytes.data(), bytes.size());
    return trainscope::HistogramBins::explicit_edges(std::move(edges));
  }
  throw ManifestError("bad bins '" + s + "' (tensorflow|count:N|edges:<file>)");
}

void expect_fields(const std::vector<std::string>& tok, size_t n, const char* usage) {
  if (tok.size() != n) {
    throw ManifestError("'" + tok[0] + "' takes " + std::to_string(n - 1) + " fields, got " +
                        std::to_string(tok.size() - 1) + " (usage: " + usage + ")");
  }
}

// Executes one manifest line. Throws ManifestError for a malformed line; SDK errors
// (c10::Error, std::exception) propagate as they are.
void run_line(trainscope::SummaryWriter& writer, const std::vector<std::string>& tok, const fs::path& base) {
  const std::string& kind = tok[0];
  if (kind == "scalar") {
    expect_fields(tok, 4, "scalar <tag> <step> <value>");
    writer.add_scalar(tok[1], parse_double(tok[3], "value"), parse_int(tok[2], "step"));
  } else if (kind == "scalars") {
    expect_fields(tok, 4, "scalars <main_tag> <step> <key>=<value>,...");
    std::map<std::string, double> values;
    for (const std::string& kv : split(tok[3], ',')) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) throw ManifestError("bad key=value '" + kv + "'");
      if (!values.emplace(kv.substr(0, eq), parse_double(kv.substr(eq + 1), "value")).second)
        throw ManifestError("duplicate key '" + kv.substr(0, eq) + "'");
    }
    writer.add_scalars(tok[1], values, parse_int(tok[2], "step"));
  } else if (kind == "histogram") {
    expect_fields(tok, 8, "histogram <tag> <step> <file.bin> <dtype> <shape> <bins> <max_bins>");
    const at::Tensor values = load_tensor(base / tok[3], tok[4], tok[5]);
    const auto bins = parse_bins(tok[6], base);
    writer.add_histogram(tok[1], values, parse_int(tok[2], "step"), bins,
                         static_cast<int>(parse_int(tok[7], "max_bins")));
  } else if (kind == "image" || kind == "images") {
    expect_fields(tok, 7, "image|images <tag> <step> <file.bin> <dtype> <shape> <dataformats>");
    const at::Tensor img = load_tensor(base / tok[3], tok[4], tok[5]);
    if (kind == "image")
      writer.add_image(tok[1], img, parse_int(tok[2], "step"), tok[6]);
    else
      writer.add_images(tok[1], img, parse_int(tok[2], "step"), tok[6]);
  } else if (kind == "text") {
    expect_fields(tok, 4, "text <tag> <step> <file.txt>");
    writer.add_text(tok[1], read_file(base / tok[3]), parse_int(tok[2], "step"));
  } else if (kind == "audio") {
    expect_fields(tok, 7, "audio <tag> <step> <file.bin> <dtype> <shape> <sample_rate>");
    const at::Tensor samples = load_tensor(base / tok[3], tok[4], tok[5]);
    writer.add_audio(tok[1], samples, parse_int(tok[2], "step"), parse_double(tok[6], "sample_rate"));
  } else if (kind == "video") {
    expect_fields(tok, 7, "video <tag> <step> <file.bin> <dtype> <shape> <fps>");
    const at::Tensor video = load_tensor(base / tok[3], tok[4], tok[5]);
    writer.add_video(tok[1], video, parse_int(tok[2], "step"), parse_double(tok[6], "fps"));
  } else {
    throw ManifestError("unknown call '" + kind + "' (scalar|scalars|histogram|image|images|text|audio|video)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << (argc > 0 ? argv[0] : "write_summaries") << " <logdir> <manifest>\n";
    return 2;
  }
  const fs::path manifest_path = argv[2];
  std::ifstream manifest(manifest_path);
  if (!manifest) {
    std::cerr << "write_summaries: cannot open manifest '" << manifest_path.string() << "'\n";
    return 2;
  }
  const fs::path base = manifest_path.has_parent_path() ? manifest_path.parent_path() : fs::path(".");

  // Read and tokenize everything first, so a malformed manifest writes nothing.
  std::vector<std::pair<int, std::vector<std::string>>> lines;
  std::string line;
  for (int number = 1; std::getline(manifest, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> tok = split_ws(line);
    if (tok.empty() || tok[0][0] == '#') continue;
    lines.emplace_back(number, std::move(tok));
  }

  std::unique_ptr<trainscope::SummaryWriter> writer;
  try {
    writer = std::make_unique<trainscope::SummaryWriter>(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "write_summaries: cannot open log dir '" << argv[1] << "': " << e.what() << "\n";
    return 3;
  }

  for (const auto& [number, tok] : lines) {
    try {
      run_line(*writer, tok, base);
    } catch (const ManifestError& e) {
      std::cerr << manifest_path.string() << ":" << number << ": bad line: " << e.what() << "\n";
      writer->close();
      return 2;
    } catch (const c10::Error& e) {
      std::cerr << manifest_path.string() << ":" << number << ": SDK rejected '" << tok[0] << "': "
                << e.what_without_backtrace() << "\n";
      writer->close();
      return 3;
    } catch (const std::exception& e) {
      std::cerr << manifest_path.string() << ":" << number << ": SDK rejected '" << tok[0] << "': " << e.what()
                << "\n";
      writer->close();
      return 3;
    }
  }

  const trainscope::WriteStatus status = writer->close();
  if (!status.ok) {
    std::cerr << "write_summaries: close() reported an error: " << status.message << "\n";
    return 4;
  }
  // Payloads are resolved on the writer thread; one that throws there is dropped and only
  // counted, so check the counters too (main run; child runs only hold scalars).
  const trainscope::WriterStats stats = writer->stats();
  if (stats.encode_errors != 0 || stats.write_errors != 0 || stats.written != stats.enqueued) {
    std::cerr << "write_summaries: " << stats.encode_errors << " encode error(s), " << stats.write_errors
              << " write error(s); " << stats.written << " of " << stats.enqueued << " records written\n";
    return 4;
  }
  return 0;
}
