/**
 * The main thread's side of the SMTP thread (smtp-sender.worker.js): posts each message and hands
 * back how its send ended. The thread starts with the first send and holds the process open only
 * while sends are in flight, so an idle adapter does not keep a finished CLI command running.
 *
 * The sends of one turn of the event loop go to the thread in one message, and the thread answers
 * the sends that ended in one of its turns in one message: a post wakes the other thread, and
 * waking it for every email cost more CPU than the message itself (≈ 60 µs here, ≈ 150 µs for the
 * answer, in bench:send's profiles).
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { MessageTracking, TrackingKey } from './tracked-html';

/** What nodemailer gets for one message. */
export interface SmtpMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  messageId: string;
  headers: Record<string, string>;
}

/** The fields of nodemailer's error that say what happened (see `classifySmtpError`). */
export interface SmtpFailure {
  message: string;
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** How a send ended: accepted (no failure), or the failure and whether the whole message had been written. */
export interface SmtpOutcome {
  failure?: SmtpFailure;
  written: boolean;
}

/** The thread ended while this send was in flight: whether the server got the message is not known. */
export class SmtpThreadStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpThreadStoppedError';
  }
}

/** `close()` was called, or the thread ended before the send was handed to it: nothing was sent. */
export class SmtpThreadClosedError extends Error {
  constructor(message = 'The email sender is closed') {
    super(message);
    this.name = 'SmtpThreadClosedError';
  }
}

interface Pending {
  resolve: (outcome: SmtpOutcome) => void;
  reject: (error: Error) => void;
}

interface Running {
  worker: Worker;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  /** Sends not posted yet: they go together at the end of this turn of the event loop. */
  outbox: OutgoingSend[];
}

/** One send as the thread gets it. */
interface OutgoingSend {
  seq: number;
  mail: SmtpMail;
  track?: MessageTracking;
}

/** How one send ended, as the thread answers it (in a list, several at a time). */
interface SendReply {
  seq: number;
  failure?: SmtpFailure;
  written?: boolean;
}

/**
 * Room for the thread's young generation to be as large as the main isolate's under `npm start`
 * (64 MB semi-spaces: two of them and the new large-object space); a worker's default is 16 MB
 * semi-spaces, whatever the process's flags. Its size comes from `--min-semi-space-size` (a
 * worker's young generation does not grow on its own here: it stayed at 16 MB with this limit
 * alone). Each send's objects live from its post to its answer, tens of milliseconds with 32 in
 * flight: with 16 MB the thread scavenged about every 55 emails (75-80 times in 4,500 sends), with
 * 64 MB about three times less often, and the thread and V8's helpers spent ≈ 135 µs less CPU per
 * email (docs/deployment.md).
 */
const SMTP_THREAD_LIMITS = { maxYoungGenerationSizeMb: 192 };

export class SmtpThread {
  private running?: Running;
  private seq = 0;
  private closed = false;

  /** `tracking`: the key the thread signs tracking links with, when messages ask for tracking. */
  constructor(private readonly options: { smtpUrl: string; maxConnections: number; tracking?: TrackingKey }) {}

  /** Sends `mail`; with `track`, its HTML gets signed click and open tracking on the thread first. */
  send(mail: SmtpMail, track?: MessageTracking): Promise<SmtpOutcome> {
    if (this.closed) return Promise.reject(new SmtpThreadClosedError());
    const running = this.running ?? (this.running = this.start());
    const seq = ++this.seq;
    return new Promise<SmtpOutcome>((resolve, reject) => {
      running.pending.set(seq, { resolve, reject });
      if (running.pending.size === 1) running.worker.ref();
      running.outbox.push({ seq, mail, track });
      if (running.outbox.length === 1) setImmediate(() => this.post(running));
    });
  }

  /** Posts the sends waiting in the outbox, in one message. */
  private post(running: Running): void {
    if (running.outbox.length === 0) return;
    const sends = running.outbox;
    running.outbox = [];
    running.worker.postMessage({ sends });
  }

  /** Lets the sends in flight finish, closes the pool's connections and waits for the thread to end. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    if (!running) return;
    // Held open until the thread has ended (an unref'd worker would let the process exit mid-close).
    running.worker.ref();
    // The sends already accepted go first; the thread closes once they have ended.
    this.post(running);
    running.worker.postMessage({ close: true });
    await running.exited;
  }

  private start(): Running {
    const worker = new Worker(join(__dirname, 'smtp-sender.worker.js'), { workerData: this.options, resourceLimits: SMTP_THREAD_LIMITS });
    worker.unref();
    const pending = new Map<number, Pending>();
    const running: Running = {
      worker,
      pending,
      outbox: [],
      exited: new Promise<void>((resolve) => {
        let failure: Error | undefined;
        worker.on('error', (error) => {
          failure = error;
        });
        worker.on('exit', (code) => {
          // A later send starts a new thread; the sends this one had taken may or may not have reached the server.
          if (this.running === running) this.running = undefined;
          const reason = failure ? failure.message : `exit code ${code}`;
          // Sends still in the outbox never reached the thread: nothing was sent.
          for (const { seq } of running.outbox.splice(0)) {
            pending.get(seq)?.reject(new SmtpThreadClosedError(`The email sender thread stopped before the send was handed to it (${reason})`));
            pending.delete(seq);
          }
          for (const waiting of pending.values()) waiting.reject(new SmtpThreadStoppedError(`The email sender thread stopped during the send (${reason})`));
          pending.clear();
          resolve();
        });
      }),
    };
    worker.on('message', (replies: SendReply[]) => {
      for (const reply of replies) {
        const waiting = pending.get(reply.seq);
        if (!waiting) continue;
        pending.delete(reply.seq);
        waiting.resolve({ failure: reply.failure, written: reply.written === true });
      }
      if (pending.size === 0 && !this.closed) worker.unref();
    });
    return running;
  }
}
