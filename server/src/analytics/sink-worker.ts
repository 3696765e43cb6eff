/** The main thread's handle on the analytics sink's worker thread (analytics-sink-thread.ts). */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LocalLogFile } from '../event-store/event-store.port';
import type { FromSinkThread, SinkThreadData, ToSinkThread } from './sink-thread-messages';

export interface SinkBatch {
  seq: number;
  /** TabSeparated rows (columns as `EVENT_TSV_COLUMNS`), UTF-8. */
  payload: Uint8Array;
  events: number;
  /** Position of the batch's last event. */
  last: number;
}

export class SinkThreadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkThreadError';
  }
}

type Waiter<T> = { resolve: (value: T) => void; reject: (error: Error) => void };

export class SinkWorker {
  private readonly worker: Worker;
  /** Pages of the log the thread had read when it handed over its last batch. */
  reads = 0;
  /** `appended` messages posted to the thread (for tests). */
  wakes = 0;
  private readonly unsubscribe: () => void;
  /** Batches handed over and not asked for yet, oldest first. */
  private readonly ready: SinkBatch[] = [];
  private batchWaiter?: Waiter<SinkBatch | undefined>;
  private readonly commitWaiters = new Map<number, Waiter<number>>();
  private failure?: Error;
  private interrupted = false;
  private ended = false;
  private readonly exited: Promise<void>;

  constructor(data: Omit<SinkThreadData, 'listening'>, log: LocalLogFile) {
    const listening = new SharedArrayBuffer(4);
    const flag = new Int32Array(listening);
    this.worker = new Worker(join(__dirname, 'analytics-sink.worker.js'), { workerData: { ...data, listening } satisfies SinkThreadData });
    // Never what keeps a process alive: the owner stops the sink (stop() holds it open meanwhile).
    this.worker.unref();
    this.worker.on('message', (message: FromSinkThread) => this.receive(message));
    this.worker.on('error', (error) => this.fail(new SinkThreadError(`The analytics sink thread failed: ${error.message}`)));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.ended = true;
        this.unsubscribe();
        this.fail(new SinkThreadError(`The analytics sink thread ended (exit code ${code})`));
        resolve();
      }),
    );
    this.unsubscribe = log.onAppended(() => {
      // Once per wait of the thread: whoever swaps the 1 out posts.
      if (Atomics.compareExchange(flag, 0, 1, 0) !== 1) return;
      this.wakes += 1;
      this.send({ type: 'appended' });
    });
  }

  /** Whether the thread is still alive. */
  get running(): boolean {
    return !this.ended;
  }

  /** The next batch; undefined once the thread was told to stop. */
  nextBatch(): Promise<SinkBatch | undefined> {
    if (this.interrupted) return Promise.resolve(undefined);
    const batch = this.ready.shift();
    if (batch) return Promise.resolve(batch);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.batchWaiter = { resolve, reject }));
  }

  /**
   * Tells the thread the batch is stored; resolves with the checkpoint once it has committed it.
   * Batches must be reported in the order they were handed over; the next one may be inserted meanwhile.
   * The batch's payload goes back to the thread with it, for a later batch: it is unusable here after.
   */
  commit(batch: Pick<SinkBatch, 'seq' | 'payload'>): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const buffer = batch.payload.buffer as ArrayBuffer;
    return new Promise((resolve, reject) => {
      this.commitWaiters.set(batch.seq, { resolve, reject });
      if (buffer.byteLength > 0) this.send({ type: 'stored', seq: batch.seq, buffer }, [buffer]);
      else this.send({ type: 'stored', seq: batch.seq });
    });
  }

  /** From now on `nextBatch` answers undefined (a commit under way still completes). */
  interrupt(): void {
    this.interrupted = true;
    const waiter = this.batchWaiter;
    this.batchWaiter = undefined;
    waiter?.resolve(undefined);
  }

  /** Ends the thread, dropping what it read after the last commit; resolves once it has exited. */
  async stop(): Promise<void> {
    this.interrupt();
    if (this.ended) return;
    // Held open until the thread has exited, so code after `await stop()` runs.
    this.worker.ref();
    this.send({ type: 'stop' });
    await this.exited;
  }

  private send(message: ToSinkThread, transfer?: ArrayBuffer[]): void {
    if (!this.ended) this.worker.postMessage(message, transfer);
  }

  private receive(message: FromSinkThread): void {
    switch (message.type) {
      case 'started':
        return;
      case 'batch': {
        this.reads = message.reads;
        const batch = { seq: message.seq, payload: new Uint8Array(message.payload, message.offset, message.length), events: message.events, last: message.last };
        const waiter = this.batchWaiter;
        this.batchWaiter = undefined;
        if (waiter) waiter.resolve(batch);
        else this.ready.push(batch);
        return;
      }
      case 'committed': {
        const waiter = this.commitWaiters.get(message.seq);
        this.commitWaiters.delete(message.seq);
        waiter?.resolve(message.position);
        return;
      }
      case 'failed':
        return this.fail(new SinkThreadError(message.message));
      default: {
        const unknown: never = message;
        throw new Error(`Unknown message from the sink thread: ${JSON.stringify(unknown)}`);
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const batchWaiter = this.batchWaiter;
    const commitWaiters = [...this.commitWaiters.values()];
    this.batchWaiter = undefined;
    this.commitWaiters.clear();
    batchWaiter?.reject(this.failure);
    for (const waiter of commitWaiters) waiter.reject(this.failure);
  }
}
