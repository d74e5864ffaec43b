import { readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Every temporary media file under a bot's data dir (`<dir>/media/<process folder>/<file>`), as
 * `<process folder>/<file>`; none when the media root does not exist.
 */
export async function mediaFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'media');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** The process folders under a bot's media root. */
export async function mediaFolders(dataDir: string): Promise<string[]> {
  return (await readdir(path.join(dataDir, 'media')).catch(() => [])).sort();
}
