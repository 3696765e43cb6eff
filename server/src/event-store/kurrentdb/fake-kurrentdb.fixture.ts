import {
  type AllStreamResolvedEvent,
  type AppendResult as ClientAppendResult,
  type AppendStreamState,
  type EventData,
  type Position,
  type ReadAllOptions as ClientReadAllOptions,
  type ReadStreamOptions as ClientReadStreamOptions,
  StreamNotFoundError,
  type SubscribeToAllOptions,
  UnknownError,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { KurrentDbClient } from './kurrentdb-event-store';

/**
 * An in-memory stand-in for the client, written to the server behaviour documented for KurrentDB:
 * positions are byte offsets of records (reading `$all` from inside a record is refused), appends
 * with an expectation are idempotent by event id and answer a replay like the original write, and
 * system records sit in the log. It exercises the adapter's own logic (mapping, paging, replay
 * detection, read-start fallback, subscriptions); it does not replace the run against a server.
 * With `recentIds`, an append with no expectation (`any`) recognises a known id only among the
 * last `recentIds` events written, as the server does with its cache of recent ids, and writes any
 * other id again.
 */
export class FakeKurrentDb implements KurrentDbClient {
  readonly records: Array<{
    stream: string;
    id: string;
    type: string;
    data: string;
    metadata: string;
    revision: number;
    position: number;
    created: Date;
  }> = [];
  private end = 0;
  private readonly live = new Set<() => void>();
  readAllCalls = 0;

  constructor(private readonly options: { recentIds?: number } = {}) {
    this.write('$settings', '$settings', {});
    this.write('$stats-127.0.0.1:2113', '$statsCollected', {});
  }

  async appendToStream(stream: string, events: EventData | EventData[], options: { streamState?: AppendStreamState } = {}): Promise<ClientAppendResult> {
    await new Promise((resolve) => setImmediate(resolve));
    const list = Array.isArray(events) ? events : [events];
    const state = options.streamState ?? 'any';
    const mine = this.records.filter((r) => r.stream === stream);
    const current = mine.length - 1;
    const recognised = (r: FakeKurrentDb['records'][number]) =>
      state !== 'any' || this.options.recentIds === undefined || this.records.indexOf(r) >= this.records.length - this.options.recentIds;
    const known = list.map((e) => mine.find((r) => r.id === e.id && recognised(r)));
    const replayAt = typeof state === 'bigint' ? Number(state) + 1 : state === 'no_stream' ? 0 : undefined;
    const isReplay =
      known.every(Boolean) &&
      (replayAt === undefined ? state === 'any' : known.every((r, i) => r!.revision === replayAt + i));
    if (isReplay) {
      const last = known[known.length - 1]!;
      return { success: true, nextExpectedRevision: BigInt(last.revision), position: { commit: BigInt(last.position), prepare: BigInt(last.position) } };
    }
    const ok =
      state === 'any' ||
      (state === 'no_stream' && current === -1) ||
      (state === 'stream_exists' && current >= 0) ||
      (typeof state === 'bigint' && Number(state) === current);
    if (!ok || known.some(Boolean)) {
      throw new WrongExpectedVersionError(undefined, { streamName: stream, expected: state, current: current < 0 ? 'no_stream' : BigInt(current) });
    }
    let last = this.records[0];
    for (const event of list) last = this.write(stream, event.type, event.data, event.metadata, event.id);
    this.live.forEach((wake) => wake());
    return { success: true, nextExpectedRevision: BigInt(last.revision), position: { commit: BigInt(last.position), prepare: BigInt(last.position) } };
  }

  readStream(stream: string, options: ClientReadStreamOptions = {}): AsyncIterableIterator<never> {
    const records = this.records;
    return (async function* () {
      const mine = records.filter((r) => r.stream === stream);
      if (mine.length === 0) throw new StreamNotFoundError(undefined, stream);
      const backwards = options.direction === 'backwards';
      const from = options.fromRevision === undefined || options.fromRevision === 'start' ? 0 : options.fromRevision === 'end' ? Infinity : Number(options.fromRevision);
      const selected = backwards ? mine.filter((r) => r.revision <= from).reverse() : mine.filter((r) => r.revision >= from);
      for (const record of selected.slice(0, Number(options.maxCount ?? Infinity))) yield FakeKurrentDb.resolve(record) as never;
    })();
  }

  readAll(options: ClientReadAllOptions = {}): AsyncIterableIterator<AllStreamResolvedEvent> {
    this.readAllCalls += 1;
    const records = [...this.records];
    const end = this.end;
    return (async function* () {
      const from = options.fromPosition ?? 'start';
      if (typeof from === 'object' && from.commit < BigInt(end) && !records.some((r) => BigInt(r.position) === from.commit)) {
        throw new UnknownError(undefined, `Invalid position ${from.commit}`);
      }
      let selected = records.filter((r) => FakeKurrentDb.passes(r, options.filter));
      if (options.direction === 'backwards') selected = selected.reverse();
      else if (typeof from === 'object') selected = selected.filter((r) => BigInt(r.position) >= from.commit);
      for (const record of selected.slice(0, Number(options.maxCount ?? Infinity))) yield FakeKurrentDb.resolve(record);
    })();
  }

  subscribeToAll(options: SubscribeToAllOptions = {}) {
    const stream = new PassThrough({ objectMode: true }) as PassThrough & { unsubscribe(): Promise<void> };
    let after = typeof options.fromPosition === 'object' ? Number(options.fromPosition.commit) : -1;
    const pump = () => {
      for (const record of this.records) {
        if (record.position <= after) continue;
        after = record.position;
        if (FakeKurrentDb.passes(record, options.filter)) stream.write(FakeKurrentDb.resolve(record));
      }
    };
    this.live.add(pump);
    stream.unsubscribe = async () => {
      this.live.delete(pump);
    };
    setImmediate(pump);
    return stream as never;
  }

  async dispose(): Promise<void> {
    this.live.clear();
  }

  private write(stream: string, type: string, data: unknown, metadata: unknown = {}, id: string = randomUUID()) {
    const record = {
      stream,
      id,
      type,
      data: JSON.stringify(data),
      metadata: JSON.stringify(metadata),
      revision: this.records.filter((r) => r.stream === stream).length,
      position: this.end,
      created: new Date(),
    };
    this.records.push(record);
    this.end += 128 + record.data.length + record.metadata.length;
    return record;
  }

  private static passes(record: FakeKurrentDb['records'][number], filter?: ClientReadAllOptions['filter']): boolean {
    if (!filter) return true;
    const subject = filter.filterOn === 'streamName' ? record.stream : record.type;
    return 'prefixes' in filter ? filter.prefixes.some((p) => subject.startsWith(p)) : new RegExp(filter.regex).test(subject);
  }

  private static resolve(record: FakeKurrentDb['records'][number]): AllStreamResolvedEvent {
    const position: Position = { commit: BigInt(record.position), prepare: BigInt(record.position) };
    return {
      event: {
        streamId: record.stream,
        id: record.id,
        isJson: true,
        revision: BigInt(record.revision),
        type: record.type,
        created: record.created,
        data: JSON.parse(record.data),
        metadata: JSON.parse(record.metadata),
        position,
      },
      commitPosition: position.commit,
    };
  }
}
