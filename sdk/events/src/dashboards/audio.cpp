// The audio dashboard's encoder (see audio.h).
#include "trainscope/wire/dashboards/audio.h"

#include "trainscope/encode.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {

void fill_value(proto::Summary_Value* value, const AudioData& audio) {
  auto* out = value->mutable_audio();
  out->set_sample_rate(audio.sample_rate);
  out->set_num_channels(1);
  out->set_length_frames(static_cast<int64_t>(audio.samples.size()));
  out->set_encoded_audio_string(encode_wav(audio));
  out->set_content_type("audio/wav");
}

}  // namespace trainscope::detail
