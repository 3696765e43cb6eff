import { bucketRanges, chooseVariant, chooseVariantAfterHoldout, fnv1a32, gbHash } from './assignment';

describe('fnv1a32', () => {
  // Landon Curt Noll's FNV-1a 32-bit test vectors (ASCII, where code units are bytes).
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('hashes %p to the reference value', (text, expected) => {
    expect(fnv1a32(text)).toBe(expected);
  });
});

describe('gbHash', () => {
  // GrowthBook's cross-SDK cases, "hash" section of packages/sdk-js/test/cases.json
  // (growthbook/growthbook), rows [seed, value, version, expected].
  const cases: Array<[string, string, number, number | null]> = [
    ['', 'a', 1, 0.22],
    ['', 'b', 1, 0.077],
    ['b', 'a', 1, 0.946],
    ['ef', 'd', 1, 0.652],
    ['asdf', '8952klfjas09ujk', 1, 0.549],
    ['', '123', 1, 0.011],
    ['', '___)((*":&', 1, 0.563],
    ['seed', 'a', 2, 0.0505],
    ['seed', 'b', 2, 0.2696],
    ['foo', 'ab', 2, 0.2575],
    ['foo', 'def', 2, 0.2019],
    ['89123klj', '8952klfjas09ujkasdf', 2, 0.124],
    ['90850943850283058242805', '123', 2, 0.7516],
    ['()**(%$##$%#$#', '___)((*":&', 2, 0.0128],
    ['abc', 'def', 99, null],
  ];

  it.each(cases)('hash(%p, %p, v%p) = %p', (seed, value, version, expected) => {
    expect(gbHash(seed, value, version as 1 | 2)).toBe(expected);
  });

  it('stays in [0, 1) on the 1/1000 (v1) and 1/10000 (v2) grids', () => {
    const offGrid: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const v1 = gbHash('exp-1', `user-${i}`, 1) as number;
      const v2 = gbHash('exp-1', `user-${i}`, 2) as number;
      const onGrid = (v: number, steps: number) =>
        v >= 0 && v < 1 && Math.abs(Math.round(v * steps) - v * steps) < 1e-9;
      if (!onGrid(v1, 1000) || !onGrid(v2, 10000)) offGrid.push(`user-${i}: ${v1}, ${v2}`);
    }
    expect(offGrid).toEqual([]);
  });
});

describe('bucketRanges', () => {
  // GrowthBook's "getBucketRange" cases at coverage 1, [numVariations, coverage, weights] ->
  // ranges; null weights mean equal weights.
  it.each([
    [
      'normal 50/50',
      [0.5, 0.5],
      [
        [0, 0.5],
        [0.5, 1],
      ],
    ],
    [
      '4 variations',
      [0.25, 0.25, 0.25, 0.25],
      [
        [0, 0.25],
        [0.25, 0.5],
        [0.5, 0.75],
        [0.75, 1],
      ],
    ],
    [
      'uneven weights',
      [0.4, 0.6],
      [
        [0, 0.4],
        [0.4, 1],
      ],
    ],
    [
      'uneven weights, 3 variations',
      [0.2, 0.3, 0.5],
      [
        [0, 0.2],
        [0.2, 0.5],
        [0.5, 1],
      ],
    ],
  ])('%s', (_name, weights, expected) => {
    expect(bucketRanges(weights as number[])).toEqual(expected);
  });

  it('normalises weights instead of falling back to equal weights (deliberate difference)', () => {
    // GrowthBook: [0.4, 0.1] -> [[0, 0.5], [0.5, 1]] ("weights sum below 1"),
    // [0.7, 0.6] -> equal ("weights sum above 1"), [0.4, 0.5999] -> [[0, 0.4], [0.4, 0.9999]].
    expect(bucketRanges([0.4, 0.1])).toEqual([
      [0, 0.8],
      [0.8, 1],
    ]);
    const above = bucketRanges([0.7, 0.6]);
    expect(above[0][1]).toBeCloseTo(0.7 / 1.3, 15);
    expect(above[1][1]).toBe(1);
    const almost = bucketRanges([0.4, 0.5999]);
    expect(almost[0][1]).toBeCloseTo(0.4 / 0.9999, 15);
    expect(almost[1][1]).toBe(1);
    expect(bucketRanges([1, 3])).toEqual([
      [0, 0.25],
      [0.25, 1],
    ]);
  });

  it('covers [0, 1) with no gaps, whatever the weights', () => {
    const ranges = bucketRanges([0.3334, 0.3333, 0.3333]);
    expect(ranges[0][0]).toBe(0);
    expect(ranges[1][0]).toBe(ranges[0][1]);
    expect(ranges[2][0]).toBe(ranges[1][1]);
    expect(ranges[2][1]).toBe(1);
  });

  it('returns no ranges for weights that cannot be normalised', () => {
    expect(bucketRanges([])).toEqual([]);
    expect(bucketRanges([0, 0])).toEqual([]);
    expect(bucketRanges([0.5, -0.5, 1])).toEqual([]);
    expect(bucketRanges([Number.NaN, 1])).toEqual([]);
  });
});

describe('chooseVariant', () => {
  // GrowthBook's "chooseVariation" cases whose ranges have full coverage, expressed as weights:
  // [[0, 0.5], [0.5, 1]] is [0.5, 0.5]; "zero range" [[0, 0.5], [0.5, 0.5], [0.5, 1]] is
  // [0.5, 0, 0.5]. The reduced-coverage cases have no full-coverage equivalent.
  it.each([
    ['even range, 0.2', 0.2, [0.5, 0.5], 0],
    ['even range, 0.4', 0.4, [0.5, 0.5], 0],
    ['even range, 0.6', 0.6, [0.5, 0.5], 1],
    ['even range, 0.8', 0.8, [0.5, 0.5], 1],
    ['even range, 0', 0, [0.5, 0.5], 0],
    ['even range, 0.5', 0.5, [0.5, 0.5], 1],
    ['zero range', 0.5, [0.5, 0, 0.5], 2],
  ])('%s', (_name, bucket, weights, expected) => {
    expect(chooseVariant(bucket as number, weights as number[])).toBe(expected);
  });

  it('returns -1 outside [0, 1) and for unusable weights', () => {
    expect(chooseVariant(1, [0.5, 0.5])).toBe(-1);
    expect(chooseVariant(-0.01, [0.5, 0.5])).toBe(-1);
    expect(chooseVariant(0.3, [])).toBe(-1);
    expect(chooseVariant(0.3, [0, 0])).toBe(-1);
  });

  it('splits finite weights whose sum overflows by their ratios', () => {
    expect(bucketRanges([1e308, 1e308])).toEqual([
      [0, 0.5],
      [0.5, 1],
    ]);
    expect(chooseVariant(0.49, [1e308, 1e308])).toBe(0);
    expect(chooseVariant(0.99, [1e308, 1e308])).toBe(1);
    expect(chooseVariant(0.8, [1e308, 1.5e308, 0.5e308])).toBe(1);
    expect(bucketRanges([Number.POSITIVE_INFINITY, 1])).toEqual([]);
  });

  it('never chooses a zero-weight variant', () => {
    const chosen = new Set<number>();
    for (let i = 0; i < 10000; i++) chosen.add(chooseVariant(i / 10000, [1, 0, 1]));
    expect([...chosen].sort()).toEqual([0, 2]);
  });

  it('splits hashed users in proportion to the weights', () => {
    const counts = [0, 0, 0];
    const n = 30_000;
    for (let i = 0; i < n; i++) {
      counts[chooseVariant(gbHash('welcome-subject', `u${i}`, 2) as number, [2, 1, 1])]++;
    }
    // Binomial standard deviations are ~87 and ~75; allow about 4 of them.
    expect(Math.abs(counts[0] - n / 2)).toBeLessThan(350);
    expect(Math.abs(counts[1] - n / 4)).toBeLessThan(300);
    expect(Math.abs(counts[2] - n / 4)).toBeLessThan(300);
  });
});

describe('chooseVariantAfterHoldout', () => {
  // The reference in integers: bucket k / 10000 is in variant i when
  // k / 10000 >= h / 100 + (1 - h / 100) * W(i) / W, that is k W >= 100 h W + 100 (100 - h) W(i).
  function exact(k: number, holdout: number, weights: number[]): number {
    const total = weights.reduce((sum, w) => sum + w, 0);
    if (k * total < 100 * holdout * total) return -1;
    let index = -1;
    let cumulative = 0;
    weights.forEach((w, i) => {
      if (k * total >= 100 * holdout * total + 100 * (100 - holdout) * cumulative) index = i;
      cumulative += w;
    });
    return index;
  }

  it('puts every v2 bucket where exact arithmetic puts it, boundaries included', () => {
    const wrong: string[] = [];
    for (const holdout of [0, 1, 5, 10, 13, 15, 20, 33, 40, 45, 90, 99]) {
      for (const weights of [[50, 50], [1, 3], [1, 1, 1], [1, 2, 3, 4], [7, 13], [3334, 3333, 3333]]) {
        for (let k = 0; k < 10000; k++) {
          const got = chooseVariantAfterHoldout(k / 10000, weights, holdout);
          if (got !== exact(k, holdout, weights)) wrong.push(`${k / 10000} holdout ${holdout} [${weights}]: ${got}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('is chooseVariant without a holdout, and splits overflowing weights by their ratios', () => {
    for (const bucket of [0, 0.2, 0.3334, 0.5, 0.6667, 0.9999]) {
      expect(chooseVariantAfterHoldout(bucket, [0.3334, 0.3333, 0.3333], 0)).toBe(chooseVariant(bucket, [0.3334, 0.3333, 0.3333]));
    }
    expect(chooseVariantAfterHoldout(0.55, [1e307, 1e307], 10)).toBe(1);
    expect(chooseVariantAfterHoldout(0.5499, [1e308, 1e308], 10)).toBe(0);
    expect(chooseVariantAfterHoldout(0.05, [1, 1], 10)).toBe(-1);
    expect(chooseVariantAfterHoldout(0.5, [0, 0], 10)).toBe(-1);
  });
});

describe("GrowthBook's other cross-SDK cases that reduce to gbHash and chooseVariant", () => {
  // "inNamespace" rows [id, [namespace, start, end], expected]: GrowthBook's inNamespace is
  // hash("__" + namespace, id, 1) in [start, end).
  it.each([
    ['1', 'namespace1', 0, 0.4, false], ['1', 'namespace1', 0.4, 1, true], ['1', 'namespace2', 0, 0.4, false], ['1', 'namespace2', 0.4, 1, true],
    ['2', 'namespace1', 0, 0.4, false], ['2', 'namespace1', 0.4, 1, true], ['2', 'namespace2', 0, 0.4, false], ['2', 'namespace2', 0.4, 1, true],
    ['3', 'namespace1', 0, 0.4, false], ['3', 'namespace1', 0.4, 1, true], ['3', 'namespace2', 0, 0.4, true], ['3', 'namespace2', 0.4, 1, false],
    ['4', 'namespace1', 0, 0.4, false], ['4', 'namespace1', 0.4, 1, true], ['4', 'namespace2', 0, 0.4, true], ['4', 'namespace2', 0.4, 1, false],
  ] as const)('inNamespace(%p, [%p, %p, %p]) = %p', (id, namespace, start, end, expected) => {
    const n = gbHash(`__${namespace}`, id, 1)!;
    expect(n >= start && n < end).toBe(expected);
  });

  // "run" rows at full coverage: experiment key "my-test" is the seed, hash version 1, users "1".."9".
  it.each([
    ['default weights', [0.5, 0.5], [1, 0, 0, 1, 1, 1, 0, 1, 0]],
    ['uneven weights', [0.1, 0.9], [1, 1, 0, 1, 1, 1, 0, 1, 1]],
    ['three way test', [1 / 3, 1 / 3, 1 / 3], [2, 0, 0, 2, 1, 2, 0, 1, 0]],
  ])('run: %s', (_name, weights, expected) => {
    expect(expected.map((_, i) => chooseVariant(gbHash('my-test', String(i + 1), 1)!, weights))).toEqual(expected);
  });

  // Buckets the "feature" and "stickyBucket" rows report, [seed, id, version, bucket].
  it.each([
    ['feature', '123', 1, 0.863],
    ['feature', '456', 1, 0.178],
    ['feature', 'fds', 1, 0.514],
    ['feature', '123', 2, 0.5231],
    ['feature-exp', 'i123', 2, 0.9943],
    ['feature-exp', 'd123', 2, 0.6468],
  ] as const)('bucket of hash(%p, %p, v%p) = %p', (seed, id, version, bucket) => {
    expect(gbHash(seed, id, version)).toBe(bucket);
  });
});
