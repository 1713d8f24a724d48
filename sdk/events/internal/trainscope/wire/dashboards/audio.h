// The audio dashboard: a 16-bit PCM WAV in Summary.Value.audio, no plugin metadata
// (TensorBoard's data_compat assigns audio to this plugin). Encoding happens here, on the
// writer thread.
#pragma once

#include <string_view>

#include "trainscope/summary_data.h"
#include "trainscope/wire/proto_fwd.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/audio/metadata.py); not written.
inline constexpr std::string_view kAudioPluginName = "audio";

// Sets value.audio{sample_rate, 1 channel, length_frames, WAV bytes, "audio/wav"}.
void fill_value(proto::Summary_Value* value, const AudioData& audio);

}  // namespace trainscope::detail
