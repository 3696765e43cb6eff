/**
 * `close()` must hold the process open until the writer thread has exited: a script that appends,
 * closes and then carries on must reach the code after the close. Runs the built store (`dist`, as
 * the CLI tests do) in its own process, since Jest keeps its own process alive regardless.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

it('runs the code after `await store.close()` in a process with nothing else pending', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-close-'));
  const script = `
    const { SqliteEventStore } = require(${JSON.stringify(resolve(__dirname, '../../../dist/event-store/sqlite/sqlite-event-store.js'))});
    (async () => {
      const store = new SqliteEventStore({ path: ${JSON.stringify(join(folder, 'events.sqlite'))} });
      await store.append('user-default:1', [{ id: '0193a4f2-7c1e-7d3a-9f1b-2c4d5e6f7a8b', type: 'Tested', data: {}, metadata: { workspace: 'default', occurredAt: new Date().toISOString(), receivedAt: new Date().toISOString(), schemaVersion: 1 } }]);
      await store.close();
      console.log('after close');
    })();`;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
    expect(stdout).toContain('after close');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
