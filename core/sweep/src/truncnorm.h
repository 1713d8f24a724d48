// The standard normal distribution truncated to [a, b], in log space where it matters: what
// TPE's kernels need (Optuna's samplers/_tpe/_truncnorm.py computes the same quantities).
#pragma once

namespace trainscope::sweep::detail {

// log Phi(x), accurate far into both tails.
double log_ndtr(double x);
// log(Phi(b) - Phi(a)) for a <= b: the log probability mass of [a, b].
double log_gauss_mass(double a, double b);
// x such that log Phi(x) = y (y <= 0).
double ndtri_exp(double y);
// The quantile q in [0, 1] of the standard normal truncated to [a, b].
double truncnorm_ppf(double q, double a, double b);
// log density at x of the standard normal truncated to [a, b] (-inf outside), given
// log_mass = log_gauss_mass(a, b).
double truncnorm_logpdf_standard(double x, double log_mass);

}  // namespace trainscope::sweep::detail
