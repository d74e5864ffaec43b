import { randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import type { StoreLocation } from '../../config.js';
import type { Logger } from '../../logger.js';
import { currentPidNamespace, processAlive } from './lease.js';

/**
 * Where downloads wait for their upload: beside the SQLite file (disk the operator gave the bot, where
 * /tmp may be RAM), or in the system temp dir with Redis (several processes, one folder each).
 */
export function mediaRootFor(location: StoreLocation): string {
  return location.kind === 'sqlite'
    ? path.join(path.dirname(location.file), 'media')
    : path.join(tmpdir(), 'veo-bot-media');
}

export interface MediaFolderOptions {
  readonly root: string;
  readonly logger: Logger;
  readonly pid?: number;
  readonly host?: string;
  readonly pidNamespace?: string | null;
  readonly isProcessAlive?: (pid: number) => boolean;
}

/** `<host>-<pid namespace>-<pid>`: a pid names one process only within one host and namespace. */
const OWNER = /^(.+)-(\d+|x)-(\d+)$/;

/**
 * This process's folder of temporary media files under a root that several processes may share. A
 * start removes what dead processes of this host and PID namespace left (a crash, a SIGKILL), and the
 * folder of an earlier process with this same pid (a restarted container); stop removes its own.
 */
export class MediaFolder {
  readonly path: string;
  readonly #owner: { host: string; namespace: string };
  readonly #alive: (pid: number) => boolean;

  constructor(private readonly options: MediaFolderOptions) {
    const host = (options.host ?? hostname()).replace(/[^A-Za-z0-9.]/g, '_');
    const ns = options.pidNamespace === undefined ? currentPidNamespace() : options.pidNamespace;
    this.#owner = { host, namespace: /\d+/.exec(ns ?? '')?.[0] ?? 'x' };
    this.#alive = options.isProcessAlive ?? processAlive;
    this.path = path.join(options.root, `${host}-${this.#owner.namespace}-${String(options.pid ?? process.pid)}`);
  }

  /** Creates the folder (owner-only) after removing leftovers; how many leftover folders went. */
  async open(): Promise<number> {
    const removed = await this.#removeLeftovers();
    await mkdir(this.path, { mode: 0o700 });
    if (removed > 0)
      this.options.logger.info({ removed, root: this.options.root }, 'removed media files left by a crash');
    return removed;
  }

  async #removeLeftovers(): Promise<number> {
    await mkdir(this.options.root, { recursive: true, mode: 0o700 });
    let removed = 0;
    for (const name of await readdir(this.options.root)) {
      const [, host, namespace, pid] = OWNER.exec(name) ?? [];
      if (host !== this.#owner.host || namespace !== this.#owner.namespace || pid === undefined) continue;
      const own = path.join(this.options.root, name) === this.path;
      // A live process that took a dead one's pid keeps its folder for now; a later start removes it.
      if (!own && this.#alive(Number(pid))) continue;
      await rm(path.join(this.options.root, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** A fresh path inside the folder (nothing is created). */
  newFile(extension: string): string {
    return path.join(this.path, `${randomUUID()}${extension}`);
  }

  blob(file: string, type: string): Promise<Blob> {
    return openAsBlob(file, { type });
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  async close(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}
