import { SingleBar } from 'cli-progress';
import type { Writable } from 'node:stream';
import type { EventStore, RecordedEvent } from '../event-store/event-store.port';

const PAGE = 5000;

function belongsTo(event: RecordedEvent, workspace?: string): boolean {
  return workspace === undefined || event.metadata.workspace === workspace;
}

/** Writes a line and waits when the pipe is full, so exporting a large log does not buffer it in memory. */
async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

export async function exportEvents(
  store: EventStore,
  out: Writable,
  options: { workspace?: string; fromPosition?: number; progress?: NodeJS.WritableStream },
): Promise<number> {
  const head = await store.headPosition();
  const start = options.fromPosition ?? 0;
  const bar = options.progress
    ? new SingleBar({ stream: options.progress, format: 'Exporting [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left' })
    : undefined;
  bar?.start(head, Math.min(start, head));
  let count = 0;
  let from = start;
  try {
    while (from <= head) {
      const page = await store.readAll({ fromPosition: from, maxCount: PAGE });
      if (page.length === 0) break;
      for (const event of page) {
        if (event.position > head) break;
        if (!belongsTo(event, options.workspace)) continue;
        await writeLine(out, JSON.stringify(event));
        count += 1;
      }
      from = page[page.length - 1].position + 1;
      bar?.update(Math.min(from - 1, head));
    }
  } finally {
    bar?.stop();
  }
  return count;
}

/** Follows the log live; returns the function that stops following. */
export function tailEvents(
  store: EventStore,
  out: Writable,
  options: { workspace?: string; afterPosition?: number },
): () => Promise<void> {
  let subscription: ReturnType<EventStore['subscribeToAll']> | undefined;
  const done = (async () => {
    const afterPosition = options.afterPosition ?? (await store.headPosition());
    subscription = store.subscribeToAll({ afterPosition });
    for await (const event of subscription) {
      if (belongsTo(event, options.workspace)) await writeLine(out, JSON.stringify(event));
    }
  })();
  return async () => {
    await subscription?.stop();
    await done;
  };
}
