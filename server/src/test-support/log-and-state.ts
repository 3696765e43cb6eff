/**
 * For tests of what runs on the log: a real SQLite log and state database in a fresh temporary
 * folder for each test (registered with jest's beforeEach and afterEach), and a wait for a condition.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { openStateDb, type StateDb } from '../state/state-db';

export interface LogAndState {
  readonly dir: string;
  readonly store: SqliteEventStore;
  readonly db: StateDb;
}

/** The current test's log and state database; `beforeClose` runs first at its end (a runner to stop). */
export function useLogAndState(prefix: string, beforeClose?: () => Promise<void>): LogAndState {
  let current: LogAndState | undefined;
  const opened = () => {
    if (!current) throw new Error('useLogAndState: the log is open only inside a test');
    return current;
  };
  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), `herald-${prefix}-`));
    current = { dir, store: new SqliteEventStore({ path: join(dir, 'events.sqlite') }), db: openStateDb(join(dir, 'state.sqlite')) };
  });
  afterEach(async () => {
    const { dir, store, db } = opened();
    current = undefined;
    try {
      await beforeClose?.();
    } finally {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return {
    get dir() {
      return opened().dir;
    },
    get store() {
      return opened().store;
    },
    get db() {
      return opened().db;
    },
  };
}

/** Waits (polling every 5 ms, 10 s at most) until `condition` holds. */
export async function until(condition: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
