import { DurationError, formatDuration, isDuration, parseDuration } from './durations';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['90m', 5_400_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(isDuration(text)).toBe(true);
  });

  it.each(['7x', '0d', '-1d', '1.5h', '1h30m', ' 7d', '7d ', '7 d', 'd', '7', '', '07d', '7D', '99999999999999999w'])(
    'rejects %j with a DurationError that says what a duration looks like',
    (text) => {
      expect(isDuration(text)).toBe(false);
      expect(() => parseDuration(text)).toThrow(DurationError);
    },
  );

  it('names the bad text in the message', () => {
    expect(() => parseDuration('7x')).toThrow('"7x" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d');
  });

  it('isDuration is false for non-strings', () => {
    expect(isDuration(7)).toBe(false);
    expect(isDuration(undefined)).toBe(false);
    expect(() => parseDuration(7 as unknown as string)).toThrow('7 is not a duration');
  });
});

describe('formatDuration', () => {
  it.each([
    [604_800_000, '1w'],
    [1_209_600_000, '2w'],
    [86_400_000, '1d'],
    [129_600_000, '36h'],
    [5_400_000, '90m'],
    [30_000, '30s'],
    [0, '0s'],
    [1_500, '1500ms'],
    [-86_400_000, '-1d'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips every unit', () => {
    for (const text of ['1s', '59s', '1m', '1h', '23h', '1d', '6d', '1w', '52w']) expect(formatDuration(parseDuration(text))).toBe(text);
  });

  it('rejects non-finite input', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
  });
});
