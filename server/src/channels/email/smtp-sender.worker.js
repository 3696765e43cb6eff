// @ts-check
/**
 * The email adapter's SMTP thread: owns the pooled nodemailer transport and sends the messages the
 * adapter posts, so building the MIME message, dot-escaping and the socket work run beside the
 * event loop that ingests, decides and records. It also signs the HTML's click and open tracking
 * (tracked-html.js) with the key it was started with. The adapter keeps every decision (headers,
 * what to track, error classification); this thread only says how each send ended: accepted, or the SMTP
 * error and whether the whole message had been handed to the connection before it (which decides
 * a transient error against an unknown outcome, email.adapter.ts `classifySmtpError`).
 */
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { PassThrough, Transform } = require('node:stream');
const nodemailer = require('nodemailer');
const { trackEmailHtml } = require('./tracked-html');
const { composeMessage } = require('./mime-message');

if (!parentPort) throw new Error('smtp-sender.worker.js runs as a worker thread');
const port = parentPort;

const transport = nodemailer.createTransport({
  url: workerData.smtpUrl,
  pool: true,
  maxConnections: workerData.maxConnections,
  // The pool would otherwise send a message again on a new connection when the first one closed
  // mid-send, possibly after the server accepted it.
  maxRequeues: 0,
});

/** Message-IDs of sends in flight, and whether their whole message has been written. */
const written = new Map();
transport.use('stream', (mail, done) => {
  const id = String(mail.data.messageId ?? '');
  if (!written.has(id)) return done();
  if (typeof mail.data.raw === 'string' && !mail.data.dkim && !transport.dkim && !mail.message.newline) {
    // A message composed here (mime-message.js) is complete already, ends with a line break and has
    // nothing left to transform: the connection reads it from one stream, and it is written once
    // that stream has ended. nodemailer would otherwise pass it through a pipeline of three streams
    // (≈ 0.2 ms of CPU per email, mostly the pipeline's AbortController and error objects).
    const message = Buffer.from(mail.data.raw, 'utf8');
    mail.message.createReadStream = () => {
      const stream = new PassThrough();
      stream.once('end', () => written.set(id, true));
      stream.end(message);
      return stream;
    };
    return done();
  }
  // The message is handed on whole, once it is complete: one socket write instead of one per small
  // chunk of the MIME encoder (about 1 ms of CPU per email in bench:send), and "written" is exactly
  // when the last byte was handed to the connection.
  /** @type {Buffer[]} */
  const chunks = [];
  mail.message.transform(
    () =>
      new Transform({
        transform(chunk, _encoding, next) {
          chunks.push(chunk);
          next();
        },
        flush(next) {
          next(null, Buffer.concat(chunks));
          written.set(id, true);
        },
      }),
  );
  done();
});

let inflight = 0;
let closing = false;
/**
 * Answers of the sends that ended in this turn of the event loop, posted together at its end (see
 * smtp-thread.ts: each post wakes the main thread).
 * @type {Array<{ seq: number; written?: boolean; failure?: object }>}
 */
let answers = [];

/**
 * Once closing and nothing is in flight (the sends already posted finish first), the pool and the
 * port close; the thread ends when the pool's sockets have.
 */
function closeWhenIdle() {
  if (!closing || inflight > 0 || answers.length > 0) return;
  transport.close();
  port.close();
}

/** @param {{ seq: number; written?: boolean; failure?: object }} answer */
function answer(answer) {
  answers.push(answer);
  if (answers.length === 1) {
    setImmediate(() => {
      const ready = answers;
      answers = [];
      port.postMessage(ready);
      closeWhenIdle();
    });
  }
}

port.on('message', (message) => {
  if (message.close) {
    closing = true;
    closeWhenIdle();
    return;
  }
  for (const send of message.sends) void sendOne(send);
});

/** @param {{ seq: number; mail: any; track?: import('./tracked-html').MessageTracking }} send */
async function sendOne({ seq, mail, track }) {
  inflight += 1;
  written.set(mail.messageId, false);
  try {
    // Signing each link here spares the event loop that work.
    if (track && mail.html !== undefined) mail.html = trackEmailHtml(mail.html, workerData.tracking, track);
    // The message composed in one pass, as nodemailer would compose it (mime-message.js); a message
    // of another shape is composed by nodemailer.
    const composed = composeMessage(mail);
    await transport.sendMail(composed ? { raw: composed.raw, envelope: composed.envelope, messageId: mail.messageId } : mail);
    answer({ seq });
  } catch (caught) {
    const error = /** @type {Error & { code?: string; originalCode?: string; responseCode?: number; response?: string; command?: string }} */ (caught);
    answer({
      seq,
      written: written.get(mail.messageId) === true,
      failure: {
        message: error.message,
        code: error.code,
        originalCode: error.originalCode,
        responseCode: error.responseCode,
        response: error.response,
        command: error.command,
      },
    });
  } finally {
    written.delete(mail.messageId);
    inflight -= 1;
  }
}
