// The projector dashboard's names and config text (see projector.h).
#include "trainscope/wire/dashboards/projector.h"

namespace trainscope::detail {
namespace {

// A quoted string as protobuf's text_format.MessageToString writes it (UTF-8 kept).
void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\'':
        out += "\\'";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[5] = {'\\', static_cast<char>('0' + (c >> 6)), static_cast<char>('0' + ((c >> 3) & 7)),
                         static_cast<char>('0' + (c & 7)), 0};
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string file_in(std::string_view subdir, std::string_view file) {
  std::string path(subdir);
  path += '/';
  path += file;
  return path;
}

}  // namespace

std::string projector_step_dir(int64_t step) {
  const bool neg = step < 0;
  std::string digits = std::to_string(step);
  if (neg) digits.erase(0, 1);
  const size_t width = neg ? 4 : 5;
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return neg ? "-" + digits : digits;
}

std::string projector_tag_dir(std::string_view tag) {
  std::string out;
  for (char c : tag) {
    if (c == '%')
      out += "%25";
    else if (c == '/')
      out += "%2f";
    else if (c == '\\')
      out += "%5c";
    else
      out += c;
  }
  return out;
}

std::string projector_config_entry(std::string_view tag, std::string_view step_dir, std::string_view subdir,
                                   bool has_metadata, std::optional<std::pair<int64_t, int64_t>> sprite_wh) {
  std::string e = "embeddings {\n  tensor_name: ";
  append_quoted(e, std::string(tag) + ":" + std::string(step_dir));
  if (has_metadata) {
    e += "\n  metadata_path: ";
    append_quoted(e, file_in(subdir, kProjectorMetadataFile));
  }
  if (sprite_wh) {
    e += "\n  sprite {\n    image_path: ";
    append_quoted(e, file_in(subdir, kProjectorSpriteFile));
    e += "\n    single_image_dim: " + std::to_string(sprite_wh->first);
    e += "\n    single_image_dim: " + std::to_string(sprite_wh->second);
    e += "\n  }";
  }
  e += "\n  tensor_path: ";
  append_quoted(e, file_in(subdir, kProjectorTensorsFile));
  e += "\n}\n";
  return e;
}

}  // namespace trainscope::detail
