/** Starts `server/dist/main.js` as its own process, the way a user runs Herald, for tests that need one. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';

const main = resolve(__dirname, '../../dist/main.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

export interface StartedMain {
  child: ChildProcess;
  /** Everything printed on stdout so far. */
  stdout: () => string;
  stop: () => Promise<void>;
  /** SIGKILL: the process ends at once, with no shutdown of any kind. */
  kill: () => Promise<void>;
}

/** Runs main.js to its end (for one that must refuse to start): its exit code and everything it printed. */
export async function runMainUntilItEnds(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawnMain(env);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode)));
  return { code, output };
}

/** Starts main.js and resolves once it says it is listening (or fails with what it printed). */
export async function startMain(env: Record<string, string>): Promise<StartedMain> {
  const child = spawnMain(env);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (err += chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await new Promise<void>((ready, fail) => {
    const check = setInterval(() => {
      if (out.includes('Herald is listening')) {
        clearInterval(check);
        ready();
      }
    }, 20);
    void exited.then(() => {
      clearInterval(check);
      fail(new Error(`main.js exited before listening:\n${out}\n${err}`));
    });
  });
  return {
    child,
    stdout: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function spawnMain(env: Record<string, string>): ChildProcess {
  const { ADMIN_TOKEN: _a, DEFAULT_WRITE_KEY: _w, ...inherited } = process.env;
  return spawn(process.execPath, [main], { env: { ...inherited, ANALYTICS: 'off', WEB_PUSH: 'off', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
