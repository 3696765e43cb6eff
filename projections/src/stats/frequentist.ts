import { finiteSumWeights } from './assignment';
import { assertCounts, type Counts } from './counts';
import { chiSquareSf, erfc } from './numeric';

/**
 * Pooled two-proportion z-test of H0: rate(b) = rate(a), two-sided, as statsmodels'
 * `proportions_ztest([b.conversions, a.conversions], [b.exposures, a.exposures])`:
 * z = (pB - pA) / sqrt(p(1 - p)(1/nA + 1/nB)) with p the pooled rate. z > 0 means b converts
 * better. Where statsmodels would divide by zero (an empty arm, or a pooled rate of 0 or 1) this
 * returns z = 0 and pValue = 1: there is no evidence of a difference.
 */
export function twoProportionZTest(a: Counts, b: Counts): { z: number; pValue: number } {
  assertCounts(a, 'a');
  assertCounts(b, 'b');
  if (a.exposures === 0 || b.exposures === 0) return { z: 0, pValue: 1 };
  const pooled = (a.conversions + b.conversions) / (a.exposures + b.exposures);
  const variance = pooled * (1 - pooled) * (1 / a.exposures + 1 / b.exposures);
  if (!(variance > 0)) return { z: 0, pValue: 1 };
  const z = (b.conversions / b.exposures - a.conversions / a.exposures) / Math.sqrt(variance);
  // 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt 2), without cancellation for large |z|.
  return { z, pValue: erfc(Math.abs(z) / Math.SQRT2) };
}

/**
 * Sample-ratio-mismatch check: Pearson's chi-square goodness of fit of the observed counts per
 * variant against the split the weights ask for (normalised), df = k - 1, as
 * `scipy.stats.chisquare(observed, total * w / sum(w))`. A cell with weight 0 and no
 * observations is left out (and does not count towards df); a cell with weight 0 but
 * observations makes chi2 infinite and pValue 0. With no observations, or fewer than two cells
 * left, there is nothing to test: chi2 = 0, pValue = 1. Finite weights whose sum overflows
 * (1e308 and 1e308) are divided by the largest first, so they are tested by their ratios.
 */
export function srmTest(observed: number[], weights: readonly number[]): { chi2: number; pValue: number } {
  if (observed.length !== weights.length) {
    throw new RangeError(
      `srmTest: ${observed.length} observed counts but ${weights.length} weights`,
    );
  }
  let total = 0;
  let weightTotal = 0;
  for (let i = 0; i < observed.length; i++) {
    if (!Number.isFinite(observed[i]) || observed[i] < 0) {
      throw new RangeError(`srmTest: observed[${i}] must be a finite count >= 0`);
    }
    if (!Number.isFinite(weights[i]) || weights[i] < 0) {
      throw new RangeError(`srmTest: weights[${i}] must be finite and >= 0`);
    }
    total += observed[i];
  }
  weights = finiteSumWeights(weights) ?? weights;
  for (const w of weights) weightTotal += w;
  if (!(weightTotal > 0)) throw new RangeError('srmTest: weights must not all be 0');
  if (total === 0) return { chi2: 0, pValue: 1 };

  let chi2 = 0;
  let cells = 0;
  for (let i = 0; i < observed.length; i++) {
    const product = (total * weights[i]) / weightTotal;
    // Weights near the largest double overflow total * weight; their share does not.
    const expected = Number.isFinite(product) ? product : total * (weights[i] / weightTotal);
    if (expected === 0) {
      if (observed[i] === 0) continue;
      return { chi2: Number.POSITIVE_INFINITY, pValue: 0 };
    }
    const diff = observed[i] - expected;
    chi2 += (diff * diff) / expected;
    cells++;
  }
  if (cells < 2) return { chi2: 0, pValue: 1 };
  return { chi2, pValue: chiSquareSf(chi2, cells - 1) };
}
