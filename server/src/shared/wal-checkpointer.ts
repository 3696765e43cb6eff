/**
 * WAL checkpoints of an SQLite database on a worker thread with its own connection. SQLite would
 * otherwise run one inside whichever commit crosses 1,000 WAL pages: copying the pages back and
 * fsyncing the file stalls that commit, and every commit queued behind it.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface WalCheckpointerOptions {
  /** How often a pass runs (ms). */
  intervalMs: number;
  /** A WAL past this many bytes gets a checkpoint that waits for a gap between commits. */
  maxWalBytes: number;
  /**
   * 'file': the WAL file's size counts, and it is truncated (a state database: the file shrinks
   * back). 'frames': the frames in use count, and the WAL is restarted, the file kept for reuse.
   */
  limit: 'file' | 'frames';
  /** The thread failed: the owner checkpoints on commit again (slower, never unsafe). */
  onFailure: () => void;
}

export interface WalCheckpointer {
  /** Stops the thread and waits (up to 2 s) until it has closed its connection. */
  stop(): void;
}

export function startWalCheckpointer(path: string, options: WalCheckpointerOptions): WalCheckpointer {
  // [0]: close requested; [1]: the thread has closed its connection.
  const control = new Int32Array(new SharedArrayBuffer(8));
  const { intervalMs, maxWalBytes, limit } = options;
  const worker = new Worker(join(__dirname, 'wal-checkpointer.worker.js'), { workerData: { path, intervalMs, maxWalBytes, limit, control } });
  // The thread never keeps a finished process (a CLI command, a test) alive.
  worker.unref();
  worker.on('error', () => {
    Atomics.store(control, 1, 1);
    options.onFailure();
  });
  return {
    stop() {
      Atomics.store(control, 0, 1);
      worker.postMessage('close');
      Atomics.wait(control, 1, 0, 2000);
    },
  };
}
