import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { newEvent, waitFor } from '../event-store/event-store.contract';
import type { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { exportEvents, tailEvents } from './events.commands';

const run = promisify(execFile);

/** Runs the CLI with a terminal as stdout and stderr (util-linux `script` gives it a pseudo-terminal), as a person at a shell does. */
function runOnTerminal(args: string[]) {
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  return run('script', ['-q', '-e', '-c', [process.execPath, ...args].map(quote).join(' '), '/dev/null']);
}

let dataDir: string;
let writer: SqliteEventStore;

function inWorkspace(workspace: string, type: string): NewEvent {
  const event = newEvent(type);
  event.metadata.workspace = workspace;
  return event;
}

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  writer = new SqliteEventStore({ path: join(dataDir, 'events.sqlite') });
  await writer.append('user-a:1', [inWorkspace('a', 'One'), inWorkspace('a', 'Two')]);
  await writer.append('user-b:1', [inWorkspace('b', 'Three')]);
  await writer.append('user-a:2', [inWorkspace('a', 'Four')]);
});
afterEach(async () => {
  await writer.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function collect(stream: PassThrough): () => RecordedEvent[] {
  let text = '';
  stream.on('data', (chunk) => (text += chunk));
  return () => text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

describe('herald events export', () => {
  it('writes NDJSON of the whole log, of one workspace, or from a position', async () => {
    const reader = new SqliteEventStore({ path: join(dataDir, 'events.sqlite'), readonly: true });
    const all = new PassThrough();
    const allLines = collect(all);
    expect(await exportEvents(reader, all, {})).toBe(4);
    expect(allLines().map((e) => e.type)).toEqual(['One', 'Two', 'Three', 'Four']);

    const onlyA = new PassThrough();
    const aLines = collect(onlyA);
    await exportEvents(reader, onlyA, { workspace: 'a', fromPosition: 2 });
    expect(aLines().map((e) => e.type)).toEqual(['Two', 'Four']);
    await reader.close();
  });

  it('runs as the `herald` binary with a progress bar kept off stdout', async () => {
    const bin = resolve(__dirname, '../../dist/cli/main.js');
    const { stdout, stderr } = await run(process.execPath, [bin, '--data-dir', dataDir, 'events', 'export', '--workspace', 'b']);
    expect(stdout.trim().split('\n').map((line) => JSON.parse(line).type)).toEqual(['Three']);
    expect(stderr).toContain('Exported 1 events');
    await expect(run(process.execPath, [bin, 'events', 'export', '--from', 'minus-one'])).rejects.toMatchObject({
      stderr: expect.stringContaining('non-negative integer'),
    });
  });

  it('draws a progress bar when stderr is a terminal, and not with --no-progress', async () => {
    const bin = resolve(__dirname, '../../dist/cli/main.js');
    const { stdout } = await runOnTerminal([bin, '--data-dir', dataDir, 'events', 'export']);
    expect(stdout).toMatch(/Exporting \[=+\] 100% \| position 4\/4/);
    expect(stdout).toContain('Exported 4 events');
    const quiet = await runOnTerminal([bin, '--data-dir', dataDir, 'events', 'export', '--no-progress']);
    expect(quiet.stdout).not.toContain('Exporting [');
    expect(quiet.stdout).toContain('Exported 4 events');
  });
});

describe('herald events tail', () => {
  it('prints events appended by the running server as they arrive', async () => {
    const reader = new SqliteEventStore({ path: join(dataDir, 'events.sqlite'), readonly: true, pollIntervalMs: 20 });
    const out = new PassThrough();
    const lines = collect(out);
    const stop = tailEvents(reader, out, { workspace: 'a' });
    await new Promise((r) => setTimeout(r, 50));
    await writer.append('user-a:1', [inWorkspace('a', 'Live')]);
    await writer.append('user-b:1', [inWorkspace('b', 'Other workspace')]);
    await writer.append('user-a:1', [inWorkspace('a', 'Live again')]);
    await waitFor(() => lines().length === 2);
    await stop();
    expect(lines().map((e) => e.type)).toEqual(['Live', 'Live again']);
    await reader.close();
  });
});
