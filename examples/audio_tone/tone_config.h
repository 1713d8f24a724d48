// The settings of examples/audio_tone, read from its TOML file (tone_config.cpp; no torch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace audio_tone {

struct ToneConfig {
  // [run]
  std::string log_dir = "runs/audio_tone";  // relative to the working directory
  int64_t seed = 0;
  std::string device = "cpu";
  // [audio]
  int64_t sample_rate = 16000;                             // Hz of the generated reference
  double seconds = 1.0;                                    // its length; a target file is cut to it (0: whole)
  std::vector<double> notes_hz = {220.0, 277.18, 329.63};  // the reference chord
  std::string target;                                      // a WAV file to learn instead (relative to the TOML file)
  // [model]
  double lowest_hz = 110.0;  // the oscillator bank starts here...
  int64_t oscillators = 48;  // ...and climbs in semitones
  // [trainer]
  int64_t epochs = 10;
  int64_t steps_per_epoch = 20;
  int64_t batch_size = 2048;  // time points per step
  double lr = 0.02;
};

// Reads `path`. Throws std::runtime_error "<file>:<line>:<column>: <key>: <what is wrong>" for a
// file that cannot be read or parsed, an unknown key (with the known ones), a value of the wrong
// type or out of range.
ToneConfig load_tone_config(const std::string& path);

}  // namespace audio_tone
