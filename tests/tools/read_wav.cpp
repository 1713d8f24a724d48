// read_wav <manifest>
//
// Reads WAV files with trainscope::read_wav, for tests/conformance/test_wav_reader.py (many
// files per process: the tools link libtorch, whose loading costs a second). Each manifest line
// is tab-separated:
//
//   <file.wav> <out.f32> [mono | channel=<N>]
//
// and gives one line on stdout, in order:
//
//   ok rate=<Hz> channels=<n> bits=<b> encoding=int|float frames=<n>
//   error <the reader's message>
//
// after writing the samples (interleaved, the mono mix, or one channel) to <out.f32> as
// little-endian float32. Exit status: 0 when every line was handled, 2 for a usage error or a
// bad manifest line.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "trainscope/wav_reader.h"

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, '\t');) out.push_back(field);
  return out;
}

bool write_f32(const std::string& path, const std::vector<float>& v) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(v.data(), sizeof(float), v.size(), f) == v.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: read_wav <manifest>  (lines: <file.wav>\\t<out.f32>[\\tmono | \\tchannel=N])\n";
    return 2;
  }
  std::ifstream manifest(argv[1]);
  if (!manifest) {
    std::cerr << "read_wav: cannot open " << argv[1] << "\n";
    return 2;
  }
  for (std::string line; std::getline(manifest, line);) {
    const auto fields = split_tabs(line);
    if (fields.size() < 2 || fields.size() > 3) {
      std::cerr << "read_wav: bad manifest line: " << line << "\n";
      return 2;
    }
    trainscope::WavAudio audio;
    try {
      audio = trainscope::read_wav(fields[0]);
    } catch (const trainscope::WavError& e) {
      std::cout << "error " << e.what() << "\n";
      continue;
    }
    std::vector<float> out;
    const std::string option = fields.size() == 3 ? fields[2] : "";
    if (option.empty()) {
      out = audio.samples;
    } else if (option == "mono") {
      out = audio.mono();
    } else if (option.rfind("channel=", 0) == 0) {
      out = audio.channel(std::stoul(option.substr(8)));
    } else {
      std::cerr << "read_wav: unknown option " << option << "\n";
      return 2;
    }
    if (!write_f32(fields[1], out)) {
      std::cerr << "read_wav: cannot write " << fields[1] << "\n";
      return 2;
    }
    std::cout << "ok rate=" << audio.sample_rate << " channels=" << audio.channels << " bits=" << audio.bits_per_sample
              << " encoding=" << (audio.encoding == trainscope::WavEncoding::kFloat ? "float" : "int")
              << " frames=" << audio.frames() << "\n";
  }
  return 0;
}
