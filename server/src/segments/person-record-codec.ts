/**
 * How a person record is stored: compact JSON without what the row already says or what is empty.
 * With a million persons every event reads and rewrites one record at a random place in a large
 * B-tree; a smaller record means more records per page, a smaller file, less to parse and write.
 *
 * Stored form (every field but `f` omitted when empty or implied):
 * - `u` the profile's person key, only when it is not the row's (the row's person column);
 * - `t`, `g`, `s` traits, groups, subscriptions as they are;
 * - `f` first seen, `l` last seen minus first seen (ms);
 * - `c` counters: key without its `ctr:` prefix -> [count, ...occurrence times minus first seen];
 * - `m` segments the person is in; `k` the messages queued for frequency caps (`caps.sent`).
 * The next check time is the row's `next_check_at` column, not repeated in the record.
 * Records written before this form (an object with `profile`) are read as they are.
 */
import { type CapState, type Counter, defineEntry, type Profile } from '@herald/projections';
import type { PersonRecord } from './segment-state';

interface StoredRecord {
  u?: string;
  t?: Record<string, unknown>;
  g?: Record<string, Record<string, unknown>>;
  s?: Profile['subscriptions'];
  f: number;
  l?: number;
  c?: Record<string, number[]>;
  m?: string[];
  k?: CapState['sent'];
}

const COUNTER_PREFIX = 'ctr:';
/** Marks a counter key stored whole (one without the usual prefix). */
const WHOLE_KEY = '=';

export function encodePersonRecord(person: string, record: PersonRecord): string {
  const { profile } = record;
  const stored: StoredRecord = { f: profile.firstSeen };
  if (profile.userId !== person) stored.u = profile.userId;
  if (!isEmpty(profile.traits)) stored.t = profile.traits;
  if (!isEmpty(profile.groups)) stored.g = profile.groups;
  if (!isEmpty(profile.subscriptions)) stored.s = profile.subscriptions;
  if (profile.lastSeen !== profile.firstSeen) stored.l = profile.lastSeen - profile.firstSeen;
  if (!isEmpty(profile.counters)) {
    const counters: Record<string, number[]> = {};
    for (const [key, counter] of Object.entries(profile.counters)) {
      const packed = [counter.count];
      for (const time of counter.times) packed.push(time - profile.firstSeen);
      defineEntry(counters, key.startsWith(COUNTER_PREFIX) ? key.slice(COUNTER_PREFIX.length) : WHOLE_KEY + key, packed);
    }
    stored.c = counters;
  }
  if (record.members.length > 0) stored.m = record.members;
  if (record.caps !== undefined) stored.k = record.caps.sent;
  return JSON.stringify(stored);
}

export function decodePersonRecord(person: string, text: string, nextCheckAt: number | null): PersonRecord {
  const parsed = JSON.parse(text) as StoredRecord | PersonRecord;
  if ('profile' in parsed) return parsed;
  const firstSeen = parsed.f;
  const counters: Record<string, Counter> = {};
  if (parsed.c !== undefined) {
    for (const [stored, packed] of Object.entries(parsed.c)) {
      const times = new Array<number>(packed.length - 1);
      for (let i = 1; i < packed.length; i++) times[i - 1] = packed[i] + firstSeen;
      const key = stored.startsWith(WHOLE_KEY) ? stored.slice(WHOLE_KEY.length) : COUNTER_PREFIX + stored;
      defineEntry(counters, key, { count: packed[0], times });
    }
  }
  const profile: Profile = {
    userId: parsed.u ?? person,
    traits: parsed.t ?? {},
    groups: parsed.g ?? {},
    firstSeen,
    lastSeen: firstSeen + (parsed.l ?? 0),
    counters,
    subscriptions: parsed.s ?? {},
  };
  const record: PersonRecord = { profile, members: parsed.m ?? [] };
  if (nextCheckAt !== null) record.nextCheckAt = nextCheckAt;
  if (parsed.k !== undefined) record.caps = { sent: parsed.k };
  return record;
}

function isEmpty(object: object): boolean {
  for (const _ in object) return false;
  return true;
}
