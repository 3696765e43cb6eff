/**
 * Deterministic variant assignment, bucket-compatible with GrowthBook's SDKs: the same seed and
 * user id land in the same bucket in Herald and in any GrowthBook SDK, so an experiment can be
 * moved between the two without reshuffling users.
 */

/**
 * 32-bit FNV-1a over UTF-16 code units (not UTF-8 bytes), as GrowthBook's JS SDK computes it.
 * For ASCII input this equals the canonical FNV-1a; for other text it deliberately follows
 * GrowthBook rather than the byte-oriented reference.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * GrowthBook's `hash(seed, value, version)`: a number in [0, 1) for versions 1 and 2, null for
 * any other version. Version 2 hashes twice to remove the bias version 1 has for similar seeds.
 */
export function gbHash(seed: string, value: string, version: 1 | 2): number | null {
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  return null;
}

/**
 * Bucket ranges [start, end) for the given weights at full coverage. Weights are normalised to sum
 * to 1 (GrowthBook instead falls back to equal weights when they do not sum to 1 within 0.01).
 * Boundaries are cumulative raw sums divided by the total, so consecutive ranges share their
 * boundary exactly, the last range ends at exactly 1 (total / total), and weights whose
 * floating-point sum is exactly 1 give GrowthBook's ranges bit for bit. Finite weights whose sum
 * overflows (two weights of 1e308) are first divided by the largest, which keeps their ratios.
 * Returns [] when the weights cannot be normalised (empty, negative, non-finite, or all zero).
 */
export function bucketRanges(weights: readonly number[]): Array<[number, number]> {
  const scaled = finiteSumWeights(weights);
  if (scaled === undefined) return [];
  weights = scaled;
  let total = 0;
  for (const w of weights) total += w;
  if (!(total > 0)) return [];
  const ranges: Array<[number, number]> = [];
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    const start = cumulative / total;
    cumulative += weights[i];
    ranges.push([start, cumulative / total]);
  }
  return ranges;
}

/**
 * The index of the variant whose range [start, end) holds `bucket` (a gbHash value), or -1 when
 * none does (bucket outside [0, 1), or weights that cannot be normalised). Zero-weight variants
 * have empty ranges and are never chosen.
 */
export function chooseVariant(bucket: number, weights: readonly number[]): number {
  const ranges = bucketRanges(weights);
  for (let i = 0; i < ranges.length; i++) {
    if (bucket >= ranges[i][0] && bucket < ranges[i][1]) return i;
  }
  return -1;
}

/**
 * The variant for `bucket` when the first `holdoutPercent` percent of [0, 1) is held out and the
 * rest is split by `weights`: the index into `weights`, or -1 in the holdout or when the weights
 * cannot be normalised. This is chooseVariant(bucket, [holdout, weights scaled to 100 - holdout])
 * multiplied through by the weights' sum W, [holdout * W, (100 - holdout) * w...], so with
 * whole-number weights and holdout every boundary is one division of two integers and a bucket on
 * a boundary (v2 buckets are multiples of 1/10000) is placed above it, as the ranges say.
 * Rescaling the bucket instead, (bucket - h) / (1 - h), rounds some of those below it.
 */
export function chooseVariantAfterHoldout(bucket: number, weights: readonly number[], holdoutPercent: number): number {
  if (holdoutPercent === 0) return chooseVariant(bucket, weights);
  const finite = finiteSumWeights(weights);
  if (finite === undefined) return -1;
  let total = 0;
  let largest = 0;
  for (const w of finite) {
    total += w;
    if (w > largest) largest = w;
  }
  // Times 100 overflows only for weights near the largest double; their ratios are what counts.
  const usable = Number.isFinite(100 * total) ? finite : finite.map((w) => w / largest);
  if (usable !== finite) total = usable.reduce((sum, w) => sum + w, 0);
  const index = chooseVariant(bucket, [holdoutPercent * total, ...usable.map((w) => (100 - holdoutPercent) * w)]);
  return Math.max(-1, index - 1);
}

/**
 * The weights unchanged when each is finite and >= 0 and their sum is finite; divided by the
 * largest when only the sum overflows (the ratios, all a split depends on, are kept); undefined
 * when a weight is negative, NaN or infinite.
 */
export function finiteSumWeights(weights: readonly number[]): readonly number[] | undefined {
  let total = 0;
  let largest = 0;
  for (const w of weights) {
    if (!Number.isFinite(w) || w < 0) return undefined;
    total += w;
    if (w > largest) largest = w;
  }
  return Number.isFinite(total) ? weights : weights.map((w) => w / largest);
}
