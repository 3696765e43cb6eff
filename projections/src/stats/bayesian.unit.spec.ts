import { chanceToBeatControl, probBBeatsA } from './bayesian';
import { normalCdf } from './numeric';

describe('probBBeatsA', () => {
  // Independent reference: numerical integration in mpmath 1.3.0 at mp.dps = 30,
  //   P(pB > pA) = mp.quad(lambda x: betapdf(x; alphaA, betaA) *
  //                        mp.betainc(alphaB, betaB, x, 1, regularized=True), [0, ..., 1])
  // with breakpoints at the mean of A +/- 3 and 8 standard deviations. Where checked, Evan
  // Miller's sum evaluated in mpmath at 30 digits agrees with the integral to all 17 digits.
  it.each([
    [1, 1, 1, 1, 0.5],
    [2, 3, 4, 5, 0.57575757575757576],
    [3, 1, 1, 3, 0.05],
    [11, 91, 16, 86, 0.85328378993396613],
    [101, 901, 121, 881, 0.92318343897355975],
    [41, 9961, 61, 9941, 0.97725140888759748],
    // Non-integer parameters: summed over betaA = 3 and over betaA = 7 respectively.
    [2.5, 3, 3.5, 4.5, 0.47663661546091892],
    [0.5, 7, 1.5, 0.5, 0.98798563365280485],
  ])('Beta(%p, %p) vs Beta(%p, %p): %p', (aA, bA, aB, bB, expected) => {
    expect(probBBeatsA(aA, bA, aB, bB)).toBeCloseTo(expected, 13);
  });

  it('is consistent under swapping the arms and under p -> 1 - p', () => {
    const cases: Array<[number, number, number, number]> = [
      [13, 40, 9, 51],
      [200, 3, 190, 5],
      [7.5, 20, 9, 18.25],
    ];
    for (const [aA, bA, aB, bB] of cases) {
      const p = probBBeatsA(aA, bA, aB, bB);
      expect(probBBeatsA(aB, bB, aA, bA)).toBeCloseTo(1 - p, 13);
      expect(probBBeatsA(bB, aB, bA, aA)).toBeCloseTo(p, 13);
    }
  });

  it('sums over the smallest integer parameter, so millions of exposures cost milliseconds', () => {
    // 1,000,000 vs 1,001,000 conversions out of 20,000,000 each. Reference: Evan Miller's sum in
    // mpmath at 30 digits over alphaA = 1,000,001 terms, P = 1 - f(alphaA, betaA; alphaB, betaB).
    const started = performance.now();
    const p = chanceToBeatControl(
      { conversions: 1_000_000, exposures: 20_000_000 },
      { conversions: 1_001_000, exposures: 20_000_000 },
    );
    const elapsedMs = performance.now() - started;
    expect(Math.abs(p - 0.76586731797259517)).toBeLessThan(1e-8);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('uses the normal approximation only when every parameter exceeds 1e7', () => {
    const [aA, bA, aB, bB] = [2e7, 3e7, 2e7 + 5000, 3e7];
    const mean = (a: number, b: number) => a / (a + b);
    const variance = (a: number, b: number) => (a * b) / ((a + b) ** 2 * (a + b + 1));
    const approx = normalCdf(
      (mean(aB, bB) - mean(aA, bA)) / Math.sqrt(variance(aA, bA) + variance(aB, bB)),
    );
    expect(probBBeatsA(aA, bA, aB, bB)).toBe(approx);
    // Just below the threshold the exact sum (1e7 terms) runs and agrees with the approximation
    // to ~1e-7, which is what justifies the switch.
    const exact = probBBeatsA(1e7, 3e7, 1e7 + 5000, 3e7);
    const approxBelow = normalCdf(
      (mean(1e7 + 5000, 3e7) - mean(1e7, 3e7)) /
        Math.sqrt(variance(1e7, 3e7) + variance(1e7 + 5000, 3e7)),
    );
    expect(Math.abs(exact - approxBelow)).toBeLessThan(1e-6);
  });

  it('rejects parameters it cannot handle', () => {
    expect(() => probBBeatsA(0, 1, 1, 1)).toThrow(RangeError);
    expect(() => probBBeatsA(1, 1, Number.NaN, 1)).toThrow(RangeError);
    expect(() => probBBeatsA(1, 1, 1, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => probBBeatsA(0.5, 1.5, 2.5, 3.5)).toThrow(RangeError);
  });
});

describe('chanceToBeatControl', () => {
  it('uses a Beta(1, 1) prior on each rate', () => {
    // 100/1000 vs 120/1000 is Beta(101, 901) vs Beta(121, 881): the mpmath integral above.
    expect(
      chanceToBeatControl(
        { conversions: 100, exposures: 1000 },
        { conversions: 120, exposures: 1000 },
      ),
    ).toBeCloseTo(0.92318343897355975, 13);
    expect(
      chanceToBeatControl({ conversions: 0, exposures: 0 }, { conversions: 0, exposures: 0 }),
    ).toBeCloseTo(0.5, 15);
  });

  it('is 1/2 for identical arms and moves with the evidence', () => {
    const control = { conversions: 50, exposures: 1000 };
    expect(chanceToBeatControl(control, control)).toBeCloseTo(0.5, 13);
    const better = chanceToBeatControl(control, { conversions: 80, exposures: 1000 });
    const worse = chanceToBeatControl(control, { conversions: 25, exposures: 1000 });
    expect(better).toBeGreaterThan(0.99);
    expect(worse).toBeLessThan(0.01);
  });

  it('rejects impossible counts', () => {
    expect(() =>
      chanceToBeatControl({ conversions: 5, exposures: 4 }, { conversions: 1, exposures: 4 }),
    ).toThrow(RangeError);
  });
});
