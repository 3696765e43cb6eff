/** A/B tests of scenario steps: exposures and conversions from the log, results, and conclusions. */
export * from './experiment-ledger';
export * from './analyse-experiment';
export * from './auto-winner';
