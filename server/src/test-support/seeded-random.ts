/** sfc32: a small seeded generator for randomized tests, so a failing seed can be run again. */
export function seededRandom(seed: number): () => number {
  let a = seed, b = 0x9e3779b9, c = 0x243f6a88, d = 0xb7e15162;
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}
