import { assertCounts, type Counts } from './counts';

/**
 * Always-valid inference on the difference of conversion rates, b - a, for experiments whose
 * results are looked at while they run.
 *
 * The test is the normal-mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
 * Pekelis and Walsh, "Peeking at A/B tests" (KDD 2017; "Always valid inference", Operations
 * Research 2022), in its normal approximation: the estimate d = pB - pA is treated as
 * N(theta, s^2) and theta is mixed over N(theta0, tau^2), giving the likelihood ratio
 *   Lambda(theta0) = sqrt(s^2 / (s^2 + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 s^2 (s^2 + tau^2))).
 * The mixing variance is a fixed multiple of the per-user variance, tau^2 = rho^2 * t * s^2
 * (t = total exposures), which makes this exactly the asymptotic confidence sequence of
 * Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and
 * asymptotic confidence sequences" (Annals of Statistics 2024), with v = t rho^2:
 *   log Lambda(theta0) = (v / (1 + v)) z^2 / 2 - log(1 + v) / 2,   z = (d - theta0) / s,
 *   pValue = min(1, 1 / Lambda(0)),
 *   ci = d -/+ s sqrt(((1 + v) / v) (2 log(1 / alpha) + log(1 + v))).
 * By Ville's inequality P(exists t: Lambda_t(theta) >= 1/alpha) <= alpha (asymptotically, with
 * the variance estimated), so rejecting whenever pValue <= alpha, at any look, keeps the type I
 * error at alpha, and the interval covers the true difference at all looks at once with
 * probability 1 - alpha. The interval is exactly the set of theta0 whose pValue would exceed
 * alpha.
 *
 * Choices (see docs/statistics.md):
 * - rho^2 = (-2 log a0 + log(1 - 2 log a0)) / t*, with a0 = 0.05 and t* = 10,000 total exposures:
 *   the value that makes the boundary tightest at t* (Howard, Ramdas, McAuliffe, Sekhon,
 *   "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Stat. 2021). It does
 *   not depend on opts.alpha, so pValue is one well-defined number and ci matches it at any alpha.
 * - s^2 = qA(1 - qA)/nA + qB(1 - qB)/nB with Laplace-smoothed rates q = (x + 1)/(n + 2): never
 *   zero (an arm with no conversions yet still has uncertainty), never smaller than the plain
 *   plug-in variance, and asymptotically the same.
 * - The function is stateless: pValue and ci are those of the current counts. The always-valid
 *   guarantee holds for them at any look; a caller who wants a p-value that never rises and an
 *   interval that never widens keeps the running minimum / running intersection over looks.
 */

const DESIGN_ALPHA = 0.05;
const DESIGN_EXPOSURES = 10_000;
const RHO_SQUARED =
  (-2 * Math.log(DESIGN_ALPHA) + Math.log(1 - 2 * Math.log(DESIGN_ALPHA))) / DESIGN_EXPOSURES;

function smoothedRateVariance(counts: Counts): number {
  const q = (counts.conversions + 1) / (counts.exposures + 2);
  return (q * (1 - q)) / counts.exposures;
}

/**
 * Always-valid p-value and 1 - alpha confidence sequence for rate(b) - rate(a), alpha 0.05 by
 * default; safe to check after every batch of users. See the comment at the top of this file.
 */
export function sequentialTest(
  a: Counts,
  b: Counts,
  opts?: { alpha?: number },
): { pValue: number; ci: [number, number] } {
  assertCounts(a, 'a');
  assertCounts(b, 'b');
  const alpha = opts?.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) {
    throw new RangeError(`sequentialTest: alpha must be in (0, 1), got ${alpha}`);
  }
  if (a.exposures === 0 || b.exposures === 0) return { pValue: 1, ci: [-1, 1] };

  const diff = b.conversions / b.exposures - a.conversions / a.exposures;
  const s = Math.sqrt(smoothedRateVariance(a) + smoothedRateVariance(b));
  const v = (a.exposures + b.exposures) * RHO_SQUARED;
  const z = diff / s;
  const logLambda = ((v / (1 + v)) * z * z) / 2 - Math.log1p(v) / 2;
  const pValue = Math.min(1, Math.exp(-logLambda));
  const half = s * Math.sqrt(((1 + v) / v) * (2 * Math.log(1 / alpha) + Math.log1p(v)));
  return { pValue, ci: [Math.max(-1, diff - half), Math.min(1, diff + half)] };
}
