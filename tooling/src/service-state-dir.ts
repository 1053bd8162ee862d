import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** Prefix of every private service directory in `os.tmpdir()`; the orphan reaper only looks at these. */
export const SERVICE_DIR_PREFIX = 'dispatcher-svc-';
const OWNER_FILE = 'owner.json';

interface OwnerRecord {
  ownerPid: number;
  servicePid: number | null;
  binary: string;
}

/**
 * Creates a private temp directory for one service and records the owning (test) process in it, so a later
 * run can recognise the directory, and the service, as orphaned if the owner was killed with SIGKILL.
 *
 * @param service - Short name used in the directory name, e.g. `redis`.
 * @param binary - Path of the service binary, used to check a recorded pid before killing it.
 */
export async function createServiceStateDir(service: string, binary: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${SERVICE_DIR_PREFIX}${service}-`));
  await writeOwner(dir, { ownerPid: process.pid, servicePid: null, binary });
  return dir;
}

/** Records the pid of the service running in `dir` (called after every spawn, including restarts). */
export async function recordServicePid(dir: string, binary: string, servicePid: number): Promise<void> {
  await writeOwner(dir, { ownerPid: process.pid, servicePid, binary });
}

/**
 * Kills services whose owning test process died without cleaning up (SIGKILL, OOM killer, power loss of a
 * CI step) and removes their directories. Exit hooks cannot run in those cases, so this sweep is the only
 * defence against leftovers; it runs before the first service of each process starts.
 *
 * @returns The number of orphaned directories removed.
 */
export async function reapOrphanedServices(): Promise<number> {
  let removed = 0;
  const root = tmpdir();
  for (const entry of await readdir(root).catch(() => [])) {
    if (!entry.startsWith(SERVICE_DIR_PREFIX)) continue;
    const dir = join(root, entry);
    const owner = await readOwner(dir);
    // No owner record: either not ours or a directory being created right now. Leave it alone.
    if (!owner || isAlive(owner.ownerPid)) continue;
    if (owner.servicePid !== null && isAlive(owner.servicePid) && runs(owner.servicePid, owner.binary)) {
      try {
        process.kill(owner.servicePid, 'SIGKILL');
      } catch {
        // Exited in the meantime.
      }
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    removed += 1;
  }
  return removed;
}

async function writeOwner(dir: string, record: OwnerRecord): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), JSON.stringify(record));
}

async function readOwner(dir: string): Promise<OwnerRecord | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerRecord>;
    if (typeof parsed.ownerPid !== 'number' || typeof parsed.binary !== 'string') return undefined;
    return { ownerPid: parsed.ownerPid, servicePid: parsed.servicePid ?? null, binary: parsed.binary };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Guards against pid reuse: only a process still running the recorded binary is killed. */
function runs(pid: number, binary: string): boolean {
  try {
    // redis-server rewrites its argv into a title such as "/usr/bin/redis-server 127.0.0.1:6379".
    const argv0 = (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '').split(' ')[0] ?? '';
    return basename(argv0) === basename(binary);
  } catch {
    // No /proc (not Linux): the owner is dead and the pid is alive; pid reuse is unlikely enough.
    return process.platform !== 'linux';
  }
}
