// make_sampler: the sampler named by SamplerOptions::kind.
#include <stdexcept>

#include "samplers.h"

namespace trainscope::sweep {

std::unique_ptr<Sampler> make_sampler(const SamplerOptions& options) {
  if (options.kind == "tpe") {
    if (options.n_startup_trials < 0) throw std::invalid_argument("tpe: n_startup_trials must be >= 0");
    if (options.n_ei_candidates < 1) throw std::invalid_argument("tpe: n_ei_candidates must be >= 1");
    return detail::make_tpe_sampler(options);
  }
  if (options.kind == "random") return detail::make_random_sampler(options);
  if (options.kind == "grid") return detail::make_grid_sampler(options);
  throw std::invalid_argument("unknown sampler '" + options.kind + "': use \"tpe\", \"random\" or \"grid\"");
}

}  // namespace trainscope::sweep
