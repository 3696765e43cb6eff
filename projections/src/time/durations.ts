/**
 * Durations as people write them in definitions and settings: a positive whole number and one unit,
 * `30s`, `15m`, `1h`, `7d`, `2w`. A day is 24 hours and a week 7 days, whatever the calendar does
 * (daylight saving changes do not stretch a window).
 */

export const DURATION_UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
export type DurationUnit = keyof typeof DURATION_UNITS;

/** The accepted form. Also published in the segment JSON Schema. */
export const DURATION_PATTERN = /^[1-9][0-9]*[smhdw]$/;

export class DurationError extends Error {
  override readonly name = 'DurationError';
  constructor(readonly text: unknown) {
    super(`${describe(text)} is not a duration: use a number and one of s, m, h, d, w, e.g. 7d`);
  }
}

function describe(text: unknown): string {
  if (typeof text === 'string') return JSON.stringify(text);
  if (text === undefined) return 'nothing';
  try {
    return JSON.stringify(text) ?? String(text);
  } catch {
    return String(text);
  }
}

export function isDuration(text: unknown): text is string {
  return typeof text === 'string' && DURATION_PATTERN.test(text) && Number.isSafeInteger(toMs(text));
}

/** Milliseconds of a duration such as `7d`; throws `DurationError` for anything else. */
export function parseDuration(text: string): number {
  if (!isDuration(text)) throw new DurationError(text);
  return toMs(text);
}

function toMs(text: string): number {
  return Number(text.slice(0, -1)) * DURATION_UNITS[text.slice(-1) as DurationUnit];
}

const LARGEST_FIRST = (Object.entries(DURATION_UNITS) as Array<[DurationUnit, number]>).sort((a, b) => b[1] - a[1]);

/**
 * The shortest text `parseDuration` reads back as `ms`: the largest unit that divides it
 * (`604800000` -> `1w`, `129600000` -> `36h`). Amounts that are not whole seconds are written in
 * milliseconds (`1500ms`), which is readable but not a definition duration; zero is `0s`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`${ms} is not a finite number of milliseconds`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms === 0) return '0s';
  for (const [unit, size] of LARGEST_FIRST) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
