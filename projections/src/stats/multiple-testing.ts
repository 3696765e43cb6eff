/**
 * Adjusted p-values for several comparisons in one experiment (each variant against control,
 * several metrics). Both return the adjusted values in input order, capped at 1, equal to
 * statsmodels' `multipletests(p, method='holm' | 'fdr_bh')[1]`; ties keep input order, which
 * does not change the values.
 */

function checkedOrder(pValues: readonly number[], name: string): number[] {
  pValues.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`${name}: pValues[${i}] = ${p} is not in [0, 1]`);
  });
  // Array.prototype.sort is stable, so equal p-values keep their input order.
  return pValues.map((_, i) => i).sort((i, j) => pValues[i] - pValues[j]);
}

/**
 * Holm-Bonferroni step-down (Holm 1979), controls the family-wise error rate:
 * with p(1) <= ... <= p(m), adjusted p(i) = min(1, max over j <= i of (m - j + 1) p(j)).
 */
export function holm(pValues: number[]): number[] {
  const order = checkedOrder(pValues, 'holm');
  const m = pValues.length;
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, (m - rank) * pValues[index]);
    adjusted[index] = Math.min(1, running);
  });
  return adjusted;
}

/**
 * Benjamini-Hochberg step-up (1995), controls the false discovery rate under independence or
 * positive dependence: adjusted p(i) = min(1, min over j >= i of p(j) / (j / m)).
 */
export function benjaminiHochberg(pValues: number[]): number[] {
  const order = checkedOrder(pValues, 'benjaminiHochberg');
  const m = pValues.length;
  const adjusted = new Array<number>(m);
  let running = Number.POSITIVE_INFINITY;
  for (let rank = m - 1; rank >= 0; rank--) {
    const index = order[rank];
    running = Math.min(running, pValues[index] / ((rank + 1) / m)); // statsmodels' rounding
    adjusted[index] = Math.min(1, running);
  }
  return adjusted;
}
