/**
 * Experiment statistics: assignment compatible with GrowthBook, frequentist, Bayesian and
 * sequential comparisons of conversion rates, sample-ratio-mismatch checks and multiple-testing
 * corrections. Pure functions of counts; formulas and sources are in docs/statistics.md.
 */
export { gbHash, chooseVariant } from './assignment';
export type { Counts } from './counts';
export { twoProportionZTest, srmTest } from './frequentist';
export { probBBeatsA, chanceToBeatControl } from './bayesian';
export { holm, benjaminiHochberg } from './multiple-testing';
export { sequentialTest } from './sequential';
