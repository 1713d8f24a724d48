// Truncated standard normal: tails handled in log space (complementary error function for
// moderate arguments, the asymptotic series of Mills' ratio far in the lower tail, Newton's
// method for the inverse).
#include "truncnorm.h"

#include <cmath>
#include <limits>

namespace trainscope::sweep::detail {

namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;
const double kLogSqrt2Pi = 0.5 * std::log(2.0 * M_PI);

double ndtr(double x) { return 0.5 * std::erfc(-x * kSqrt1_2); }

// log(exp(p) - exp(q)) for p >= q.
double log_diff(double p, double q) { return p + std::log1p(-std::exp(q - p)); }

double log_add(double p, double q) {
  if (p == -INFINITY) return q;
  if (q == -INFINITY) return p;
  const double m = std::max(p, q);
  return m + std::log1p(std::exp(-std::fabs(p - q)));
}

}  // namespace

double log_ndtr(double x) {
  if (x > 6.0) return std::log1p(-ndtr(-x));
  if (x > -20.0) return std::log(ndtr(x));
  // Phi(x) = phi(x)/(-x) * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...) for x -> -inf.
  const double inv_x2 = 1.0 / (x * x);
  double sum = 1.0;
  double term = 1.0;
  for (int k = 1; k < 50; ++k) {
    const double next = -term * (2 * k - 1) * inv_x2;
    if (std::fabs(next) < std::numeric_limits<double>::epsilon() * std::fabs(sum)) break;
    term = next;
    sum += term;
  }
  return -0.5 * x * x - std::log(-x) - kLogSqrt2Pi + std::log(sum);
}

double log_gauss_mass(double a, double b) {
  if (b <= 0.0) return log_diff(log_ndtr(b), log_ndtr(a));
  if (a > 0.0) return log_diff(log_ndtr(-a), log_ndtr(-b));
  // The interval straddles 0: both excluded tails are at most one half.
  return std::log1p(-ndtr(a) - ndtr(-b));
}

double ndtri_exp(double y) {
  if (y >= 0.0) return INFINITY;
  if (y == -INFINITY) return -INFINITY;
  // Close to 0, solve for the mirrored point (log Phi(-x) = log(1 - e^y)) and flip.
  const bool flipped = y > -1e-2;
  const double z = flipped ? std::log(-std::expm1(y)) : y;
  double x = z < -5.0 ? -std::sqrt(-2.0 * (z + kLogSqrt2Pi))                // Gaussian tail
                      : -std::sqrt(3.0) / M_PI * std::log(std::expm1(-z));  // logistic fit
  for (int i = 0; i < 100; ++i) {
    const double log_phi = log_ndtr(x);
    const double log_pdf = -0.5 * x * x - kLogSqrt2Pi;
    const double dx = (log_phi - z) * std::exp(log_phi - log_pdf);
    x -= dx;
    if (!(std::fabs(dx) >= 1e-10 * std::fabs(x))) break;
  }
  return flipped ? -x : x;
}

double truncnorm_ppf(double q, double a, double b) {
  if (q <= 0.0) return a;
  if (q >= 1.0) return b;
  const double log_mass = log_gauss_mass(a, b);
  double x = 0.0;
  if (a < 0.0) {
    x = ndtri_exp(log_add(log_ndtr(a), std::log(q) + log_mass));
  } else {
    x = -ndtri_exp(log_add(log_ndtr(-b), std::log1p(-q) + log_mass));
  }
  return std::fmin(std::fmax(x, a), b);
}

double truncnorm_logpdf_standard(double x, double log_mass) { return -0.5 * x * x - kLogSqrt2Pi - log_mass; }

}  // namespace trainscope::sweep::detail
