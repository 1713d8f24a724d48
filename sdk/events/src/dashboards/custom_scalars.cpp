// The custom-scalars dashboard's Layout message and summary (see custom_scalars.h).
#include "trainscope/wire/dashboards/custom_scalars.h"

#include "trainscope/proto/layout.pb.h"

namespace trainscope::detail {

std::string custom_scalars_layout(const CustomScalarLayout& layout) {
  namespace pb = ::trainscope::proto;
  pb::Layout out;
  out.set_version(0);  // what TensorBoard and PyTorch write
  for (const CustomCategory& category : layout.categories) {
    pb::Category* c = out.add_category();
    c->set_title(category.title);
    c->set_closed(category.closed);
    for (const CustomChart& chart : category.charts) {
      pb::Chart* ch = c->add_chart();
      ch->set_title(chart.title);
      if (const auto* multi = std::get_if<MultilineChart>(&chart.content)) {
        auto* content = ch->mutable_multiline();
        for (const std::string& tag : multi->tags) content->add_tag(tag);
      } else {
        auto* content = ch->mutable_margin();
        for (const MarginChart::Series& s : std::get<MarginChart>(chart.content).series) {
          auto* series = content->add_series();
          series->set_value(s.value);
          series->set_lower(s.lower);
          series->set_upper(s.upper);
        }
      }
    }
  }
  return out.SerializeAsString();
}

TensorData custom_scalars_tensor(const CustomScalarLayout& layout) {
  TensorData t;
  t.dtype = WireDType::kString;
  t.shape = {};  // rank 0, as PyTorch writes it
  t.strings = {custom_scalars_layout(layout)};
  t.plugin_name = std::string(kCustomScalarsPluginName);
  return t;
}

}  // namespace trainscope::detail
