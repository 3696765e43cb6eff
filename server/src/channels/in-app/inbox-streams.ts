/**
 * Live inbox streams (Server-Sent Events). A stream opens with `event: snapshot` (the unread count),
 * replays the messages after `Last-Event-ID` when an EventSource reconnects, then sends
 * `event: message` for every message delivered to the person from then on, each with its log position
 * as the event id. Comments (`: ping`) keep proxies from closing an idle connection. A stream ends when
 * the client leaves, when its token expires (the client's reconnect then gets 401), when the server
 * shuts down, or when the log cannot be followed (the client reconnects and gets a new snapshot).
 */
import type { OnModuleDestroy } from '@nestjs/common';
import { personStream } from '@herald/projections';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedEvent } from '../../event-store/event-store.port';
import { toErrorResponse } from '../../http/error.filter';
import type { Clock } from '../../shared/clock';
import type { InboxFeed } from './inbox-feed';
import { type InAppMessageDelivered, type InboxItem, inboxItem, unreadCount } from './inbox';
import type { InboxPrincipal, InboxService } from './inbox.service';

export interface InboxStreamsOptions {
  heartbeatMs?: number;
  /** How long an EventSource waits before reconnecting (the `retry:` field). */
  retryMs?: number;
  /** A client that reads slower than messages arrive is cut off past this much unsent output. */
  maxBufferedBytes?: number;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx buffers responses unless told otherwise.
  'x-accel-buffering': 'no',
  'access-control-allow-origin': '*',
};

/** Timers longer than this overflow to 1 ms in Node. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class InboxStreams implements OnModuleDestroy {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly feed: InboxFeed,
    private readonly inbox: InboxService,
    private readonly clock: Clock,
    private readonly options: InboxStreamsOptions = {},
  ) {}

  /** Streams currently open on this node. */
  get size(): number {
    return this.open.size;
  }

  /** Serves one EventSource connection; `response` is the raw response of a hijacked reply. */
  async serve(principal: InboxPrincipal, request: IncomingMessage, response: ServerResponse): Promise<void> {
    let live = false;
    let ended = false;
    const early: RecordedEvent[] = [];
    let after = 0;
    let unlisten: (() => void) | undefined;
    const timers: NodeJS.Timeout[] = [];

    const end = () => {
      if (ended) return;
      ended = true;
      for (const timer of timers) clearTimeout(timer);
      unlisten?.();
      this.open.delete(end);
      if (!response.writableEnded) response.end();
    };
    const write = (chunk: string) => {
      if (ended) return;
      response.write(chunk);
      if (response.writableLength > (this.options.maxBufferedBytes ?? 1024 * 1024)) end();
    };
    const deliver = (event: RecordedEvent) => {
      if (event.position <= after) return;
      after = event.position;
      write(messageFrame(event.position, itemOf(event)));
    };
    this.open.add(end);
    response.on('close', end);
    // A write racing a dropped connection must end this stream, not the process.
    response.on('error', end);

    try {
      unlisten = await this.feed.listen(personStream(principal.workspace, principal.person), {
        onEvent: (event) => (live ? deliver(event) : early.push(event)),
        onEnd: () => end(),
      });
      if (ended) return unlisten();
      const snapshot = await this.inbox.load(principal);
      if (ended) return;
      after = snapshot.position;
      response.writeHead(200, SSE_HEADERS);
      response.flushHeaders();
      write(`retry: ${this.options.retryMs ?? 3000}\n\n`);
      write(`event: snapshot\ndata: ${JSON.stringify({ unread: unreadCount(snapshot.state) })}\n\n`);
      const lastEventId = Number(request.headers['last-event-id']);
      if (Number.isSafeInteger(lastEventId) && lastEventId >= 0) {
        for (const message of snapshot.state.messages.values()) {
          if (message.position > lastEventId && !message.archived) write(messageFrame(message.position, inboxItem(message)));
        }
      }
      for (const event of early.splice(0)) deliver(event);
      live = true;
    } catch (error) {
      if (!response.headersSent && !ended) {
        const { status, body } = toErrorResponse(error);
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' });
        response.end(JSON.stringify(body));
      }
      end();
      return;
    }

    const heartbeat = setInterval(() => write(': ping\n\n'), this.options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    timers.push(heartbeat);
    const untilExpiry = Date.parse(principal.expiresAt) - this.clock.now().getTime();
    if (untilExpiry <= MAX_TIMER_MS) {
      const expiry = setTimeout(end, Math.max(0, untilExpiry));
      expiry.unref();
      timers.push(expiry);
    }
  }

  /** Ends every open stream (shutdown: an open response would keep the HTTP server from closing). */
  closeAll(): void {
    for (const end of [...this.open]) end();
  }

  /** Nest calls this before it closes the HTTP server and, later, the event store. */
  async onModuleDestroy(): Promise<void> {
    this.closeAll();
    await this.feed.close();
  }
}

function itemOf(event: RecordedEvent): InboxItem {
  const data = event.data as InAppMessageDelivered;
  return {
    messageId: data.messageId,
    title: data.title,
    body: data.body,
    ...(data.url === undefined ? {} : { url: data.url }),
    deliveredAt: event.metadata.occurredAt,
    read: false,
    archived: false,
  };
}

/** JSON.stringify escapes line breaks, so the payload is always one `data:` line. */
function messageFrame(position: number, item: InboxItem): string {
  return `id: ${position}\nevent: message\ndata: ${JSON.stringify(item)}\n\n`;
}
