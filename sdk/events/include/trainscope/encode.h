// Media encoders used on the writer thread: PNG (libdeflate), WAV (16-bit PCM), GIF (giflib).
#pragma once

#include <string>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope {

// PNG of an 8-bit HWC image with 1-4 channels; compression_level 0 (stored) to 9 (smallest)
// is libdeflate's level. Throws std::invalid_argument on bad shapes.
TRAINSCOPE_API std::string encode_png(const ImageData& image, int compression_level = 1);

// Mono 16-bit PCM WAV with a 44-byte RIFF header, samples clipped to [-1, 1] and scaled
// by 32767 with truncation toward zero (as PyTorch's writer does).
TRAINSCOPE_API std::string encode_wav(const AudioData& audio);

// Looping animated GIF, one frame per VideoData frame, delay 100/fps centiseconds.
// Frames with at most 256 colours are stored exactly; others are quantised.
TRAINSCOPE_API std::string encode_gif(const VideoData& video);

}  // namespace trainscope
