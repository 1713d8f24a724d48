// make_pruner: the pruner named by PrunerOptions::kind ("none" never prunes).
#include <stdexcept>

#include "pruners.h"

namespace trainscope::sweep {

namespace {

class NopPruner final : public Pruner {
 public:
  bool prune(const std::vector<Trial>&, const Trial&, Direction, PrunerAttrs*) override { return false; }
};

}  // namespace

std::unique_ptr<Pruner> make_pruner(const PrunerOptions& options) {
  if (options.kind == "none") return std::make_unique<NopPruner>();
  if (options.kind == "median") return detail::make_percentile_pruner(50.0, options);
  if (options.kind == "successive_halving") return detail::make_successive_halving_pruner(options);
  throw std::invalid_argument("unknown pruner '" + options.kind +
                              "': use \"none\", \"median\" or \"successive_halving\"");
}

}  // namespace trainscope::sweep
