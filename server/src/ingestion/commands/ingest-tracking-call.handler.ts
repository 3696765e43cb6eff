/**
 * Turns a tracking call into events on the right person's stream and answers once they are durable.
 * Event ids are derived from (workspace, messageId), so a retried call, or a duplicate messageId,
 * appends nothing new: it is accepted and stored once. The embedded log refuses a known id by
 * itself; on KurrentDB the ingested-ids index (`dedupe/`) leaves known messages out of the append.
 */
import { type IdentityLink, anonymousStream, userStream } from '@herald/projections';
import { Inject, Optional } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EVENT_STORE, type EventStore, type NewEvent } from '../../event-store/event-store.port';
import { IDENTITY_LINKED } from '../../identity/identity.projection';
import { IdentityService } from '../../identity/identity.service';
import { Metrics } from '../../operations/metrics';
import { CLOCK, type Clock } from '../../shared/clock';
import { derivedEventId, uuidv5, uuidv7 } from '../../shared/ids';
import { InvalidTrackingCallError } from '../ingestion.errors';
import { parseSegmentCall } from '../segment/parse-segment';
import type { SegmentCallType, SegmentMessage } from '../segment/segment-message';
import { IngestedIds } from '../dedupe/ingested-ids.service';
import { IngestTrackingCallCommand, type IngestTrackingCallResult } from './ingest-tracking-call.command';

/** Log event type for each Segment call. */
export const TRACKING_EVENT_TYPES: Record<SegmentCallType, string> = {
  track: 'Tracked',
  identify: 'Identified',
  page: 'PageViewed',
  screen: 'ScreenViewed',
  group: 'Grouped',
  alias: 'Aliased',
};

export function trackingEventId(workspace: string, messageId: string): string {
  return uuidv5(`segment|${workspace}|${messageId}`);
}

@CommandHandler(IngestTrackingCallCommand)
export class IngestTrackingCallHandler implements ICommandHandler<IngestTrackingCallCommand, IngestTrackingCallResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly identity: IdentityService,
    private readonly metrics: Metrics,
    /** Only on logs that do not refuse a known id themselves (KurrentDB). */
    @Optional() private readonly dedupe?: IngestedIds | null,
  ) {}

  async execute({ workspace, kind, body }: IngestTrackingCallCommand): Promise<IngestTrackingCallResult> {
    const call = await this.startAppends(workspace, kind, body);
    await call.durable;
    return { accepted: call.accepted };
  }

  /**
   * Validates the call, resolves each message's person and starts the appends, and returns without
   * waiting for them: the parsed messages and their events are then garbage as soon as the store has
   * serialised them, instead of living in this handler's frame until the commit is durable (hundreds
   * of milliseconds under load, with a thousand calls in flight: long enough to be promoted to the old
   * generation, which is what the GC paid for).
   */
  private async startAppends(
    workspace: string,
    kind: IngestTrackingCallCommand['kind'],
    body: unknown,
  ): Promise<{ accepted: number; durable: Promise<void> }> {
    const receivedAt = this.clock.now();
    const parsed = parseSegmentCall(kind, body, { receivedAt, newMessageId: () => `herald-${uuidv7(receivedAt.getTime())}` });
    if (!parsed.ok) {
      this.metrics.rejectedRequests.inc({ reason: parsed.code });
      throw new InvalidTrackingCallError(parsed.status, parsed.code, parsed.message, parsed.problems, parsed.index);
    }

    const duplicates: Promise<unknown>[] = [];
    let messages = parsed.messages;
    // The ids the dedupe derived, so they are not derived again (only on logs that need the dedupe).
    let ids: Map<SegmentMessage, string> | undefined;
    if (this.dedupe) {
      ids = new Map();
      await this.dedupe.ready();
      messages = newMessages(workspace, messages, this.dedupe, duplicates, ids);
    } else if (messages.length > 1) {
      messages = firstOfEachId(messages);
    }

    // Resolve in order, so a link made by an earlier message of a batch routes the later ones.
    const byStream = new Map<string, { events: NewEvent[]; links: IdentityLink[] }>();
    for (const message of messages) {
      const { person, links } = this.identity.resolve(workspace, message);
      const stream = person.kind === 'user' ? userStream(workspace, person.userId) : anonymousStream(workspace, person.anonymousId);
      const entry = byStream.get(stream) ?? { events: [], links: [] };
      byStream.set(stream, entry);
      const messageEvent = toEvent(workspace, message, ids?.get(message));
      for (const link of links) entry.events.push(linkEvent(workspace, link, messageEvent));
      entry.links.push(...links);
      entry.events.push(messageEvent);
    }
    // Counted by type for the metrics, which are written once the call is durable.
    const types = new Map<string, number>();
    for (const message of parsed.messages) types.set(message.type, (types.get(message.type) ?? 0) + 1);

    const started = process.hrtime.bigint();
    const appends: Array<Promise<unknown>> = [];
    const links: IdentityLink[][] = [];
    for (const [stream, entry] of byStream) {
      appends.push(this.store.append(stream, entry.events, { expectedRevision: 'any' }));
      links.push(entry.links);
    }
    if (this.dedupe) reserveIds(this.dedupe, [...byStream.values()], appends);
    return { accepted: parsed.messages.length, durable: this.whenDurable(workspace, appends, links, duplicates, types, started) };
  }

  /** Waits for every append; a failed one gives its reserved links back. */
  private async whenDurable(
    workspace: string,
    appends: Array<Promise<unknown>>,
    links: IdentityLink[][],
    duplicates: Array<Promise<unknown>>,
    types: Map<string, number>,
    started: bigint,
  ): Promise<void> {
    const outcomes = await Promise.allSettled(appends);
    this.metrics.appendLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected') this.identity.release(workspace, links[i]);
    });
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    // Some streams may have been written: the client retries the whole call and the derived ids make that safe.
    if (failure) throw failure.reason;
    // A duplicate of a message still being appended is acknowledged once that append is durable.
    await Promise.all(duplicates);
    for (const [type, count] of types) this.metrics.ingestedEvents.inc({ workspace, type }, count);
  }
}

/**
 * The messages whose events are not in the log yet, once each. A message whose id is being appended
 * by another call adds that append to `duplicates`, to be waited for.
 */
function newMessages(
  workspace: string,
  messages: SegmentMessage[],
  dedupe: IngestedIds,
  duplicates: Promise<unknown>[],
  ids: Map<SegmentMessage, string>,
): SegmentMessage[] {
  const inThisCall = new Set<string>();
  return messages.filter((message) => {
    const id = trackingEventId(workspace, message.messageId);
    ids.set(message, id);
    if (inThisCall.has(id)) return false;
    inThisCall.add(id);
    const known = dedupe.lookup(id);
    if (known !== undefined && known !== 'stored') duplicates.push(known);
    return known === undefined;
  });
}

/**
 * One call carrying a messageId twice stores its first copy, as two calls would: the embedded log
 * refuses one append that holds an event id twice, which would refuse the whole batch.
 */
function firstOfEachId(messages: SegmentMessage[]): SegmentMessage[] {
  const seen = new Set<string>();
  const first = messages.filter((message) => {
    if (seen.has(message.messageId)) return false;
    seen.add(message.messageId);
    return true;
  });
  return first.length === messages.length ? messages : first;
}

/** Done in the same synchronous step as the lookups, so a concurrent duplicate finds the append. */
function reserveIds(dedupe: IngestedIds, entries: Array<{ events: NewEvent[] }>, appends: Promise<unknown>[]): void {
  entries.forEach(({ events }, i) => {
    for (const event of events) if (event.type !== IDENTITY_LINKED) dedupe.reserve(event.id, appends[i]);
  });
}

/** `id` when already derived (the dedupe looked it up). */
function toEvent(workspace: string, message: SegmentMessage, id = trackingEventId(workspace, message.messageId)): NewEvent {
  return {
    id,
    type: TRACKING_EVENT_TYPES[message.type],
    data: message,
    metadata: {
      workspace,
      correlationId: id,
      occurredAt: message.timestamp,
      receivedAt: message.receivedAt,
      schemaVersion: 1,
    },
  };
}

function linkEvent(workspace: string, link: IdentityLink, cause: NewEvent): NewEvent {
  return {
    id: derivedEventId(cause.id, 'identity', link.key),
    type: IDENTITY_LINKED,
    data: link,
    metadata: {
      workspace,
      causationId: cause.id,
      correlationId: cause.id,
      occurredAt: cause.metadata.occurredAt,
      receivedAt: cause.metadata.receivedAt,
      schemaVersion: 1,
    },
  };
}
