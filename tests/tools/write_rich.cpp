// write_rich <logdir> <manifest>
//
// Drives SummaryWriter's PR curves, meshes and embeddings from a manifest written by
// tests/conformance/test_pr_mesh_embedding.py, one call per line (whitespace-separated):
//
//   pr_curve      <tag> <step> <labels> <predictions> <num_thresholds> <weights|->
//   pr_curve_raw  <tag> <step> <num_thresholds> <tp> <fp> <tn> <fn> <precision> <recall>
//   mesh          <tag> <step> <vertices> <colors|-> <faces|-> <config.json|->
//   embedding     <tag> <step> <mat> <metadata.tsv|-> <label_img|-> <labels|table|header>
//
// A tensor is `<file.bin>:<dtype>:<shape>`: raw little-endian elements, dtype one of
// float32 float64 float16 uint8 int32 int64 bool, shape comma-separated ("3,4"). Files are
// relative to the manifest's folder. metadata.tsv holds one row per line, cells separated by
// tabs: `labels` passes the lines to the labels overload, `table` passes them as one-column
// rows, `header` takes the first line as metadata_header.
//
// TRAINSCOPE_TEST_DEVICE=cuda (or cuda:1, ...) moves every tensor to that device first.
//
// Exit status: 0 on success; 2 for a usage error or a bad manifest line; 3 when the SDK
// rejects a call (its message on stderr); 4 when close() reports an error or a record failed
// to resolve or encode.
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
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
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw ManifestError(std::string("bad ") + what + " '" + s + "'");
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ManifestError("cannot open '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<c10::Device> test_device() {
  const char* d = std::getenv("TRAINSCOPE_TEST_DEVICE");
  if (!d || !*d || std::string(d) == "cpu") return std::nullopt;
  return c10::Device(d);
}

// `<file>:<dtype>:<shape>` or `-` (undefined tensor).
at::Tensor load_tensor(const std::string& spec, const fs::path& base) {
  if (spec == "-") return {};
  const auto parts = split(spec, ':');
  if (parts.size() != 3) throw ManifestError("bad tensor '" + spec + "' (<file>:<dtype>:<shape>)");
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"uint8", at::kByte},
      {"int32", at::kInt},     {"int64", at::kLong},     {"bool", at::kBool}};
  const auto it = kTypes.find(parts[1]);
  if (it == kTypes.end()) throw ManifestError("unknown dtype '" + parts[1] + "'");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (const auto& d : split(parts[2], ',')) {
    shape.push_back(parse_int(d, "shape dimension"));
    numel *= shape.back();
  }
  std::string bytes = read_file(base / parts[0]);
  if (bytes.size() != static_cast<size_t>(numel) * c10::elementSize(it->second))
    throw ManifestError("'" + parts[0] + "' holds " + std::to_string(bytes.size()) + " bytes, not " + parts[1] + " [" +
                        parts[2] + "]");
  at::Tensor t = torch::from_blob(bytes.data(), shape, torch::TensorOptions().dtype(it->second)).clone();
  if (auto dev = test_device()) t = t.to(*dev);
  return t;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void expect_fields(const std::vector<std::string>& tok, size_t n, const char* usage) {
  if (tok.size() != n)
    throw ManifestError("'" + tok[0] + "' takes " + std::to_string(n - 1) + " fields, got " +
                        std::to_string(tok.size() - 1) + " (usage: " + usage + ")");
}

void run_line(trainscope::SummaryWriter& w, const std::vector<std::string>& tok, const fs::path& base) {
  const std::string& kind = tok[0];
  if (kind == "pr_curve") {
    expect_fields(tok, 7, "pr_curve <tag> <step> <labels> <predictions> <num_thresholds> <weights|->");
    w.add_pr_curve(tok[1], load_tensor(tok[3], base), load_tensor(tok[4], base), parse_int(tok[2], "step"),
                   static_cast<int>(parse_int(tok[5], "num_thresholds")), load_tensor(tok[6], base));
  } else if (kind == "pr_curve_raw") {
    expect_fields(tok, 10, "pr_curve_raw <tag> <step> <num_thresholds> <tp> <fp> <tn> <fn> <precision> <recall>");
    w.add_pr_curve_raw(tok[1], load_tensor(tok[4], base), load_tensor(tok[5], base), load_tensor(tok[6], base),
                       load_tensor(tok[7], base), load_tensor(tok[8], base), load_tensor(tok[9], base),
                       parse_int(tok[2], "step"), static_cast<int>(parse_int(tok[3], "num_thresholds")));
  } else if (kind == "mesh") {
    expect_fields(tok, 7, "mesh <tag> <step> <vertices> <colors|-> <faces|-> <config.json|->");
    const std::string config = tok[6] == "-" ? std::string() : read_file(base / tok[6]);
    w.add_mesh(tok[1], load_tensor(tok[3], base), load_tensor(tok[4], base), load_tensor(tok[5], base), config,
               parse_int(tok[2], "step"));
  } else if (kind == "embedding") {
    expect_fields(tok, 7, "embedding <tag> <step> <mat> <metadata.tsv|-> <label_img|-> <labels|table|header>");
    const at::Tensor mat = load_tensor(tok[3], base);
    const at::Tensor img = load_tensor(tok[5], base);
    const int64_t step = parse_int(tok[2], "step");
    std::vector<std::string> lines;
    if (tok[4] != "-") lines = read_lines(base / tok[4]);
    const std::string& mode = tok[6];
    if (mode == "labels") {
      w.add_embedding(mat, lines, img, step, tok[1]);
    } else if (mode == "table" || mode == "header") {
      std::vector<std::string> header;
      std::vector<std::vector<std::string>> rows;
      for (size_t i = 0; i < lines.size(); ++i) {
        if (mode == "header" && i == 0)
          header = split(lines[i], '\t');
        else
          rows.push_back(mode == "header" ? split(lines[i], '\t') : std::vector<std::string>{lines[i]});
      }
      w.add_embedding(mat, rows, img, step, tok[1], header);
    } else {
      throw ManifestError("bad metadata mode '" + mode + "' (labels|table|header)");
    }
  } else {
    throw ManifestError("unknown call '" + kind + "' (pr_curve|pr_curve_raw|mesh|embedding)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: write_rich <logdir> <manifest>\n";
    return 2;
  }
  const fs::path manifest_path = argv[2];
  std::ifstream manifest(manifest_path);
  if (!manifest) {
    std::cerr << "write_rich: cannot open manifest '" << manifest_path.string() << "'\n";
    return 2;
  }
  const fs::path base = manifest_path.has_parent_path() ? manifest_path.parent_path() : fs::path(".");
  std::vector<std::pair<int, std::vector<std::string>>> lines;
  std::string line;
  for (int number = 1; std::getline(manifest, line); ++number) {
    std::vector<std::string> tok = split_ws(line);
    if (tok.empty() || tok[0][0] == '#') continue;
    lines.emplace_back(number, std::move(tok));
  }

  std::unique_ptr<trainscope::SummaryWriter> writer;
  try {
    writer = std::make_unique<trainscope::SummaryWriter>(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "write_rich: cannot open log dir '" << argv[1] << "': " << e.what() << "\n";
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
      std::cerr << manifest_path.string() << ":" << number << ": SDK rejected '" << tok[0]
                << "': " << e.what_without_backtrace() << "\n";
      writer->close();
      return 3;
    } catch (const std::exception& e) {
      std::cerr << manifest_path.string() << ":" << number << ": SDK rejected '" << tok[0] << "': " << e.what() << "\n";
      writer->close();
      return 3;
    }
  }
  const trainscope::WriteStatus status = writer->close();
  if (!status.ok) {
    std::cerr << "write_rich: close() reported an error: " << status.message << "\n";
    return 4;
  }
  const trainscope::WriterStats stats = writer->stats();
  if (stats.encode_errors != 0 || stats.write_errors != 0 || stats.written != stats.enqueued) {
    std::cerr << "write_rich: " << stats.encode_errors << " encode error(s), " << stats.write_errors
              << " write error(s); " << stats.written << " of " << stats.enqueued << " records written\n";
    return 4;
  }
  return 0;
}
