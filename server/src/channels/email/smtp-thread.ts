/**
 * The main thread's side of the SMTP thread (smtp-sender.worker.js): posts each message and hands
 * back how its send ended. The thread starts with the first send and holds the process open only
 * while sends are in flight, so an idle adapter does not keep a finished CLI command running.
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

/** `close()` was called: nothing was handed to the thread. */
export class SmtpThreadClosedError extends Error {
  constructor() {
    super('The email sender is closed');
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
}

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
      running.worker.postMessage({ seq, mail, track });
    });
  }

  /** Lets the sends in flight finish, closes the pool's connections and waits for the thread to end. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    if (!running) return;
    // Held open until the thread has ended (an unref'd worker would let the process exit mid-close).
    running.worker.ref();
    running.worker.postMessage({ close: true });
    await running.exited;
  }

  private start(): Running {
    const worker = new Worker(join(__dirname, 'smtp-sender.worker.js'), { workerData: this.options });
    worker.unref();
    const pending = new Map<number, Pending>();
    const running: Running = {
      worker,
      pending,
      exited: new Promise<void>((resolve) => {
        let failure: Error | undefined;
        worker.on('error', (error) => {
          failure = error;
        });
        worker.on('exit', (code) => {
          // A later send starts a new thread; the sends this one had taken may or may not have reached the server.
          if (this.running === running) this.running = undefined;
          const reason = failure ? failure.message : `exit code ${code}`;
          for (const waiting of pending.values()) waiting.reject(new SmtpThreadStoppedError(`The email sender thread stopped during the send (${reason})`));
          pending.clear();
          resolve();
        });
      }),
    };
    worker.on('message', (reply: { seq: number; failure?: SmtpFailure; written?: boolean }) => {
      const waiting = pending.get(reply.seq);
      if (!waiting) return;
      pending.delete(reply.seq);
      if (pending.size === 0 && !this.closed) worker.unref();
      waiting.resolve({ failure: reply.failure, written: reply.written === true });
    });
    return running;
  }
}
