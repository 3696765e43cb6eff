import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb } from './state-db';

describe('state database', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'herald-state-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const size = (file: string) => statSync(file).size;

  /** Commits ~8 MB of rows in 400 transactions, with autocheckpoint off as the server runs it. */
  function fill(path: string, options: Parameters<typeof openStateDb>[1]) {
    const db = openStateDb(path, options);
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const put = db.prepare<[number, string]>('INSERT INTO t (k, v) VALUES (?, ?)');
    const commit = db.transaction((i: number) => {
      for (let j = 0; j < 5; j++) put.run(i * 5 + j, 'x'.repeat(4000));
    });
    for (let i = 0; i < 400; i++) commit(i);
    return db;
  }

  it('copies its WAL back into the database on a background thread, without a commit doing it', async () => {
    const path = join(dir, 'background.sqlite');
    const db = fill(path, { checkpointIntervalMs: 20 });
    // No commit checkpoints (autocheckpoint is off): only the thread can move the pages into the file.
    const deadline = Date.now() + 10_000;
    while (size(path) < 7_000_000 && Date.now() < deadline) await pause(20);
    expect(size(path)).toBeGreaterThan(7_000_000);
    db.close();
  });

  it('without the thread nothing is copied back until SQLite does it itself', async () => {
    const path = join(dir, 'never.sqlite');
    const db = fill(path, { checkpointIntervalMs: 0 });
    await pause(300);
    expect(size(path)).toBeLessThan(1_000_000);
    expect(size(`${path}-wal`)).toBeGreaterThan(7_000_000);
    db.close();
  });

  it('starts a WAL past its limit over from its beginning, keeping the file and every commit', async () => {
    const path = join(dir, 'restart.sqlite');
    const db = fill(path, { checkpointIntervalMs: 10, maxWalBytes: 1_000_000 });
    const walSize = size(`${path}-wal`);
    expect(walSize).toBeGreaterThan(4_000_000);
    await pause(300);
    // One more commit: it is written at the WAL's start (a few frames in use), and the file was not
    // truncated, so the commits after a restart write over pages the system already holds instead
    // of extending the file again.
    db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(-1, 'y');
    const [state] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
    expect(state.log).toBeLessThan(10);
    expect(size(`${path}-wal`)).toBeGreaterThan(1_000_000);
    expect((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(2001);
    db.close();
    const again = openStateDb(path);
    expect((again.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(2001);
    again.close();
  });

  it('touches no file after close(), so the folder can be deleted at once', () => {
    for (let i = 0; i < 20; i++) {
      const folder = join(dir, `gone-${i}`);
      const db = openStateDb(join(folder, 'state.sqlite'), { checkpointIntervalMs: 1 });
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY)');
      db.close();
      rmSync(folder, { recursive: true });
      expect(existsSync(folder)).toBe(false);
    }
  });

  it('keeps what was committed across close and reopen', async () => {
    const path = join(dir, 'reopen.sqlite');
    const db = openStateDb(path, { checkpointIntervalMs: 10 });
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY)');
    db.prepare('INSERT INTO t (k) VALUES (1), (2), (3)').run();
    await pause(50);
    db.close();
    const again = openStateDb(path);
    expect((again.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(3);
    again.close();
  });
});
