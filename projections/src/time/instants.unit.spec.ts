import { isIsoDate, isTimeZone, parseInstant, timeZoneOffset, wallTimeToInstant } from './instants';

const utc = (text: string) => Date.parse(text);

describe('parseInstant', () => {
  it.each([
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T10:00:00.123Z', '2026-03-01T10:00:00.123Z'],
    ['2026-03-01T10:00:00.123456Z', '2026-03-01T10:00:00.123Z'],
    ['2026-03-01T12:00:00+02:00', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T12:00+0200', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T05:00-05', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01', '2026-03-01T00:00:00.000Z'],
    ['2026-03-01T10:00', '2026-03-01T10:00:00.000Z'],
  ])('reads %s as %s (offset-less text in UTC by default)', (text, iso) => {
    expect(parseInstant(text)).toBe(utc(iso));
    expect(isIsoDate(text)).toBe(true);
  });

  it('reads Date#toISOString output exactly, including leap days', () => {
    for (const iso of ['2026-03-01T10:00:00.123Z', '2024-02-29T23:59:59.999Z', '2000-02-29T00:00:00.000Z', '1969-12-31T23:59:59.999Z']) {
      expect(parseInstant(iso)).toBe(Date.parse(iso));
    }
    for (const bad of ['2026-02-29T00:00:00.000Z', '1900-02-29T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '2026-01-01T00:00:00.0a0Z', '2026-01-01 00:00:00.000Z']) {
      expect(parseInstant(bad)).toBeUndefined();
    }
  });

  it.each(['2026-02-29', '2026-13-01', '2026-01-32', '2026-01-01T24:00', '2026-01-01 10:00', 'yesterday', '42', '2026-1-1', ''])(
    'rejects %j',
    (text) => {
      expect(parseInstant(text)).toBeUndefined();
      expect(isIsoDate(text)).toBe(false);
    },
  );

  it('reads offset-less text as wall time in the given zone, across daylight saving', () => {
    expect(parseInstant('2026-01-15', 'Europe/Amsterdam')).toBe(utc('2026-01-14T23:00:00Z'));
    expect(parseInstant('2026-07-15T09:00', 'Europe/Amsterdam')).toBe(utc('2026-07-15T07:00:00Z'));
    expect(parseInstant('2026-07-15T09:00', 'America/New_York')).toBe(utc('2026-07-15T13:00:00Z'));
    // Offsets in the text win over the zone.
    expect(parseInstant('2026-07-15T09:00Z', 'Europe/Amsterdam')).toBe(utc('2026-07-15T09:00:00Z'));
  });

  it('handles the spring-forward gap and the fall-back overlap', () => {
    // Amsterdam 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
    expect(parseInstant('2026-03-29T02:30', 'Europe/Amsterdam')).toBe(utc('2026-03-29T01:30:00Z'));
    expect(parseInstant('2026-10-25T02:30', 'Europe/Amsterdam')).toBe(utc('2026-10-25T00:30:00Z'));
  });
});

describe('time zones', () => {
  it('knows IANA names and rejects others', () => {
    expect(isTimeZone('Europe/Amsterdam')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone(42)).toBe(false);
  });

  it('computes offsets and ignores an unknown zone when converting wall time', () => {
    expect(timeZoneOffset('Europe/Amsterdam', utc('2026-07-01T00:00:00Z'))).toBe(7_200_000);
    expect(timeZoneOffset('Europe/Amsterdam', utc('2026-01-01T00:00:00.500Z'))).toBe(3_600_000);
    expect(() => timeZoneOffset('Mars/Olympus', 0)).toThrow(RangeError);
    expect(wallTimeToInstant(utc('2026-07-01T00:00:00Z'), 'Mars/Olympus')).toBe(utc('2026-07-01T00:00:00Z'));
  });
});
