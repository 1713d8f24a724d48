// The images dashboard: a PNG (add_image[s]) or an animated GIF (add_video) in
// Summary.Value.image, no plugin metadata (TensorBoard's data_compat assigns image to this
// plugin). Encoding happens here, on the writer thread.
#pragma once

#include <string_view>

#include "trainscope/summary_data.h"
#include "trainscope/wire/proto_fwd.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/image/metadata.py); not written.
inline constexpr std::string_view kImagesPluginName = "images";

// Sets value.image{height, width, colorspace, PNG bytes}.
void fill_value(proto::Summary_Value* value, const ImageData& image);

// Sets value.image{height, width, colorspace, GIF bytes}, as PyTorch's add_video.
void fill_value(proto::Summary_Value* value, const VideoData& video);

}  // namespace trainscope::detail
