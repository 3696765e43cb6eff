/**
 * Follows the log for new in-app messages and hands each to the live streams open for its person.
 *
 * One subscription per node, shared by every open stream, rather than one per stream: the embedded
 * store reads and decodes every appended event once per subscription (it filters after reading), so
 * a thousand open inboxes would read the log a thousand times; on KurrentDB they would be a thousand
 * gRPC streams. Listeners are keyed by exact stream name, so `user-ws:ab` never sees `user-ws:abc`'s
 * messages, which a stream-prefix filter would let through. The subscription starts with the first
 * listener, from the head of the log, and stops when the last one leaves. It follows the log itself,
 * not this node's appends, so a message recorded by any node reaches a stream open on any other.
 */
import type { EventStore, RecordedEvent, Subscription } from '../../event-store/event-store.port';
import { IN_APP_EVENTS } from './inbox';

export interface FeedListener {
  onEvent(event: RecordedEvent): void;
  /** The feed stopped (store failure or shutdown): the listener is gone and should close its stream. */
  onEnd(error?: unknown): void;
}

interface Run {
  ready: Promise<void>;
  subscription?: Subscription;
  stopped: boolean;
}

export class InboxFeed {
  private readonly listeners = new Map<string, Set<FeedListener>>();
  private run?: Run;
  private readonly stopping = new Set<Promise<void>>();

  constructor(private readonly store: EventStore) {}

  /**
   * Registers a listener for one person's stream and resolves once the log is followed from a
   * position no earlier than the call, so a caller that reads the stream afterwards misses nothing
   * (it may see an event both ways: compare positions). Returns the function that unregisters.
   */
  async listen(stream: string, listener: FeedListener): Promise<() => void> {
    let set = this.listeners.get(stream);
    if (!set) this.listeners.set(stream, (set = new Set()));
    set.add(listener);
    const remove = () => this.remove(stream, listener);
    try {
      this.run ??= this.start();
      await this.run.ready;
    } catch (error) {
      remove();
      throw error;
    }
    return remove;
  }

  /** Open listeners (for tests and metrics). */
  get listenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  /** Whether the log is being followed right now. */
  get following(): boolean {
    return this.run !== undefined;
  }

  /** Ends every listener and stops following. */
  async close(): Promise<void> {
    this.endAll();
    await Promise.allSettled([...this.stopping]);
  }

  private start(): Run {
    const run: Run = { stopped: false, ready: Promise.resolve() };
    run.ready = this.store.headPosition().then(
      (head) => {
        if (run.stopped) return;
        const subscription = this.store.subscribeToAll({ afterPosition: head, filter: { eventTypes: [IN_APP_EVENTS.delivered] } });
        run.subscription = subscription;
        void this.pump(run, subscription);
      },
      (error) => {
        if (this.run === run) this.run = undefined;
        throw error;
      },
    );
    return run;
  }

  private async pump(run: Run, subscription: Subscription): Promise<void> {
    let failure: unknown;
    try {
      for await (const event of subscription) {
        if (this.run !== run) return;
        const set = this.listeners.get(event.stream);
        if (!set) continue;
        for (const listener of [...set]) {
          // One broken connection must not stop the feed for everyone else on the node.
          try {
            listener.onEvent(event);
          } catch {
            this.remove(event.stream, listener);
            listener.onEnd();
          }
        }
      }
    } catch (error) {
      failure = error;
    }
    // Ended on its own (store failure or closed): every stream ends; EventSource clients reconnect.
    if (this.run === run) this.endAll(failure);
  }

  private remove(stream: string, listener: FeedListener): void {
    const set = this.listeners.get(stream);
    if (!set?.delete(listener)) return;
    if (set.size === 0) this.listeners.delete(stream);
    if (this.listeners.size === 0) this.stop();
  }

  private endAll(error?: unknown): void {
    const all = [...this.listeners.values()].flatMap((set) => [...set]);
    this.listeners.clear();
    this.stop();
    for (const listener of all) listener.onEnd(error);
  }

  private stop(): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    run.stopped = true;
    const stopping = run.ready
      .then(() => run.subscription?.stop())
      .catch(() => undefined)
      .finally(() => this.stopping.delete(stopping));
    this.stopping.add(stopping);
  }
}
