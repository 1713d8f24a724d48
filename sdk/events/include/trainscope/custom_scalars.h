// Types for SummaryWriter::add_custom_scalars: the layout of the custom-scalars dashboard
// (torch-free). A layout is a list of categories, each a list of charts over scalar tags.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace trainscope {

// Several scalar tags on one plot. Each entry is a regular expression over tag names.
struct MultilineChart {
  std::vector<std::string> tags;
};

// A value line with a lower/upper band around it; each series names three exact scalar tags.
struct MarginChart {
  struct Series {
    std::string value, lower, upper;
  };
  std::vector<Series> series;
};

struct CustomChart {
  std::string title;
  std::variant<MultilineChart, MarginChart> content;

  static CustomChart multiline(std::string title, std::vector<std::string> tags) {
    return {std::move(title), MultilineChart{std::move(tags)}};
  }
  static CustomChart margin(std::string title, std::vector<MarginChart::Series> series) {
    return {std::move(title), MarginChart{std::move(series)}};
  }
};

struct CustomCategory {
  std::string title;
  std::vector<CustomChart> charts;
  bool closed = false;  // collapsed when the dashboard opens
};

// Categories and charts keep their order. Titles are unique within their level (as the keys
// of PyTorch's layout dict).
struct CustomScalarLayout {
  std::vector<CustomCategory> categories;
};

}  // namespace trainscope
