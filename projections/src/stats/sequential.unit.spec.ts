import type { Counts } from './counts';
import { twoProportionZTest } from './frequentist';
import { sequentialTest } from './sequential';

// The formula evaluated in mpmath 1.3.0 at mp.dps = 40 (no external implementation of this exact
// variant exists to compare with; the simulations below check its behaviour):
//   rho2 = (-2 log 0.05 + log(1 - 2 log 0.05)) / 10000
//   d = xb/nb - xa/na; q = (x + 1)/(n + 2); s = sqrt(qa(1-qa)/na + qb(1-qb)/nb); v = (na+nb) rho2
//   p = min(1, exp(-(v/(1+v) (d/s)^2/2 - log(1+v)/2)))
//   ci = d -/+ s sqrt((1+v)/v (2 log(1/alpha) + log(1+v))), clipped to [-1, 1]
const references: Array<[Counts, Counts, number | undefined, number, number, number]> = [
  [
    { conversions: 100, exposures: 1000 },
    { conversions: 130, exposures: 1000 },
    undefined,
    0.41640246462384623,
    -0.018079364465293274,
    0.078079364465293274,
  ],
  [
    { conversions: 500, exposures: 5000 },
    { conversions: 600, exposures: 5000 },
    undefined,
    0.032075325301718336,
    0.001004180290117103,
    0.038995819709882897,
  ],
  [
    { conversions: 1000, exposures: 10000 },
    { conversions: 1000, exposures: 10000 },
    undefined,
    1,
    -0.012993363827569486,
    0.012993363827569486,
  ],
  [
    { conversions: 0, exposures: 100 },
    { conversions: 0, exposures: 100 },
    undefined,
    1,
    -0.093279548007499227,
    0.093279548007499227,
  ],
  [
    { conversions: 0, exposures: 50 },
    { conversions: 5, exposures: 50 },
    undefined,
    0.8924233654421391,
    -0.34676670086180778,
    0.54676670086180778,
  ],
  [
    { conversions: 4000, exposures: 40000 },
    { conversions: 4400, exposures: 40000 },
    undefined,
    0.0002262386604895478,
    0.0030374819689626106,
    0.016962518031037389,
  ],
  [
    { conversions: 1000, exposures: 10000 },
    { conversions: 1100, exposures: 10000 },
    0.01,
    0.33662760093090393,
    -0.0055101543793006406,
    0.025510154379300641,
  ],
  [
    { conversions: 10, exposures: 20 },
    { conversions: 18, exposures: 20 },
    undefined,
    0.88848983076852149,
    -1,
    1,
  ],
];

/**
 * SFC32 (Chris Doty-Humphrey's "small fast counting" generator, PractRand): a seedable 32-bit
 * PRNG, uniform in [0, 1). Chosen over mulberry32 because it needs no Math.imul, which is ~30x
 * slower inside Jest's vm contexts than in plain Node.
 */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed | 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next(); // let the seed diffuse through the state
  return next;
}

type PeekingResult = {
  sequentialRejections: number;
  naiveRejections: number;
  coverageFailures: number;
};

/**
 * Runs `experiments` A/B tests in which each user goes to either arm with probability 1/2 and
 * converts with the arm's rate; after every batch both tests are checked, and an experiment counts
 * as rejected if any look rejected (what a team peeking at a dashboard would do).
 */
function simulatePeeking(opts: {
  seed: number;
  experiments: number;
  looks: number;
  batch: number;
  rateA: number;
  rateB: number;
  alpha: number;
}): PeekingResult {
  const random = sfc32(opts.seed);
  const truth = opts.rateB - opts.rateA;
  const result: PeekingResult = {
    sequentialRejections: 0,
    naiveRejections: 0,
    coverageFailures: 0,
  };
  for (let e = 0; e < opts.experiments; e++) {
    const a = { conversions: 0, exposures: 0 };
    const b = { conversions: 0, exposures: 0 };
    let sequentialRejected = false;
    let naiveRejected = false;
    let covered = true;
    for (let look = 0; look < opts.looks; look++) {
      for (let u = 0; u < opts.batch; u++) {
        const toB = random() < 0.5;
        const arm = toB ? b : a;
        arm.exposures++;
        if (random() < (toB ? opts.rateB : opts.rateA)) arm.conversions++;
      }
      const sequential = sequentialTest(a, b, { alpha: opts.alpha });
      if (sequential.pValue <= opts.alpha) sequentialRejected = true;
      if (truth < sequential.ci[0] || truth > sequential.ci[1]) covered = false;
      if (twoProportionZTest(a, b).pValue <= opts.alpha) naiveRejected = true;
    }
    if (sequentialRejected) result.sequentialRejections++;
    if (naiveRejected) result.naiveRejections++;
    if (!covered) result.coverageFailures++;
  }
  return result;
}

describe('sequentialTest', () => {
  it.each(references)('a = %o, b = %o, alpha = %p', (a, b, alpha, pValue, lower, upper) => {
    const result = sequentialTest(a, b, alpha === undefined ? undefined : { alpha });
    expect(result.pValue).toBeCloseTo(pValue, 13);
    expect(result.ci[0]).toBeCloseTo(lower, 13);
    expect(result.ci[1]).toBeCloseTo(upper, 13);
  });

  it('has an interval that excludes 0 exactly when pValue <= alpha', () => {
    const a = { conversions: 500, exposures: 5000 };
    for (let xb = 480; xb <= 660; xb += 5) {
      for (const alpha of [0.01, 0.05, 0.1]) {
        const { pValue, ci } = sequentialTest(a, { conversions: xb, exposures: 5000 }, { alpha });
        expect(ci[0] > 0 || ci[1] < 0).toBe(pValue <= alpha);
      }
    }
  });

  it('gives a wider interval than the fixed-horizon one, and a larger p-value', () => {
    // The price of being allowed to peek.
    const a = { conversions: 480, exposures: 10000 };
    const b = { conversions: 560, exposures: 10000 };
    const sequential = sequentialTest(a, b);
    expect(sequential.pValue).toBeGreaterThan(twoProportionZTest(a, b).pValue);
    const d = 0.056 - 0.048;
    const fixedHalfWidth = 1.959963984540054 * Math.sqrt((0.048 * 0.952 + 0.056 * 0.944) / 10000);
    expect(sequential.ci[1] - d).toBeGreaterThan(fixedHalfWidth);
  });

  it('says nothing before both arms have users, and validates its input', () => {
    expect(
      sequentialTest({ conversions: 0, exposures: 0 }, { conversions: 3, exposures: 10 }),
    ).toEqual({ pValue: 1, ci: [-1, 1] });
    expect(() =>
      sequentialTest(
        { conversions: 1, exposures: 10 },
        { conversions: 1, exposures: 10 },
        { alpha: 0 },
      ),
    ).toThrow(RangeError);
    expect(() =>
      sequentialTest(
        { conversions: 1, exposures: 10 },
        { conversions: 1, exposures: 10 },
        { alpha: 1 },
      ),
    ).toThrow(RangeError);
    expect(() =>
      sequentialTest({ conversions: 12, exposures: 10 }, { conversions: 1, exposures: 10 }),
    ).toThrow(RangeError);
  });

  it('keeps the false-positive rate at alpha under peeking; the naive z-test does not', () => {
    // 500 A/A experiments, 50 looks, one every 200 users (10,000 users per experiment), 10% rate.
    const alpha = 0.05;
    const experiments = 500;
    const result = simulatePeeking({
      seed: 20240601,
      experiments,
      looks: 50,
      batch: 200,
      rateA: 0.1,
      rateB: 0.1,
      alpha,
    });
    const sequentialRate = result.sequentialRejections / experiments;
    const naiveRate = result.naiveRejections / experiments;
    // Binomial standard error of a 5% rate over 500 experiments is ~1%; allow 2 of them.
    expect(sequentialRate).toBeLessThanOrEqual(alpha + 0.02);
    // Peeking at a fixed-horizon test 50 times inflates its error rate several-fold (~25-30%).
    expect(naiveRate).toBeGreaterThan(3 * alpha);
    // Under the null the interval is the same event as the test: it contains 0 at every look
    // unless the test rejected at some look.
    expect(result.coverageFailures).toBe(result.sequentialRejections);
  });

  it('covers the true difference at every look at once, and finds a real effect', () => {
    const experiments = 300;
    const result = simulatePeeking({
      seed: 7,
      experiments,
      looks: 50,
      batch: 200,
      rateA: 0.1,
      rateB: 0.13,
      alpha: 0.05,
    });
    expect(result.coverageFailures / experiments).toBeLessThanOrEqual(0.05 + 0.025);
    // With a 3-point lift on a 10% base, 10,000 users are enough for most experiments to stop.
    expect(result.sequentialRejections / experiments).toBeGreaterThan(0.8);
  });

  it('stays valid when the horizon is far beyond the 10,000 exposures rho is tuned for', () => {
    // 200 looks of 500 users: 100,000 users at a low 2% rate.
    const experiments = 200;
    const result = simulatePeeking({
      seed: 99,
      experiments,
      looks: 200,
      batch: 500,
      rateA: 0.02,
      rateB: 0.02,
      alpha: 0.05,
    });
    expect(result.sequentialRejections / experiments).toBeLessThanOrEqual(0.05 + 0.03);
  });
});
