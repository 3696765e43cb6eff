/**
 * Quiet hours: a daily window of local time, e.g. 21:00-08:00 (wrapping midnight) or 13:00-14:00.
 *
 * A moment is quiet iff its local time-of-day in the zone lies in [start, end). The definition is
 * per moment, so DST needs no special case: when `end` falls in the hour skipped in spring, quiet
 * hours end at the first valid instant after it (the transition itself); when it falls in the hour
 * repeated in autumn, they end at its first occurrence, and a window covering the repeated wall
 * time is quiet again while the clock repeats it.
 */
import { timeZoneOffset } from '../time/instants';

export interface QuietHours {
  /** "HH:MM", 00:00-23:59, local time. */
  start: string;
  /** "HH:MM"; exclusive. Earlier than `start` means the window wraps midnight. */
  end: string;
}

const DAY_MS = 86_400_000;
export const TIME_OF_DAY = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/** Milliseconds since local midnight of an "HH:MM" string; throws on anything else. */
export function timeOfDayMs(text: string): number {
  const match = TIME_OF_DAY.exec(text);
  if (!match) throw new RangeError(`${JSON.stringify(text)} is not a time of day (HH:MM, 00:00-23:59)`);
  return (Number(match[1]) * 60 + Number(match[2])) * 60_000;
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * The first instant in (from, to] whose UTC offset differs from the one at `from`, or undefined
 * when the offset at `to` is the same (the spans searched here are at most a day, and no zone
 * changes its offset twice in a day).
 */
export function nextOffsetTransition(from: number, to: number, timeZone: string): number | undefined {
  const offset = timeZoneOffset(timeZone, from);
  if (timeZoneOffset(timeZone, to) === offset) return undefined;
  // Transitions fall on whole seconds: bisect seconds, keeping offset(lo) === offset !== offset(hi).
  let lo = Math.floor(from / 1000);
  let hi = Math.ceil(to / 1000);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (timeZoneOffset(timeZone, mid * 1000) === offset) lo = mid;
    else hi = mid;
  }
  return Math.max(hi * 1000, from + 1);
}

function quietAtLocal(localMs: number, start: number, end: number): boolean {
  const time = mod(localMs, DAY_MS);
  return start < end ? time >= start && time < end : time >= start || time < end;
}

/** Whether instant `at` falls in quiet hours in `timeZone`. */
export function isQuietAt(at: number, quietHours: QuietHours, timeZone: string): boolean {
  // A window that starts where it ends is empty, as quietHoursEndAfter reads it (settings refuse it).
  if (quietHours.start === quietHours.end) return false;
  return quietAtLocal(at + timeZoneOffset(timeZone, at), timeOfDayMs(quietHours.start), timeOfDayMs(quietHours.end));
}

/**
 * The earliest instant >= `at` that is not in quiet hours: `at` itself when it is not quiet,
 * else the next local `end` converted back to UTC (or the DST transition that jumps past it).
 */
export function quietHoursEndAfter(at: number, quietHours: QuietHours, timeZone: string): number {
  const start = timeOfDayMs(quietHours.start);
  const end = timeOfDayMs(quietHours.end);
  if (start === end) return at;
  let moment = at;
  // Each round either ends quiet hours or advances to a DST transition; a day holds at most one.
  for (let round = 0; round < 8; round++) {
    const offset = timeZoneOffset(timeZone, moment);
    const local = moment + offset;
    if (!quietAtLocal(local, start, end)) return moment;
    // While quiet, the window ends at the next wall-clock `end` after `local`.
    let localEnd = local - mod(local, DAY_MS) + end;
    if (localEnd <= local) localEnd += DAY_MS;
    const candidate = localEnd - offset;
    const transition = nextOffsetTransition(moment, candidate, timeZone);
    if (transition === undefined) return candidate;
    moment = transition;
  }
  throw new Error(`quiet hours ${quietHours.start}-${quietHours.end} in ${timeZone} do not end after ${new Date(at).toISOString()}`);
}
