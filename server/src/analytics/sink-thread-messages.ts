/** What the main thread and the analytics sink's worker thread say to each other. */

export interface SinkThreadData {
  /** The SQLite log, opened read-only. */
  logPath: string;
  /** The state database holding the sink's checkpoint and funnel links. */
  statePath: string;
  checkpointName: string;
  maxBatch: number;
  maxWaitMs: number;
  /** How often the thread looks at the log's head when no append was announced. */
  pollMs: number;
  /** How often an open batch reads what was appended (appends do not wake it then). */
  openBatchReadMs: number;
  busyTimeoutMs: number;
  /**
   * One Int32 the thread sets to 1 while it waits for an append with no batch open (and to 0 once a
   * read opens one); the main thread swaps it back to 0 when it posts `appended`. So an append is announced only to a thread that
   * waits for one, not on every commit (hundreds a second, each a message to clone and a wake-up).
   */
  listening: SharedArrayBuffer;
}

export type ToSinkThread =
  /** Something was appended to the log (posted only while the thread is `listening`). */
  | { type: 'appended' }
  /**
   * The batch is in ClickHouse: commit its funnel links and the checkpoint. `buffer` is the batch's
   * payload memory, handed back (transferred) for a later batch.
   */
  | { type: 'stored'; seq: number; buffer?: ArrayBuffer }
  | { type: 'stop' };

export type FromSinkThread =
  | { type: 'started'; checkpoint: number }
  /**
   * TabSeparated rows of the events after the checkpoint up to `last`, as UTF-8 bytes; `reads`: the
   * pages of the log the thread has read so far.
   */
  | { type: 'batch'; seq: number; payload: ArrayBuffer; offset: number; length: number; events: number; last: number; reads: number }
  | { type: 'committed'; seq: number; position: number }
  /** Reading the log or the state database failed; the thread ends. */
  | { type: 'failed'; message: string };
