/**
 * The segments state keeps each batch's changes apart, so a commit writes exactly the batches it
 * covers while later batches (handled meanwhile by the pipelined runner) wait for their own commit.
 */
import { newProfile } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb, type StateDb } from '../state/state-db';
import { decodePersonRecord } from './person-record-codec';
import { type PersonRecord, SegmentState } from './segment-state';

let dir: string;
let db: StateDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-segment-state-'));
  db = openStateDb(join(dir, 'state.sqlite'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function record(person: string, seen: number, members: string[] = []): PersonRecord {
  return { profile: newProfile(person, seen), members };
}

function stored(person: string): PersonRecord | undefined {
  const row = db.prepare('SELECT record, next_check_at FROM segment_persons WHERE workspace = ? AND person = ?').get('w', person) as
    | { record: string; next_check_at: number | null }
    | undefined;
  return row ? decodePersonRecord(person, row.record, row.next_check_at) : undefined;
}

function members(): unknown[] {
  return db.prepare('SELECT segment_id, person FROM segment_members ORDER BY 1, 2').all();
}

/** What the runner does for a batch: announce it, handle its events in order. */
function handleBatch(state: SegmentState, events: Array<[number, () => void]>): void {
  state.beginBatch(events[events.length - 1][0]);
  for (const [position, change] of events) {
    state.at(position);
    change();
  }
}

/** What the runner's commit does: apply the batch's events, flush, in one transaction. */
function commit(state: SegmentState, lastPosition: number): void {
  db.transaction(() => {
    state.applied(lastPosition);
    state.flush();
  })();
}

it('a commit writes the batches up to its position, each person as that batch left them, and later batches at their own commit', () => {
  const state = new SegmentState(db);
  handleBatch(state, [
    [1, () => state.putPerson('w', 'a', record('a', 1))],
    [
      2,
      () => {
        state.putPerson('w', 'a', record('a', 2, ['s']));
        state.recordMembership('w', 's', 'a', 2);
      },
    ],
  ]);
  handleBatch(state, [
    [3, () => state.putPerson('w', 'a', record('a', 3))],
    [4, () => state.recordMembership('w', 's', 'a', undefined)],
    [5, () => state.putPerson('w', 'b', record('b', 5))],
  ]);
  state.beginBatch(7);
  state.at(6);
  state.putLink('w', 'anon:x', 'b');

  commit(state, 2);
  expect(stored('a')?.profile.lastSeen).toBe(2);
  expect(stored('b')).toBeUndefined();
  expect(members()).toEqual([{ segment_id: 's', person: 'a' }]);
  // Reads see the newest value, committed or not.
  expect(state.getPerson('w', 'a')?.profile.lastSeen).toBe(3);

  commit(state, 5);
  expect(stored('a')?.profile.lastSeen).toBe(3);
  expect(stored('b')?.profile.lastSeen).toBe(5);
  expect(members()).toEqual([]);
  expect(db.prepare('SELECT count(*) AS n FROM segment_links').get()).toEqual({ n: 0 });

  commit(state, 7);
  expect(db.prepare('SELECT key, person FROM segment_links').all()).toEqual([{ key: 'anon:x', person: 'b' }]);
});

it('cutting back the cache keeps what later batches changed and have not committed', () => {
  const state = new SegmentState(db, 3);
  handleBatch(state, [1, 2, 3, 4, 5].map((n) => [n, () => state.putPerson('w', `p${n}`, record(`p${n}`, n))]));
  handleBatch(state, [[6, () => state.putPerson('w', 'p1', record('p1', 6))]]);
  commit(state, 5);
  expect(stored('p1')?.profile.lastSeen).toBe(1);
  // p1's uncommitted change is still what a read gives (SQLite has the older one).
  expect(state.getPerson('w', 'p1')?.profile.lastSeen).toBe(6);
  commit(state, 6);
  expect(stored('p1')?.profile.lastSeen).toBe(6);
});

it('cutting back the link cache keeps the links later batches made and have not committed', () => {
  const state = new SegmentState(db, 3);
  const storedLink = (key: string) => db.prepare('SELECT person FROM segment_links WHERE workspace = ? AND key = ?').get('w', key);
  handleBatch(state, [1, 2, 3, 4, 5].map((n) => [n, () => state.putLink('w', `anon:${n}`, `p${n}`)]));
  handleBatch(state, [[6, () => state.putLink('w', 'anon:1', 'p6')]]);
  commit(state, 5);
  expect(storedLink('anon:1')).toEqual({ person: 'p1' });
  // The uncommitted link is still what a read gives (SQLite has the older one).
  expect(state.getLink('w', 'anon:1')).toBe('p6');
  commit(state, 6);
  expect(storedLink('anon:1')).toEqual({ person: 'p6' });
});

it('discard forgets every batch not committed; reads come from SQLite again', () => {
  const state = new SegmentState(db);
  handleBatch(state, [[1, () => state.putPerson('w', 'a', record('a', 1))]]);
  commit(state, 1);
  handleBatch(state, [[2, () => state.putPerson('w', 'a', record('a', 2))]]);
  handleBatch(state, [[3, () => state.deletePerson('w', 'a')]]);
  state.discard();
  expect(state.getPerson('w', 'a')?.profile.lastSeen).toBe(1);
  commit(state, 3);
  expect(stored('a')?.profile.lastSeen).toBe(1);
});

it('refuses a commit that would write part of a batch', () => {
  const state = new SegmentState(db);
  handleBatch(state, [
    [1, () => state.putPerson('w', 'a', record('a', 1))],
    [2, () => state.putPerson('w', 'b', record('b', 2))],
  ]);
  expect(() => commit(state, 1)).toThrow(/straddle/);
  expect(stored('a')).toBeUndefined();
});

it('without announced batches (a rebuild) a flush writes everything changed since the last one', () => {
  const state = new SegmentState(db);
  for (const n of [1, 2, 3]) {
    state.at(n);
    state.putPerson('w', `p${n}`, record(`p${n}`, n));
  }
  commit(state, 3);
  expect([stored('p1'), stored('p2'), stored('p3')].map((r) => r?.profile.lastSeen)).toEqual([1, 2, 3]);
});
