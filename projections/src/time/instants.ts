/**
 * ISO 8601 instants as they appear in traits and properties. A text with an offset (`Z`,
 * `+02:00`) is an exact instant; a date (`2026-03-01`) or a date-time without an offset is wall
 * time in a time zone, given by the caller (the user's or the workspace's), UTC when none.
 * `Date.parse` is not used: it reads offset-less date-times in the host's zone, which would make
 * the result depend on the machine.
 */

/** Date, or date-time with optional seconds, fraction and offset. Published in the segment JSON Schema. */
export const ISO_DATE_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

export function isIsoDate(text: unknown): text is string {
  return typeof text === 'string' && parseInstant(text) !== undefined;
}

/** Epoch milliseconds of an ISO 8601 date or date-time, or undefined if it is not one. */
export function parseInstant(text: string, timeZone = 'UTC'): number | undefined {
  if (text.length === 24 && text.charCodeAt(23) === 90 /* Z */) {
    const canonical = parseCanonical(text);
    if (canonical !== undefined) return canonical;
  }
  const match = ISO_DATE_PATTERN.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', offset] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.padEnd(3, '0').slice(0, 3)));
  if (offset === 'Z') return wall;
  if (offset !== undefined) {
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const offsetHours = Number(digits.slice(0, 2));
    const offsetMinutes = Number(digits.slice(2) || '0');
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    return wall - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  return wallTimeToInstant(wall, timeZone);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `Date#toISOString`'s own form (every event timestamp), read without a regex: it is on every event's path. */
function parseCanonical(text: string): number | undefined {
  const digits = (from: number, to: number) => {
    let value = 0;
    for (let i = from; i < to; i++) {
      const code = text.charCodeAt(i) - 48;
      if (code < 0 || code > 9) return -1;
      value = value * 10 + code;
    }
    return value;
  };
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':' || text[19] !== '.') return undefined;
  const year = digits(0, 4);
  const month = digits(5, 7);
  const day = digits(8, 10);
  const hour = digits(11, 13);
  const minute = digits(14, 16);
  const second = digits(17, 19);
  const ms = digits(20, 23);
  if (year < 0 || ms < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatterFor(timeZone: string): Intl.DateTimeFormat | null {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      formatter = null;
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Whether `timeZone` is an IANA zone name this runtime knows (e.g. `Europe/Amsterdam`). */
export function isTimeZone(timeZone: unknown): timeZone is string {
  return typeof timeZone === 'string' && timeZone.length > 0 && formatterFor(timeZone) !== null;
}

/** The zone's offset from UTC at `instant`, in milliseconds (Amsterdam in summer: +7 200 000). */
export function timeZoneOffset(timeZone: string, instant: number): number {
  const formatter = formatterFor(timeZone);
  if (formatter === null) throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(instant)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - (instant - (((instant % 1000) + 1000) % 1000));
}

/**
 * The instant whose wall time in `timeZone` is `wall` (a UTC-based reading of the wall clock). A
 * wall time a spring-forward gap skips is moved forward by the gap's length, as java.time and
 * iCalendar (RFC 5545) do: 02:30 on a day Berlin skips 02:00-03:00 is 03:30 CEST. In a fall-back
 * overlap it is the earlier of the two instants. (Quiet hours differ on purpose: an end inside the
 * gap ends them as soon as the gap does, at 03:00; see quietHoursEndAfter.)
 */
export function wallTimeToInstant(wall: number, timeZone: string): number {
  if (timeZone === 'UTC' || !isTimeZone(timeZone)) return wall;
  const before = wall - timeZoneOffset(timeZone, wall - 86_400_000);
  const after = wall - timeZoneOffset(timeZone, wall + 86_400_000);
  // Try the offsets in force a day before and a day after; keep one that reads back as `wall`.
  const candidates = [before, after].filter((instant) => instant + timeZoneOffset(timeZone, instant) === wall).sort((a, b) => a - b);
  if (candidates.length > 0) return candidates[0];
  return Math.max(before, after);
}
