/**
 * The results of one A/B step: every variant (and the holdout) against the control, the sample
 * ratio check against the configured weights, the lift of sending at all (holdout against the
 * pooled variants) and the winner. Formulas in docs/statistics.md, section "Experiment results".
 */
import type { SendStep } from '../scenarios/scenario-definition';
import { HOLDOUT_KEY } from '../scenarios/parse-scenario';
import { chanceToBeatControl, holm, sequentialTest, srmTest, twoProportionZTest, type Counts } from '../stats';
import { finiteSumWeights } from '../stats/assignment';
import type { ArmCounts } from './experiment-ledger';

/** The sample ratio mismatch flag: p below this means the split is not what the weights ask for. */
export const SRM_THRESHOLD = 0.001;
export const DEFAULT_EXPERIMENT_ALPHA = 0.05;
/** z for a two-sided 95% interval, Phi^-1(0.975). */
const Z_975 = 1.959963984540054;
/** The arm of a send step with a holdout but a single template. */
export const DEFAULT_VARIANT_KEY = 'default';

/** What the analysis needs of a send step: its arms, their weights, the holdout and the control. */
export interface ExperimentSetup {
  variants: Array<{ key: string; weight: number }>;
  /** Percentage 0-100 of enrolments held out. */
  holdout: number;
  /** The control's key: `control:` or the first variant. */
  control: string;
  /** Significance level of the winner decision (autoWinner.alpha, default 0.05). */
  alpha: number;
  /** autoWinner.minExposures, or 0. */
  minExposures: number;
}

export function experimentSetup(send: SendStep): ExperimentSetup {
  const variants = send.variants?.length ? send.variants.map(({ key, weight }) => ({ key, weight })) : [{ key: DEFAULT_VARIANT_KEY, weight: 1 }];
  const control = send.control && variants.some((v) => v.key === send.control) ? send.control : variants[0].key;
  return {
    variants,
    holdout: send.holdout ?? 0,
    control,
    alpha: send.autoWinner?.alpha ?? DEFAULT_EXPERIMENT_ALPHA,
    minExposures: send.autoWinner?.minExposures ?? 0,
  };
}

export interface VariantResult {
  key: string;
  exposures: number;
  conversions: number;
  /** conversions / exposures; null without exposures. */
  rate: number | null;
  /** (rate - control rate) / control rate; null for the control and when the control rate is 0 or unknown. */
  lift: number | null;
  /** 95% (unpooled Wald) interval of rate - control rate; null for the control or an empty arm. */
  ci: [number, number] | null;
  /** Pooled two-proportion z-test against the control, two-sided; null for the control. */
  pValue: number | null;
  /** Holm-adjusted pValue over the variant-vs-control comparisons; null for the control and the holdout. */
  adjustedPValue: number | null;
  /** P(rate > control rate) under Beta(1, 1) priors; null for the control. */
  chanceToBeatControl: number | null;
  /** Always-valid (mSPRT) p-value against the control; null for the control. */
  sequentialPValue: number | null;
}

export interface HoldoutVsSending {
  holdout: Counts & { rate: number | null };
  sending: Counts & { rate: number | null };
  /** (sending rate - holdout rate) / holdout rate. */
  lift: number | null;
  /** 95% Wald interval of sending rate - holdout rate. */
  ci: [number, number] | null;
  pValue: number;
  /** P(sending rate > holdout rate), Beta(1, 1) priors. */
  chanceToBeatHoldout: number;
  sequentialPValue: number;
}

export interface ExperimentConclusionRef {
  winner: string;
  /** The id of the ExperimentConcluded event. */
  eventId: string;
}

export interface ExperimentAnalysis {
  control: string;
  alpha: number;
  variants: VariantResult[];
  /**
   * The sample ratio check. `notApplicable` (present only then) says why the configured weights
   * give no split to test against; chi2 is then 0, pValue 1 and mismatch false.
   */
  srm: { chi2: number; pValue: number; mismatch: boolean; notApplicable?: string };
  /**
   * The concluded winner if the experiment was concluded; otherwise the variant the auto-winner
   * rule would pick now (sequential test at alpha, no SRM mismatch, minExposures reached), or null.
   */
  winner: string | null;
  /** Holdout against all variants pooled, over every exposure (before and after a conclusion); null without a holdout. */
  holdoutVsSending: HoldoutVsSending | null;
  /** Assignments made after the experiment concluded (winner and holdout), kept out of the comparisons above. */
  afterConclusion: Array<Counts & { key: string; rate: number | null }>;
  concluded: ExperimentConclusionRef | null;
}

const rateOf = (c: Counts): number | null => (c.exposures > 0 ? c.conversions / c.exposures : null);

function waldInterval(a: Counts, b: Counts): [number, number] | null {
  if (a.exposures === 0 || b.exposures === 0) return null;
  const pa = a.conversions / a.exposures;
  const pb = b.conversions / b.exposures;
  const half = Z_975 * Math.sqrt((pa * (1 - pa)) / a.exposures + (pb * (1 - pb)) / b.exposures);
  return [pb - pa - half, pb - pa + half];
}

function liftOf(base: Counts, other: Counts): number | null {
  const a = rateOf(base);
  const b = rateOf(other);
  return a === null || b === null || a === 0 ? null : (b - a) / a;
}

function sum(counts: Counts[]): Counts {
  return counts.reduce((total, c) => ({ exposures: total.exposures + c.exposures, conversions: total.conversions + c.conversions }), {
    exposures: 0,
    conversions: 0,
  });
}

/**
 * The arms in report order: the configured variants, then any variant only the counts know (from
 * an earlier version of the step), then the holdout when there is one.
 */
function armKeys(setup: ExperimentSetup, arms: ArmCounts[]): string[] {
  const keys = setup.variants.map((v) => v.key);
  for (const arm of arms) if (arm.variant !== HOLDOUT_KEY && !keys.includes(arm.variant)) keys.push(arm.variant);
  if (setup.holdout > 0 || arms.some((arm) => arm.variant === HOLDOUT_KEY)) keys.push(HOLDOUT_KEY);
  return keys;
}

/**
 * The winner by the auto-winner rule, or null: each variant's always-valid p-value against the
 * control, Holm-adjusted over the variants; among the variants significantly better at alpha, the
 * best rate wins; if every other variant is significantly worse, the control wins. Only when the
 * SRM check passes and every variant has `minExposures`.
 */
export function sequentialWinner(
  setup: ExperimentSetup,
  experiment: Map<string, Counts>,
  srmMismatch: boolean,
): string | null {
  if (srmMismatch) return null;
  const counts = (key: string) => experiment.get(key) ?? { exposures: 0, conversions: 0 };
  if (setup.variants.some((v) => counts(v.key).exposures < Math.max(1, setup.minExposures))) return null;
  const control = counts(setup.control);
  const challengers = setup.variants.filter((v) => v.key !== setup.control).map((v) => v.key);
  if (challengers.length === 0) return null;
  const tests = challengers.map((key) => {
    const result = sequentialTest(control, counts(key), { alpha: setup.alpha });
    return { key, difference: (rateOf(counts(key)) ?? 0) - (rateOf(control) ?? 0), pValue: result.pValue };
  });
  const adjusted = holm(tests.map((t) => t.pValue));
  const better = tests.filter((t, i) => adjusted[i] <= setup.alpha && t.difference > 0);
  if (better.length > 0) {
    // Highest rate; a tie goes to the variant listed first.
    return better.reduce((best, t) => ((rateOf(counts(t.key)) ?? 0) > (rateOf(counts(best.key)) ?? 0) ? t : best)).key;
  }
  const worse = tests.filter((t, i) => adjusted[i] <= setup.alpha && t.difference < 0);
  return worse.length === challengers.length ? setup.control : null;
}

/** Counts per arm key, split by phase. */
function byPhase(arms: ArmCounts[]): { experiment: Map<string, Counts>; rollout: Map<string, Counts> } {
  const experiment = new Map<string, Counts>();
  const rollout = new Map<string, Counts>();
  for (const arm of arms) {
    const into = arm.phase === 'rollout' ? rollout : experiment;
    const previous = into.get(arm.variant) ?? { exposures: 0, conversions: 0 };
    into.set(arm.variant, { exposures: previous.exposures + arm.exposures, conversions: previous.conversions + arm.conversions });
  }
  return { experiment, rollout };
}

/** The SRM check over the configured arms: each variant gets (1 - holdout) of its weight's share. */
function sampleRatio(setup: ExperimentSetup, experiment: Map<string, Counts>): ExperimentAnalysis['srm'] {
  // Weights whose sum overflows (a definition published before weights were bounded) are taken
  // by their ratios; weights that give no split at all make the check not applicable, not a throw.
  const weights = finiteSumWeights(setup.variants.map((v) => v.weight));
  const totalWeight = weights ? weights.reduce((total, w) => total + w, 0) : Number.NaN;
  const holdoutShare = setup.holdout / 100;
  if (!weights || !(totalWeight > 0) || !Number.isFinite(totalWeight)) {
    return notApplicable('the variant weights give no split to check (each must be a finite number > 0)');
  }
  if (!(holdoutShare >= 0 && holdoutShare < 1)) return notApplicable('the holdout is not a percentage from 0 to below 100');
  // A holdout only the counts know (a later version removed it) is left out like a removed variant:
  // with a share of 0 its users would read as an infinite mismatch and block the winner for good.
  const srmKeys = [...setup.variants.map((v) => v.key), ...(holdoutShare > 0 ? [HOLDOUT_KEY] : [])];
  const srmWeights = srmKeys.map((key) =>
    key === HOLDOUT_KEY ? holdoutShare : ((1 - holdoutShare) * weights[setup.variants.findIndex((v) => v.key === key)]) / totalWeight,
  );
  if (!srmWeights.some((w) => w > 0)) return notApplicable('the variant weights give no split to check (each must be a finite number > 0)');
  const result = srmTest(
    srmKeys.map((key) => experiment.get(key)?.exposures ?? 0),
    srmWeights,
  );
  return { ...result, mismatch: result.pValue < SRM_THRESHOLD };
}

const notApplicable = (reason: string): ExperimentAnalysis['srm'] => ({ chi2: 0, pValue: 1, mismatch: false, notApplicable: reason });

/**
 * The winner the rule gives on these counts, or null: what `analyseExperiment(...).winner` is
 * before a conclusion, for a fraction of the cost (no Bayesian sums, no intervals), so a host can
 * ask after every event.
 */
export function currentWinner(setup: ExperimentSetup, arms: ArmCounts[]): string | null {
  const { experiment } = byPhase(arms);
  return sequentialWinner(setup, experiment, sampleRatio(setup, experiment).mismatch);
}

export function analyseExperiment(
  setup: ExperimentSetup,
  arms: ArmCounts[],
  options: { concluded?: ExperimentConclusionRef } = {},
): ExperimentAnalysis {
  const { experiment, rollout } = byPhase(arms);
  const countsOf = (key: string): Counts => experiment.get(key) ?? { exposures: 0, conversions: 0 };
  const keys = armKeys(setup, arms);
  const control = countsOf(setup.control);

  const comparisons = keys.map((key) => {
    const counts = countsOf(key);
    const base = { key, ...counts, rate: rateOf(counts) };
    if (key === setup.control) {
      return { ...base, lift: null, ci: null, pValue: null, adjustedPValue: null, chanceToBeatControl: null, sequentialPValue: null };
    }
    return {
      ...base,
      lift: liftOf(control, counts),
      ci: waldInterval(control, counts),
      pValue: twoProportionZTest(control, counts).pValue,
      adjustedPValue: null as number | null,
      chanceToBeatControl: chanceToBeatControl(control, counts),
      sequentialPValue: sequentialTest(control, counts, { alpha: setup.alpha }).pValue,
    };
  });
  // Holm over the variants compared with the control (not the holdout, which is never a winner).
  const family = comparisons.filter((c) => c.key !== setup.control && c.key !== HOLDOUT_KEY);
  holm(family.map((c) => c.pValue as number)).forEach((adjusted, i) => (family[i].adjustedPValue = adjusted));

  const srm = sampleRatio(setup, experiment);

  let holdoutVsSending: HoldoutVsSending | null = null;
  if (keys.includes(HOLDOUT_KEY)) {
    const all = (key: string) => sum([countsOf(key), rollout.get(key) ?? { exposures: 0, conversions: 0 }]);
    const holdout = all(HOLDOUT_KEY);
    const sending = sum(keys.filter((key) => key !== HOLDOUT_KEY).map(all));
    holdoutVsSending = {
      holdout: { ...holdout, rate: rateOf(holdout) },
      sending: { ...sending, rate: rateOf(sending) },
      lift: liftOf(holdout, sending),
      ci: waldInterval(holdout, sending),
      pValue: twoProportionZTest(holdout, sending).pValue,
      chanceToBeatHoldout: chanceToBeatControl(holdout, sending),
      sequentialPValue: sequentialTest(holdout, sending, { alpha: setup.alpha }).pValue,
    };
  }

  const afterConclusion = [...rollout.entries()].map(([key, counts]) => ({ key, ...counts, rate: rateOf(counts) }));
  return {
    control: setup.control,
    alpha: setup.alpha,
    variants: comparisons,
    srm,
    winner: options.concluded?.winner ?? sequentialWinner(setup, experiment, srm.mismatch),
    holdoutVsSending,
    afterConclusion,
    concluded: options.concluded ?? null,
  };
}
