// SummaryWriter::add_custom_scalars and PyTorch's two shorthands: the layout is validated on
// the calling thread, then serialized by dashboards/custom_scalars.cpp and written at step 0,
// as PyTorch does.
// TensorBoard reads the latest layout of each run and merges the runs' layouts by category.
#include "trainscope/wire/dashboards/custom_scalars.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "trainscope/custom_scalars_merge.h"
#include "trainscope/limits.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

// The layout is a proto of strings: TensorBoard refuses a run whose strings are not UTF-8.
void require_utf8(std::string_view api, std::string_view what, std::string_view s) {
  if (auto at = invalid_utf8_offset(s)) {
    TORCH_CHECK_VALUE(false, api, ": ", what, " '", printable(s), "' is not valid UTF-8 (byte ", *at,
                      "); TensorBoard refuses to load a run with such a string: convert it to UTF-8");
  }
}

void check_layout(std::string_view api, const CustomScalarLayout& layout) {
  TORCH_CHECK_VALUE(!layout.categories.empty(), api, ": the layout has no categories");
  for (const CustomCategory& category : layout.categories) {
    require_utf8(api, "category title", category.title);
    for (const CustomChart& chart : category.charts) {
      require_utf8(api, "chart title", chart.title);
      if (const auto* multi = std::get_if<MultilineChart>(&chart.content)) {
        for (const auto& t : multi->tags) require_utf8(api, "tag regex", t);
      } else {
        for (const auto& series : std::get<MarginChart>(chart.content).series) {
          require_utf8(api, "tag", series.value);
          require_utf8(api, "tag", series.lower);
          require_utf8(api, "tag", series.upper);
        }
      }
    }
  }
  std::set<std::string_view> categories;
  for (size_t c = 0; c < layout.categories.size(); ++c) {
    const CustomCategory& category = layout.categories[c];
    TORCH_CHECK_VALUE(!category.title.empty(), api, ": category ", c, " has an empty title");
    TORCH_CHECK_VALUE(categories.insert(category.title).second, api, ": category '", category.title, "' appears twice");
    TORCH_CHECK_VALUE(!category.charts.empty(), api, ": category '", category.title, "' has no charts");
    std::set<std::string_view> charts;
    for (size_t k = 0; k < category.charts.size(); ++k) {
      const CustomChart& chart = category.charts[k];
      TORCH_CHECK_VALUE(!chart.title.empty(), api, ": category '", category.title, "': chart ", k,
                        " has an empty title");
      TORCH_CHECK_VALUE(charts.insert(chart.title).second, api, ": category '", category.title, "': chart '",
                        chart.title, "' appears twice");
      if (const auto* multi = std::get_if<MultilineChart>(&chart.content)) {
        TORCH_CHECK_VALUE(!multi->tags.empty(), api, ": category '", category.title, "': chart '", chart.title,
                          "': multiline chart has no tags");
        for (size_t t = 0; t < multi->tags.size(); ++t)
          TORCH_CHECK_VALUE(!multi->tags[t].empty(), api, ": category '", category.title, "': chart '", chart.title,
                            "': tag ", t, " is empty");
      } else {
        const auto& series = std::get<MarginChart>(chart.content).series;
        TORCH_CHECK_VALUE(!series.empty(), api, ": category '", category.title, "': chart '", chart.title,
                          "': margin chart has no series");
        for (size_t s = 0; s < series.size(); ++s)
          TORCH_CHECK_VALUE(!series[s].value.empty() && !series[s].lower.empty() && !series[s].upper.empty(), api,
                            ": category '", category.title, "': chart '", chart.title, "': series ", s,
                            " needs value, lower and upper tags");
      }
    }
  }
}

// The last layout written through each live SummaryWriter (for add_custom_scalars_merged).
struct Remembered {
  std::mutex mu;
  std::map<const SummaryWriter*, CustomScalarLayout> layouts;
};
Remembered& remembered() {
  static Remembered* r = new Remembered();  // never destroyed: writers may close at exit
  return *r;
}

}  // namespace

void SummaryWriter::add_custom_scalars(const CustomScalarLayout& layout) {
  check_layout("add_custom_scalars", layout);
  writer_->add(detail::kCustomScalarsTag, 0, detail::custom_scalars_tensor(layout));
  auto& r = remembered();
  std::lock_guard lk(r.mu);
  r.layouts[this] = layout;
}

CustomScalarLayout merge_layouts(const CustomScalarLayout& first, const CustomScalarLayout& second) {
  CustomScalarLayout out = first;
  for (const CustomCategory& category : second.categories) {
    auto same = std::find_if(out.categories.begin(), out.categories.end(),
                             [&](const CustomCategory& c) { return c.title == category.title; });
    if (same == out.categories.end()) {
      out.categories.push_back(category);
      continue;
    }
    same->closed = same->closed || category.closed;
    for (const CustomChart& chart : category.charts) {
      auto old = std::find_if(same->charts.begin(), same->charts.end(),
                              [&](const CustomChart& c) { return c.title == chart.title; });
      if (old == same->charts.end())
        same->charts.push_back(chart);
      else
        *old = chart;
    }
  }
  return out;
}

void add_custom_scalars_merged(SummaryWriter& writer, const CustomScalarLayout& layout) {
  CustomScalarLayout before;
  {
    auto& r = remembered();
    std::lock_guard lk(r.mu);
    if (auto it = r.layouts.find(&writer); it != r.layouts.end()) before = it->second;
  }
  writer.add_custom_scalars(merge_layouts(before, layout));
}

void detail::forget_custom_scalars(const SummaryWriter* writer) {
  auto& r = remembered();
  std::lock_guard lk(r.mu);
  r.layouts.erase(writer);
}

void SummaryWriter::add_custom_scalars_multilinechart(const std::vector<std::string>& tags, std::string_view category,
                                                      std::string_view title) {
  constexpr std::string_view api = "add_custom_scalars_multilinechart";
  TORCH_CHECK_VALUE(!tags.empty(), api, ": tags is empty");
  const CustomScalarLayout layout{
      {CustomCategory{std::string(category), {CustomChart::multiline(std::string(title), tags)}}}};
  check_layout(api, layout);
  add_custom_scalars(layout);
}

void SummaryWriter::add_custom_scalars_marginchart(const std::vector<std::string>& tags, std::string_view category,
                                                   std::string_view title) {
  constexpr std::string_view api = "add_custom_scalars_marginchart";
  // PyTorch takes exactly one (value, lower, upper) triple; more triples add more series.
  TORCH_CHECK_VALUE(!tags.empty() && tags.size() % 3 == 0, api, ": chart '", title,
                    "': expected (value, lower, upper) tag triples, got ", tags.size(), " tags (not a multiple of 3)");
  std::vector<MarginChart::Series> series;
  for (size_t i = 0; i < tags.size(); i += 3) series.push_back({tags[i], tags[i + 1], tags[i + 2]});
  const CustomScalarLayout layout{
      {CustomCategory{std::string(category), {CustomChart::margin(std::string(title), std::move(series))}}}};
  check_layout(api, layout);
  add_custom_scalars(layout);
}

}  // namespace trainscope
