/**
 * When a scheduled broadcast reaches a member. A one-off `at` is one occurrence; a recurring
 * `every` has occurrences every period after the version was published, and only the latest due
 * one is sent (a broadcast missed while Herald was down is not sent twice over). With `localTime`,
 * occurrences are local days and each member's moment is that time of day in their own zone.
 */
import { parseDuration, parseInstant, timeZoneOffset, wallTimeToInstant } from '../time';
import type { Trigger } from './scenario-definition';

export type ScheduleTrigger = Extract<Trigger, { schedule: unknown }>['schedule'];

export interface Occurrence {
  /** Names the occurrence: the `at` text, a local date `YYYY-MM-DD`, or `#<n>` for the n-th period. */
  key: string;
  dueAt: number;
}

const DAY = 86_400_000;

/** The latest occurrence due for a member at `now`, or undefined if none is due yet. */
export function dueOccurrence(
  schedule: ScheduleTrigger,
  publishedAt: number,
  now: number,
  memberZone: string,
  workspaceZone: string,
): Occurrence | undefined {
  if (schedule.at !== undefined) {
    const dueAt = schedule.localTime ? localMoment(schedule.at.slice(0, 10), schedule.localTime, memberZone) : parseInstant(schedule.at, workspaceZone);
    return dueAt !== undefined && dueAt <= now ? { key: schedule.at, dueAt } : undefined;
  }
  if (schedule.every === undefined) return undefined;
  const period = parseDuration(schedule.every);
  if (!schedule.localTime) {
    const n = Math.floor((now - publishedAt) / period);
    return n >= 1 ? { key: `#${n}`, dueAt: publishedAt + n * period } : undefined;
  }
  // Local days: the first is the first day whose local time comes after the publish; then every period.
  const days = Math.max(1, Math.round(period / DAY));
  const publishDay = localDate(publishedAt, memberZone);
  let first = localMoment(publishDay, schedule.localTime, memberZone)!;
  let firstDay = publishDay;
  if (first <= publishedAt) {
    firstDay = addDays(publishDay, 1);
    first = localMoment(firstDay, schedule.localTime, memberZone)!;
  }
  if (now < first) return undefined;
  const todayIndex = Math.floor(dayNumber(localDate(now, memberZone)) - dayNumber(firstDay));
  let n = Math.floor(todayIndex / days);
  let day = addDays(firstDay, n * days);
  let dueAt = localMoment(day, schedule.localTime, memberZone)!;
  if (dueAt > now) {
    n -= 1;
    if (n < 0) return undefined;
    day = addDays(firstDay, n * days);
    dueAt = localMoment(day, schedule.localTime, memberZone)!;
  }
  return { key: day, dueAt };
}

/** The instant of local `time` ("HH:MM") on local `date` ("YYYY-MM-DD") in `zone`. */
function localMoment(date: string, time: string, zone: string): number | undefined {
  const [year, month, day] = date.split('-').map(Number);
  const [hours, minutes] = time.split(':').map(Number);
  if ([year, month, day, hours, minutes].some((n) => !Number.isFinite(n))) return undefined;
  return wallTimeToInstant(Date.UTC(year, month - 1, day, hours, minutes), zone);
}

function localDate(instant: number, zone: string): string {
  return new Date(instant + timeZoneOffset(zone, instant)).toISOString().slice(0, 10);
}

function dayNumber(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}
