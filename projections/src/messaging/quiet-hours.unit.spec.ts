import { isQuietAt, nextOffsetTransition, quietHoursEndAfter, timeOfDayMs } from './quiet-hours';

const at = Date.parse;
const iso = (ms: number) => new Date(ms).toISOString();
const NIGHT = { start: '21:00', end: '08:00' };
const LUNCH = { start: '13:00', end: '14:00' };
const AMS = 'Europe/Amsterdam';
const NY = 'America/New_York';

describe('timeOfDayMs', () => {
  it('reads HH:MM and rejects anything else', () => {
    expect(timeOfDayMs('00:00')).toBe(0);
    expect(timeOfDayMs('23:59')).toBe((23 * 60 + 59) * 60_000);
    expect(() => timeOfDayMs('24:00')).toThrow(RangeError);
    expect(() => timeOfDayMs('8:00')).toThrow(RangeError);
  });
});

describe('isQuietAt', () => {
  it('wraps midnight when end is earlier than start, [start, end)', () => {
    // June: Amsterdam is UTC+2.
    expect(isQuietAt(at('2026-06-10T18:59:59Z'), NIGHT, AMS)).toBe(false);
    expect(isQuietAt(at('2026-06-10T19:00:00Z'), NIGHT, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-10T22:00:00Z'), NIGHT, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-11T05:59:59Z'), NIGHT, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-11T06:00:00Z'), NIGHT, AMS)).toBe(false);
  });

  it('does not wrap when end is later than start', () => {
    expect(isQuietAt(at('2026-06-10T10:59:59Z'), LUNCH, AMS)).toBe(false);
    expect(isQuietAt(at('2026-06-10T11:00:00Z'), LUNCH, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-10T11:59:59Z'), LUNCH, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-10T12:00:00Z'), LUNCH, AMS)).toBe(false);
    expect(isQuietAt(at('2026-06-10T23:00:00Z'), LUNCH, AMS)).toBe(false);
  });

  it('reads the clock of the zone it is given', () => {
    // 22:00 in Amsterdam is 16:00 in New York.
    expect(isQuietAt(at('2026-06-10T20:00:00Z'), NIGHT, AMS)).toBe(true);
    expect(isQuietAt(at('2026-06-10T20:00:00Z'), NIGHT, NY)).toBe(false);
  });
});

describe('quietHoursEndAfter', () => {
  it('returns the moment itself outside quiet hours', () => {
    expect(quietHoursEndAfter(at('2026-06-10T12:34:56.789Z'), NIGHT, AMS)).toBe(at('2026-06-10T12:34:56.789Z'));
  });

  it('ends at the next local end, before and after midnight', () => {
    expect(iso(quietHoursEndAfter(at('2026-06-10T19:00:00Z'), NIGHT, AMS))).toBe('2026-06-11T06:00:00.000Z');
    expect(iso(quietHoursEndAfter(at('2026-06-11T01:17:00Z'), NIGHT, AMS))).toBe('2026-06-11T06:00:00.000Z');
    expect(iso(quietHoursEndAfter(at('2026-06-10T11:30:00Z'), LUNCH, AMS))).toBe('2026-06-10T12:00:00.000Z');
    expect(iso(quietHoursEndAfter(at('2026-06-11T03:00:00Z'), NIGHT, NY))).toBe('2026-06-11T12:00:00.000Z');
  });

  describe('Amsterdam, spring forward on 29 March 2026 (02:00 CET -> 03:00 CEST, at 01:00Z)', () => {
    it('starts at 21:00 CET and ends at 08:00 CEST, a night one hour shorter', () => {
      expect(isQuietAt(at('2026-03-28T19:59:59Z'), NIGHT, AMS)).toBe(false);
      expect(isQuietAt(at('2026-03-28T20:00:00Z'), NIGHT, AMS)).toBe(true);
      expect(iso(quietHoursEndAfter(at('2026-03-28T20:00:00Z'), NIGHT, AMS))).toBe('2026-03-29T06:00:00.000Z');
      expect(iso(quietHoursEndAfter(at('2026-03-29T00:30:00Z'), NIGHT, AMS))).toBe('2026-03-29T06:00:00.000Z');
      expect(iso(quietHoursEndAfter(at('2026-03-29T02:00:00Z'), NIGHT, AMS))).toBe('2026-03-29T06:00:00.000Z');
      // The night before ends at 08:00 CET.
      expect(iso(quietHoursEndAfter(at('2026-03-27T21:00:00Z'), NIGHT, AMS))).toBe('2026-03-28T07:00:00.000Z');
    });

    it('ends at the transition when end falls in the skipped hour', () => {
      const window = { start: '22:00', end: '02:30' };
      expect(isQuietAt(at('2026-03-29T00:59:59Z'), window, AMS)).toBe(true);
      expect(isQuietAt(at('2026-03-29T01:00:00Z'), window, AMS)).toBe(false);
      expect(iso(quietHoursEndAfter(at('2026-03-28T23:00:00Z'), window, AMS))).toBe('2026-03-29T01:00:00.000Z');
    });

    it('starts at the transition when start falls in the skipped hour', () => {
      const window = { start: '02:15', end: '06:00' };
      expect(isQuietAt(at('2026-03-29T00:59:59Z'), window, AMS)).toBe(false);
      expect(isQuietAt(at('2026-03-29T01:00:00Z'), window, AMS)).toBe(true);
      expect(iso(quietHoursEndAfter(at('2026-03-29T01:00:00Z'), window, AMS))).toBe('2026-03-29T04:00:00.000Z');
    });
  });

  describe('Amsterdam, fall back on 25 October 2026 (03:00 CEST -> 02:00 CET, at 01:00Z)', () => {
    it('starts at 21:00 CEST and ends at 08:00 CET, a night one hour longer', () => {
      expect(isQuietAt(at('2026-10-24T18:59:59Z'), NIGHT, AMS)).toBe(false);
      expect(isQuietAt(at('2026-10-24T19:00:00Z'), NIGHT, AMS)).toBe(true);
      expect(iso(quietHoursEndAfter(at('2026-10-24T19:00:00Z'), NIGHT, AMS))).toBe('2026-10-25T07:00:00.000Z');
      expect(iso(quietHoursEndAfter(at('2026-10-25T01:30:00Z'), NIGHT, AMS))).toBe('2026-10-25T07:00:00.000Z');
      // The next night starts at 21:00 CET.
      expect(isQuietAt(at('2026-10-25T19:59:59Z'), NIGHT, AMS)).toBe(false);
      expect(iso(quietHoursEndAfter(at('2026-10-25T20:00:00Z'), NIGHT, AMS))).toBe('2026-10-26T07:00:00.000Z');
    });

    it('ends at the first 02:30 when end falls in the repeated hour, and is quiet again while the clock repeats it', () => {
      const window = { start: '22:00', end: '02:30' };
      expect(iso(quietHoursEndAfter(at('2026-10-24T22:00:00Z'), window, AMS))).toBe('2026-10-25T00:30:00.000Z');
      expect(isQuietAt(at('2026-10-25T00:45:00Z'), window, AMS)).toBe(false); // 02:45 CEST
      expect(isQuietAt(at('2026-10-25T01:00:00Z'), window, AMS)).toBe(true); // 02:00 CET
      expect(iso(quietHoursEndAfter(at('2026-10-25T01:00:00Z'), window, AMS))).toBe('2026-10-25T01:30:00.000Z');
    });

    it('ends at the transition when the clock falls back out of the window', () => {
      const window = { start: '02:40', end: '03:30' };
      expect(isQuietAt(at('2026-10-25T00:50:00Z'), window, AMS)).toBe(true); // 02:50 CEST
      expect(iso(quietHoursEndAfter(at('2026-10-25T00:50:00Z'), window, AMS))).toBe('2026-10-25T01:00:00.000Z'); // 02:00 CET
    });
  });

  it('handles New York spring forward (8 March 2026) and fall back (1 November 2026)', () => {
    expect(iso(quietHoursEndAfter(at('2026-03-08T03:00:00Z'), NIGHT, NY))).toBe('2026-03-08T12:00:00.000Z');
    expect(iso(quietHoursEndAfter(at('2026-11-01T02:00:00Z'), NIGHT, NY))).toBe('2026-11-01T13:00:00.000Z');
  });
});

describe('nextOffsetTransition', () => {
  it('finds both 2026 transitions in Amsterdam to the second', () => {
    expect(iso(nextOffsetTransition(at('2026-03-28T12:00:00Z'), at('2026-03-29T12:00:00Z'), AMS)!)).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(nextOffsetTransition(at('2026-10-24T12:00:00.250Z'), at('2026-10-25T12:00:00Z'), AMS)!)).toBe('2026-10-25T01:00:00.000Z');
  });
  it('answers undefined when the offset does not change', () => {
    expect(nextOffsetTransition(at('2026-06-01T00:00:00Z'), at('2026-06-02T00:00:00Z'), AMS)).toBeUndefined();
  });
});

describe('an empty window (start = end)', () => {
  it('is never quiet, as quietHoursEndAfter reads it', () => {
    const empty = { start: '22:00', end: '22:00' };
    for (const at of ['2026-03-02T21:59:00Z', '2026-03-02T22:00:00Z', '2026-03-02T03:00:00Z']) {
      expect(isQuietAt(Date.parse(at), empty, 'UTC')).toBe(false);
      expect(quietHoursEndAfter(Date.parse(at), empty, 'UTC')).toBe(Date.parse(at));
    }
  });
});
