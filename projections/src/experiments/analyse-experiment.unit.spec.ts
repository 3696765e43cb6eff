import type { SendStep } from '../scenarios/scenario-definition';
import { sequentialTest } from '../stats';
import { analyseExperiment, currentWinner, experimentSetup, sequentialWinner } from './analyse-experiment';
import type { ArmCounts } from './experiment-ledger';

const Z_975 = 1.959963984540054;
const arm = (variant: string, exposures: number, conversions: number, phase: ArmCounts['phase'] = 'experiment'): ArmCounts => ({
  variant,
  phase,
  exposures,
  conversions,
});
const abStep = (extra: Partial<SendStep> = {}): SendStep => ({
  channel: 'email',
  holdout: 10,
  variants: [
    { key: 'plain', weight: 50, template: 'p' },
    { key: 'discount', weight: 50, template: 'd' },
  ],
  ...extra,
});

describe('experimentSetup', () => {
  it('takes the first variant as control unless the step names one, and the autoWinner settings', () => {
    expect(experimentSetup(abStep())).toEqual({
      variants: [
        { key: 'plain', weight: 50 },
        { key: 'discount', weight: 50 },
      ],
      holdout: 10,
      control: 'plain',
      alpha: 0.05,
      minExposures: 0,
    });
    expect(experimentSetup(abStep({ control: 'discount', autoWinner: { minExposures: 300, alpha: 0.01 } }))).toMatchObject({
      control: 'discount',
      alpha: 0.01,
      minExposures: 300,
    });
    // A single template with a holdout measures sending at all: one arm, `default`.
    expect(experimentSetup({ channel: 'sms', template: 't', holdout: 20 })).toMatchObject({ variants: [{ key: 'default', weight: 1 }], control: 'default' });
  });
});

describe('analyseExperiment', () => {
  // plain (control) 100/1000, discount 120/1000, holdout 15/220, weights 45% / 45% / 10%.
  const arms = [arm('plain', 1000, 100), arm('discount', 1000, 120), arm('holdout', 220, 15)];
  const result = analyseExperiment(experimentSetup(abStep()), arms);
  const [plain, discount, holdout] = result.variants;

  it('reports the control without comparisons, then every variant against it, the holdout last', () => {
    expect(result.variants.map((v) => v.key)).toEqual(['plain', 'discount', 'holdout']);
    expect(plain).toEqual({
      key: 'plain',
      exposures: 1000,
      conversions: 100,
      rate: 0.1,
      lift: null,
      ci: null,
      pValue: null,
      adjustedPValue: null,
      chanceToBeatControl: null,
      sequentialPValue: null,
    });
  });

  it('computes rate, lift, the 95% interval and the pooled z-test p-value by their formulas', () => {
    expect(discount.rate).toBe(0.12);
    expect(discount.lift).toBeCloseTo((0.12 - 0.1) / 0.1, 14);
    // Unpooled Wald interval of 0.12 - 0.10: 0.02 -/+ 1.96 * sqrt(.1 * .9 / 1000 + .12 * .88 / 1000).
    const half = Z_975 * Math.sqrt((0.1 * 0.9) / 1000 + (0.12 * 0.88) / 1000);
    expect(discount.ci![0]).toBeCloseTo(0.02 - half, 14);
    expect(discount.ci![1]).toBeCloseTo(0.02 + half, 14);
    expect(discount.ci![0]).toBeCloseTo(-0.007411481998019935, 12);
    // Pooled rate 220 / 2000 = 0.11: z = 0.02 / sqrt(0.11 * 0.89 * (1/1000 + 1/1000)) = 1.42930...,
    // p = 2 (1 - Phi(z)) = 0.152918 (statsmodels' proportions_ztest gives the same).
    expect(discount.pValue).toBeCloseTo(0.15291778186394625, 12);
    // One variant against the control: Holm leaves its p-value alone.
    expect(discount.adjustedPValue).toBe(discount.pValue);
    // P(Beta(121, 881) > Beta(101, 901)) = 0.92318343897355975 (mpmath quadrature, see bayesian.unit.spec.ts).
    expect(discount.chanceToBeatControl).toBeCloseTo(0.92318343897355975, 13);
    // The always-valid p-value is far larger than the fixed-horizon one: the price of peeking.
    expect(discount.sequentialPValue).toBe(sequentialTest({ conversions: 100, exposures: 1000 }, { conversions: 120, exposures: 1000 }).pValue);
    expect(discount.sequentialPValue!).toBeGreaterThan(discount.pValue!);
  });

  it('compares the holdout with the control too, outside the Holm family', () => {
    expect(holdout.rate).toBeCloseTo(15 / 220, 15);
    expect(holdout.lift).toBeCloseTo(15 / 220 / 0.1 - 1, 14);
    expect(holdout.pValue).toBeCloseTo(0.14365894867247908, 12);
    expect(holdout.adjustedPValue).toBeNull();
  });

  it('checks the sample ratio against the weights, the holdout share included', () => {
    // Expected 2220 * (0.45, 0.45, 0.10) = (999, 999, 222): chi2 = 1/999 + 1/999 + 4/222, df = 2,
    // and a chi-square with 2 degrees of freedom has p = exp(-chi2 / 2).
    const chi2 = 2 / 999 + 4 / 222;
    expect(result.srm.chi2).toBeCloseTo(chi2, 15);
    expect(result.srm.pValue).toBeCloseTo(Math.exp(-chi2 / 2), 14);
    expect(result.srm.mismatch).toBe(false);
    const skewed = analyseExperiment(experimentSetup(abStep()), [arm('plain', 1100, 100), arm('discount', 900, 120), arm('holdout', 220, 15)]);
    // chi2 = 101^2/999 + 99^2/999 + 4/222 = 20.04; p = exp(-10.02) = 4.4e-5 < 0.001.
    expect(skewed.srm.chi2).toBeCloseTo((101 * 101 + 99 * 99) / 999 + 4 / 222, 12);
    expect(skewed.srm.mismatch).toBe(true);
  });

  it('gives the lift of sending at all: the holdout against the variants pooled', () => {
    expect(result.holdoutVsSending).toMatchObject({
      holdout: { exposures: 220, conversions: 15 },
      sending: { exposures: 2000, conversions: 220, rate: 0.11 },
    });
    const h = result.holdoutVsSending!;
    expect(h.lift).toBeCloseTo(0.11 / (15 / 220) - 1, 14); // 0.6133...
    expect(h.pValue).toBeCloseTo(0.05566980719081467, 12);
    expect(h.chanceToBeatHoldout).toBeGreaterThan(0.97);
    expect(h.sequentialPValue).toBeGreaterThan(h.pValue);
    // No holdout configured and none observed: nothing to compare.
    expect(analyseExperiment(experimentSetup(abStep({ holdout: undefined })), arms.slice(0, 2)).holdoutVsSending).toBeNull();
  });

  it('adjusts p-values by Holm over the variants compared with the control', () => {
    const step: SendStep = {
      channel: 'email',
      variants: [
        { key: 'a', weight: 1, template: 'a' },
        { key: 'b', weight: 1, template: 'b' },
        { key: 'c', weight: 1, template: 'c' },
      ],
    };
    const three = analyseExperiment(experimentSetup(step), [arm('a', 1000, 100), arm('b', 1000, 130), arm('c', 1000, 120)]);
    const [, b, c] = three.variants;
    // statsmodels: proportions_ztest for 130/1000 vs 100/1000 is p = 0.03548845046647471.
    expect(b.pValue).toBeCloseTo(0.03548845046647471, 12);
    expect(c.pValue).toBeCloseTo(0.15291778186394625, 12);
    // Holm, m = 2: the smaller p doubles, the larger stays (it is above the doubled smaller one).
    expect(b.adjustedPValue).toBeCloseTo(2 * 0.03548845046647471, 12);
    expect(c.adjustedPValue).toBeCloseTo(0.15291778186394625, 12);
    expect(three.srm.pValue).toBe(1);
  });

  it('keeps assignments made after a conclusion out of the comparisons, but in the holdout comparison', () => {
    const concluded = { winner: 'discount', eventId: 'ev-1' };
    const withRollout = analyseExperiment(
      experimentSetup(abStep()),
      [...arms, arm('discount', 900, 110, 'rollout'), arm('holdout', 100, 7, 'rollout')],
      { concluded },
    );
    expect(withRollout.variants).toEqual(result.variants);
    expect(withRollout.srm).toEqual(result.srm);
    expect(withRollout.winner).toBe('discount');
    expect(withRollout.concluded).toEqual(concluded);
    expect(withRollout.afterConclusion).toEqual([
      { key: 'discount', exposures: 900, conversions: 110, rate: 110 / 900 },
      { key: 'holdout', exposures: 100, conversions: 7, rate: 0.07 },
    ]);
    expect(withRollout.holdoutVsSending).toMatchObject({
      holdout: { exposures: 320, conversions: 22 },
      sending: { exposures: 2900, conversions: 330 },
    });
  });

  it('leaves arms a later version removed, a variant or the holdout, out of the sample ratio check', () => {
    // The step now splits 50/50 without a holdout; the counts still hold users of the old arms.
    const now = abStep({ holdout: undefined });
    const clean = analyseExperiment(experimentSetup(now), [arm('plain', 5000, 400), arm('discount', 5000, 600)]);
    for (const old of ['holdout', 'retired']) {
      const result = analyseExperiment(experimentSetup(now), [arm('plain', 5000, 400), arm('discount', 5000, 600), arm(old, 550, 40)]);
      expect(result.variants.map((v) => v.key)).toEqual(['plain', 'discount', old]);
      expect(result.srm).toEqual(clean.srm);
      expect(result.winner).toBe('discount');
      expect(currentWinner(experimentSetup(now), [arm('plain', 5000, 400), arm('discount', 5000, 600), arm(old, 550, 40)])).toBe('discount');
    }
  });

  it('handles arms without exposures without dividing by zero', () => {
    const empty = analyseExperiment(experimentSetup(abStep()), []);
    expect(empty.variants.map((v) => [v.key, v.exposures, v.rate, v.lift, v.ci, v.pValue])).toEqual([
      ['plain', 0, null, null, null, null],
      ['discount', 0, null, null, null, 1],
      ['holdout', 0, null, null, null, 1],
    ]);
    expect(empty.srm).toEqual({ chi2: 0, pValue: 1, mismatch: false });
    expect(empty.winner).toBeNull();
    expect(JSON.parse(JSON.stringify(empty))).toEqual(empty);
  });

  it('checks weights whose sum overflows (published before weights were bounded) by their ratios', () => {
    const huge = abStep({ variants: [{ key: 'plain', weight: 1e308, template: 'p' }, { key: 'discount', weight: 1e308, template: 'd' }] });
    const arms = [arm('plain', 1000, 100), arm('discount', 1000, 120), arm('holdout', 220, 15)];
    const overflowing = analyseExperiment(experimentSetup(huge), arms);
    const even = analyseExperiment(experimentSetup(abStep()), arms);
    expect(overflowing.srm).toEqual(even.srm);
    expect(overflowing.srm.notApplicable).toBeUndefined();
    expect(currentWinner(experimentSetup(huge), arms)).toBe(even.winner);
  });

  it('reports the sample ratio check as not applicable, instead of throwing, when the weights give no split', () => {
    const arms = [arm('plain', 1000, 100), arm('discount', 900, 120), arm('holdout', 220, 15)];
    for (const weights of [
      [0, 0],
      [Number.POSITIVE_INFINITY, 1],
      [Number.NaN, 1],
      [-1, 2],
    ]) {
      const setup = { ...experimentSetup(abStep()), variants: [{ key: 'plain', weight: weights[0] }, { key: 'discount', weight: weights[1] }] };
      const result = analyseExperiment(setup, arms);
      expect(result.srm).toEqual({ chi2: 0, pValue: 1, mismatch: false, notApplicable: 'the variant weights give no split to check (each must be a finite number > 0)' });
      expect(result.variants.map((v) => v.key)).toEqual(['plain', 'discount', 'holdout']);
      expect(() => currentWinner(setup, arms)).not.toThrow();
    }
  });
});

describe('sequentialWinner', () => {
  const setup = experimentSetup(abStep({ holdout: undefined, autoWinner: { minExposures: 1000 } }));
  const counts = (plain: [number, number], discount: [number, number]) =>
    new Map([
      ['plain', { exposures: plain[0], conversions: plain[1] }],
      ['discount', { exposures: discount[0], conversions: discount[1] }],
    ]);

  it('picks a variant the always-valid test finds better at alpha', () => {
    // 10% vs 13% over 10,000 each: sequential p = 3.7e-9.
    expect(sequentialWinner(setup, counts([10000, 1000], [10000, 1300]), false)).toBe('discount');
    // The other way round the control wins: every challenger is significantly worse.
    expect(sequentialWinner(setup, counts([10000, 1300], [10000, 1000]), false)).toBe('plain');
  });

  it('waits for minExposures in every variant, for significance, and for a clean sample ratio', () => {
    // 5% vs 9% over 2,000 each: sequential p = 1.8e-4, and both arms have the 1,000 asked for.
    expect(sequentialWinner(setup, counts([2000, 100], [2000, 180]), false)).toBe('discount');
    expect(sequentialWinner(setup, counts([999, 50], [2000, 180]), false)).toBeNull();
    // 10% vs 12% over 1,000 each: z-test p = 0.15, sequential p = 0.86: no winner.
    expect(sequentialWinner(setup, counts([1000, 100], [1000, 120]), false)).toBeNull();
    expect(sequentialWinner(setup, counts([10000, 1000], [10000, 1300]), true)).toBeNull();
  });

  it('is what analyseExperiment reports as winner before a conclusion (currentWinner, the cheap path)', () => {
    const withHoldout = experimentSetup(abStep({ autoWinner: { minExposures: 500 } }));
    for (const arms of [
      [arm('plain', 4500, 450), arm('discount', 4500, 600), arm('holdout', 1000, 80)],
      [arm('plain', 4500, 600), arm('discount', 4500, 450), arm('holdout', 1000, 80)],
      [arm('plain', 450, 45), arm('discount', 450, 90), arm('holdout', 100, 8)],
      [arm('plain', 5500, 450), arm('discount', 3500, 600), arm('holdout', 1000, 80)],
      [arm('plain', 1000, 100), arm('discount', 1000, 120)],
    ]) {
      expect(currentWinner(withHoldout, arms)).toBe(analyseExperiment(withHoldout, arms).winner);
    }
    expect(currentWinner(withHoldout, [arm('plain', 4500, 450), arm('discount', 4500, 600), arm('holdout', 1000, 80)])).toBe('discount');
  });

  it('uses the step alpha', () => {
    // sequential p = 1.8e-4 passes 0.001 but not 0.0001.
    const strict = { ...setup, alpha: 0.0001 };
    expect(sequentialWinner(strict, counts([2000, 100], [2000, 180]), false)).toBeNull();
    expect(sequentialWinner({ ...setup, alpha: 0.001 }, counts([2000, 100], [2000, 180]), false)).toBe('discount');
  });
});
