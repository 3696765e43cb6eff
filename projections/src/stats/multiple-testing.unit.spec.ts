import { benjaminiHochberg, holm } from './multiple-testing';

// statsmodels 0.13.5: from statsmodels.stats.multitest import multipletests;
//   multipletests(p, method='holm')[1] and multipletests(p, method='fdr_bh')[1].
const cases: Array<{ p: number[]; holm: number[]; bh: number[] }> = [
  { p: [0.01, 0.04, 0.03, 0.005], holm: [0.03, 0.06, 0.06, 0.02], bh: [0.02, 0.04, 0.04, 0.02] },
  {
    p: [0.2, 0.01, 0.5, 0.01, 0.04],
    holm: [0.4, 0.05, 0.5, 0.05, 0.12],
    bh: [0.25, 0.024999999999999998, 0.5, 0.024999999999999998, 0.06666666666666667],
  },
  {
    // Ten p-values where the step-down and step-up make several adjusted values equal.
    p: [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216],
    holm: [0.01, 0.07200000000000001, 0.312, 0.312, 0.312, 0.312, 0.312, 0.615, 0.615, 0.615],
    bh: [0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.10571428571428572, 0.216, 0.216, 0.216],
  },
  { p: [0.9, 0.8], holm: [1, 1], bh: [0.9, 0.9] },
  { p: [0.03], holm: [0.03], bh: [0.03] },
];

function expectAllClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 14));
}

describe('holm', () => {
  it.each(cases)('adjusts $p as statsmodels does', ({ p, holm: expected }) => {
    expectAllClose(holm(p), expected);
  });

  it('returns values >= the raw ones, <= 1, and monotone in the raw order', () => {
    const p = [0.04, 0.001, 0.3, 0.02, 0.02, 0.8];
    const adjusted = holm(p);
    p.forEach((raw, i) => {
      expect(adjusted[i]).toBeGreaterThanOrEqual(raw);
      expect(adjusted[i]).toBeLessThanOrEqual(1);
      p.forEach((other, j) => {
        if (raw < other) expect(adjusted[i]).toBeLessThanOrEqual(adjusted[j]);
      });
    });
  });

  it('handles the empty family and rejects values that are not probabilities', () => {
    expect(holm([])).toEqual([]);
    expect(() => holm([0.1, 1.2])).toThrow(RangeError);
    expect(() => holm([Number.NaN])).toThrow(RangeError);
  });
});

describe('benjaminiHochberg', () => {
  it.each(cases)('adjusts $p as statsmodels does', ({ p, bh: expected }) => {
    expectAllClose(benjaminiHochberg(p), expected);
  });

  it('is never more conservative than Holm', () => {
    const p = [0.04, 0.001, 0.3, 0.02, 0.02, 0.8];
    const bh = benjaminiHochberg(p);
    const h = holm(p);
    bh.forEach((v, i) => expect(v).toBeLessThanOrEqual(h[i]));
  });

  it('handles the empty family and rejects values that are not probabilities', () => {
    expect(benjaminiHochberg([])).toEqual([]);
    expect(() => benjaminiHochberg([-0.1])).toThrow(RangeError);
  });
});
