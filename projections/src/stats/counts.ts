/** One arm of a conversion experiment: how many users were exposed and how many converted. */
export type Counts = { conversions: number; exposures: number };

/** Throws a RangeError unless 0 <= conversions <= exposures, both finite. */
export function assertCounts(counts: Counts, name: string): void {
  const { conversions, exposures } = counts;
  if (
    !Number.isFinite(conversions) ||
    !Number.isFinite(exposures) ||
    conversions < 0 ||
    conversions > exposures
  ) {
    throw new RangeError(
      `${name}: expected 0 <= conversions <= exposures, got ${conversions}/${exposures}`,
    );
  }
}
