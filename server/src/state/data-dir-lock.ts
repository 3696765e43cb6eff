/**
 * One Herald server per data folder: a pid file marks it taken. Offline commands that write
 * projection state (`herald projections rebuild`) refuse to run while a live server holds it.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LOCK_FILE = 'herald.pid';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of another live process holding the folder, if any. */
export function dataDirHolder(dataDir: string): number | undefined {
  const path = join(dataDir, LOCK_FILE);
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(pid) && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

export function takeDataDirLock(dataDir: string): void {
  const holder = dataDirHolder(dataDir);
  if (holder !== undefined) throw new Error(`The data folder ${dataDir} is in use by process ${holder}`);
  writeFileSync(join(dataDir, LOCK_FILE), String(process.pid));
}

export function releaseDataDirLock(dataDir: string): void {
  const path = join(dataDir, LOCK_FILE);
  if (existsSync(path) && readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
}
