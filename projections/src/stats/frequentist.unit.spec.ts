import { srmTest, twoProportionZTest } from './frequentist';

function expectRelClose(actual: number, expected: number, relTol: number): void {
  if (expected === 0) {
    expect(Math.abs(actual)).toBeLessThanOrEqual(relTol);
    return;
  }
  expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThanOrEqual(relTol);
}

describe('twoProportionZTest', () => {
  // statsmodels 0.13.5, from statsmodels.stats.proportion import proportions_ztest:
  //   z, p = proportions_ztest([b.conversions, a.conversions], [b.exposures, a.exposures])
  // (value=0, alternative='two-sided', prop_var=False: the pooled test).
  it.each([
    [[100, 1000], [130, 1000], 2.102740605622114, 0.03548845046647471],
    [[200, 5000], [250, 5000], 2.4119153509747395, 0.015868965355166954],
    [[50, 1000], [45, 1200], -1.436230428841623, 0.15093678312955602],
    [[12, 340], [30, 360], 2.6748414540564376, 0.007476459804147379],
    [[1000, 100000], [1200, 100000], 4.287661676366146, 1.805638279914011e-5],
    [[3, 10], [7, 10], 1.7888543819998317, 0.07363827012030266],
    [[480, 10000], [520, 10000], 1.2977713690460992, 0.1943659108031094],
    [[1, 1000], [20, 1000], 4.1680800798172974, 3.071760251656027e-5],
    // Far tails: p comes from erfc, so it keeps its relative precision instead of rounding to 0.
    [[300, 10000], [700, 10000], 12.977713690461005, 1.6369429831742206e-38],
    [[1000, 100000], [3000, 100000], 31.94382824999699, 6.581293073048448e-224],
  ])('a = %p, b = %p: z = %p, p = %p', ([ca, na], [cb, nb], z, p) => {
    const result = twoProportionZTest(
      { conversions: ca, exposures: na },
      { conversions: cb, exposures: nb },
    );
    expectRelClose(result.z, z, 1e-13);
    expectRelClose(result.pValue, p, 1e-12);
  });

  it('is antisymmetric in its arguments', () => {
    const a = { conversions: 40, exposures: 900 };
    const b = { conversions: 61, exposures: 1000 };
    const ab = twoProportionZTest(a, b);
    const ba = twoProportionZTest(b, a);
    expect(ba.z).toBeCloseTo(-ab.z, 14);
    expect(ba.pValue).toBeCloseTo(ab.pValue, 15);
  });

  it('reports no evidence where the pooled variance is zero or an arm is empty', () => {
    expect(
      twoProportionZTest({ conversions: 0, exposures: 100 }, { conversions: 0, exposures: 80 }),
    ).toEqual({ z: 0, pValue: 1 });
    expect(
      twoProportionZTest({ conversions: 50, exposures: 50 }, { conversions: 9, exposures: 9 }),
    ).toEqual({ z: 0, pValue: 1 });
    expect(
      twoProportionZTest({ conversions: 0, exposures: 0 }, { conversions: 3, exposures: 9 }),
    ).toEqual({ z: 0, pValue: 1 });
  });

  it('rejects impossible counts', () => {
    expect(() =>
      twoProportionZTest({ conversions: 11, exposures: 10 }, { conversions: 1, exposures: 10 }),
    ).toThrow(RangeError);
    expect(() =>
      twoProportionZTest({ conversions: 1, exposures: 10 }, { conversions: -1, exposures: 10 }),
    ).toThrow(RangeError);
    expect(() =>
      twoProportionZTest(
        { conversions: Number.NaN, exposures: 10 },
        { conversions: 1, exposures: 10 },
      ),
    ).toThrow(RangeError);
  });
});

describe('srmTest', () => {
  // scipy 1.10.1: r = scipy.stats.chisquare(observed, f_exp=sum(observed) * w / sum(w)),
  // (r.statistic, r.pvalue).
  it.each([
    [[5000, 5000], [1, 1], 0, 1],
    [[5100, 4900], [1, 1], 4, 0.04550026389635857],
    [[5200, 4800], [0.5, 0.5], 16, 6.334248366623988e-5],
    [[1000, 1050, 980], [1, 1, 1], 2.5742574257425743, 0.2760623003390021],
    [[3300, 3300, 3400], [0.3334, 0.3333, 0.3333], 2.0202980106048907, 0.3641647130554156],
    [[821, 179], [0.8, 0.2], 2.75625, 0.09687507502627439],
    [[9000, 11000], [0.5, 0.5], 200, 2.0884875837625688e-45],
    [[100, 120, 130, 90], [1, 1, 1, 1], 9.09090909090909, 0.028106302856955485],
    [[300, 710], [3, 7], 0.042432814710042434, 0.8367969505892181],
  ])('observed %p against weights %p: chi2 = %p, p = %p', (observed, weights, chi2, p) => {
    const result = srmTest(observed, weights);
    expectRelClose(result.chi2, chi2, 1e-12);
    expectRelClose(result.pValue, p, 1e-12);
  });

  it('ignores empty zero-weight cells and flags populated ones', () => {
    const withEmpty = srmTest([5100, 0, 4900], [1, 0, 1]);
    expectRelClose(withEmpty.chi2, 4, 1e-12);
    expectRelClose(withEmpty.pValue, 0.04550026389635857, 1e-12);
    expect(srmTest([5100, 3, 4900], [1, 0, 1])).toEqual({
      chi2: Number.POSITIVE_INFINITY,
      pValue: 0,
    });
  });

  it('tests finite weights whose sum overflows by their ratios instead of throwing', () => {
    const overflowing = srmTest([5100, 4900], [1e308, 1e308]);
    expectRelClose(overflowing.chi2, 4, 1e-12);
    expectRelClose(overflowing.pValue, 0.04550026389635857, 1e-12);
    const large = srmTest([300, 710], [3e307, 7e307]);
    expectRelClose(large.chi2, 0.042432814710042434, 1e-12);
    expect(srmTest([0, 0], [1e308, 1e308])).toEqual({ chi2: 0, pValue: 1 });
  });

  it('has nothing to test without observations or with one cell', () => {
    expect(srmTest([0, 0], [1, 1])).toEqual({ chi2: 0, pValue: 1 });
    expect(srmTest([10], [1])).toEqual({ chi2: 0, pValue: 1 });
  });

  it('rejects malformed input', () => {
    expect(() => srmTest([1, 2], [1])).toThrow(RangeError);
    expect(() => srmTest([1, -2], [1, 1])).toThrow(RangeError);
    expect(() => srmTest([1, 2], [1, -1])).toThrow(RangeError);
    expect(() => srmTest([1, 2], [0, 0])).toThrow(RangeError);
  });
});
