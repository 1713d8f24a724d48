// The histograms dashboard's encoder (see histograms.h).
#include "trainscope/wire/dashboards/histograms.h"

#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {

void fill_value(proto::Summary_Value* value, const HistogramData& histogram) {
  auto* histo = value->mutable_histo();
  histo->set_min(histogram.min);
  histo->set_max(histogram.max);
  histo->set_num(histogram.num);
  histo->set_sum(histogram.sum);
  histo->set_sum_squares(histogram.sum_squares);
  histo->mutable_bucket_limit()->Add(histogram.bucket_limit.begin(), histogram.bucket_limit.end());
  histo->mutable_bucket()->Add(histogram.bucket.begin(), histogram.bucket.end());
}

}  // namespace trainscope::detail
