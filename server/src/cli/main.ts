#!/usr/bin/env node
/**
 * `herald`: the command line. It reads the same event log as the server (the embedded SQLite file
 * under DATA_DIR, opened read-only so it can run beside a live server, or KurrentDB via EVENTSTORE_URL).
 */
import { Command, InvalidArgumentError } from 'commander';
import { configFromEnv } from '../config';
import { createEventStore } from '../event-store/create-event-store';
import { exportEvents, tailEvents } from './events.commands';
import { formatParked, readParked, rebuildProjections } from './projections.commands';
import { formatReport, loadScenarioFile, loadSettingsFile, parseDate, simulateWithProgress } from './simulate.command';
import { openStateDb } from '../state/state-db';
import { dataDirHolder } from '../state/data-dir-lock';
import { join } from 'node:path';

function position(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a non-negative integer position');
  return parsed;
}

export function buildCli(): Command {
  const program = new Command('herald').description('Herald command line').showHelpAfterError();
  program.option('--data-dir <dir>', 'data folder of the embedded store (default: DATA_DIR or ./data)');

  const events = program.command('events').description('read the event log');
  const config = () => {
    const dataDir = program.opts<{ dataDir?: string }>().dataDir;
    return configFromEnv({ ...process.env, ...(dataDir ? { DATA_DIR: dataDir } : {}) });
  };
  const openStore = () => createEventStore(config(), { readonly: true });

  events
    .command('export')
    .description('write the log (or one workspace of it) as NDJSON, one event per line, in log order')
    .option('-w, --workspace <id>', 'only events of this workspace')
    .option('-f, --from <position>', 'start at this global position (inclusive)', position, 0)
    .option('--no-progress', 'do not draw the progress bar on stderr')
    .action(async (options: { workspace?: string; from: number; progress: boolean }) => {
      const store = openStore();
      try {
        const count = await exportEvents(store, process.stdout, {
          workspace: options.workspace,
          fromPosition: options.from,
          progress: options.progress && process.stderr.isTTY === true ? process.stderr : undefined,
        });
        process.stderr.write(`Exported ${count} events\n`);
      } finally {
        await store.close();
      }
    });

  events
    .command('tail')
    .description('print events as they are appended (NDJSON), until interrupted')
    .option('-w, --workspace <id>', 'only events of this workspace')
    .option('-f, --from <position>', 'start after this position (default: the current end of the log)', position)
    .action(async (options: { workspace?: string; from?: number }) => {
      const store = openStore();
      const stop = tailEvents(store, process.stdout, { workspace: options.workspace, afterPosition: options.from });
      const shutdown = async () => {
        await stop();
        await store.close();
        // The subscription has ended and the store is closed: nothing keeps the process alive.
        process.exitCode = 0;
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });

  const projections = program.command('projections').description('projections (state derived from the log)');
  projections
    .command('rebuild')
    .argument('[names...]', 'projections to rebuild (default: all)')
    .description('drop projections and rebuild them from the log; run it while the server is stopped')
    .option('--no-progress', 'do not draw the progress bar on stderr')
    .action(async (names: string[], options: { progress: boolean }) => {
      const { dataDir } = config();
      const holder = dataDirHolder(dataDir);
      if (holder !== undefined) throw new Error(`Herald (process ${holder}) is running on ${dataDir}; stop it before rebuilding`);
      const store = openStore();
      const db = openStateDb(join(dataDir, 'state.sqlite'));
      try {
        const progress = options.progress && process.stderr.isTTY === true ? process.stderr : undefined;
        const result = await rebuildProjections(store, db, names, progress);
        const rate = result.seconds > 0 ? Math.round(result.events / result.seconds) : result.events;
        process.stderr.write(`Rebuilt ${result.names.join(', ')}: ${result.events} events in ${result.seconds.toFixed(1)} s (${rate} events/s)\n`);
      } finally {
        db.close();
        await store.close();
      }
    });

  projections
    .command('parked')
    .description('list the events projections set aside after their code failed on each repeatedly (docs/deployment.md)')
    .option('--json', 'one JSON object per line')
    .action((options: { json?: boolean }) => {
      const { dataDir } = config();
      process.stdout.write(formatParked(readParked(join(dataDir, 'state.sqlite')), options.json === true));
    });

  program
    .command('simulate')
    .argument('<scenario-file>', 'a draft scenario definition (YAML, or JSON for .json)')
    .description('run a draft scenario over the recorded history in a sandbox: nothing is sent, nothing is appended')
    .requiredOption('--from <date>', 'triggers received from this moment on enrol (ISO 8601 date or date-time, UTC without an offset)', parseDate('from'))
    .option('--to <date>', 'read history and run the clock up to this moment, inclusive; a bare date means its end (default: now)', parseDate('to'))
    .option('-w, --workspace <id>', 'the workspace whose history to use', 'default')
    .option('--settings <file>', 'messaging settings (YAML or JSON) to use instead of those recorded in the log')
    .option('--json', 'print the report as JSON')
    .option('--no-progress', 'do not draw the progress bar on stderr')
    .action(async (file: string, options: { from: number; to?: number; workspace: string; settings?: string; json?: boolean; progress: boolean }) => {
      const definition = loadScenarioFile(file);
      const settings = options.settings === undefined ? undefined : loadSettingsFile(options.settings);
      const store = openStore();
      try {
        const report = await simulateWithProgress(store, definition, {
          workspace: options.workspace,
          from: options.from,
          to: options.to ?? Date.now(),
          settings,
          progress: options.progress && process.stderr.isTTY === true ? process.stderr : undefined,
        });
        process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      } finally {
        await store.close();
      }
    });

  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: Error) => {
      process.stderr.write(`herald: ${error.message}\n`);
      process.exitCode = 1;
    });
}
