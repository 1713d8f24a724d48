// The images dashboard's encoders (see images.h).
#include "trainscope/wire/dashboards/images.h"

#include <string>
#include <utility>

#include "trainscope/encode.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {
namespace {

void set_image(proto::Summary_Value* value, int height, int width, int channels, std::string encoded) {
  auto* out = value->mutable_image();
  out->set_height(height);
  out->set_width(width);
  out->set_colorspace(channels);
  out->set_encoded_image_string(std::move(encoded));
}

}  // namespace

void fill_value(proto::Summary_Value* value, const ImageData& image) {
  set_image(value, image.height, image.width, image.channels, encode_png(image));
}

void fill_value(proto::Summary_Value* value, const VideoData& video) {
  set_image(value, video.height, video.width, video.channels, encode_gif(video));
}

}  // namespace trainscope::detail
