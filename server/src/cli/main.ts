#!/usr/bin/env node
/**
 * `herald`: the command line. It reads the same event log as the server (the embedded SQLite file
 * under DATA_DIR, opened read-only so it can run beside a live server, or KurrentDB via EVENTSTORE_URL).
 */
import { Command, InvalidArgumentError } from 'commander';
import { configFromEnv } from '../config';
import { createEventStore } from '../event-store/create-event-store';
import { exportEvents, tailEvents } from './events.commands';

function position(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a non-negative integer position');
  return parsed;
}

export function buildCli(): Command {
  const program = new Command('herald').description('Herald command line').showHelpAfterError();
  program.option('--data-dir <dir>', 'data folder of the embedded store (default: DATA_DIR or ./data)');

  const events = program.command('events').description('read the event log');
  const openStore = () => {
    const dataDir = program.opts<{ dataDir?: string }>().dataDir;
    const config = configFromEnv({ ...process.env, ...(dataDir ? { DATA_DIR: dataDir } : {}) });
    return createEventStore(config, { readonly: true });
  };

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
        process.exit(0);
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });

  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: Error) => {
      process.stderr.write(`herald: ${error.message}\n`);
      process.exit(1);
    });
}
