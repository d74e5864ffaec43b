import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** The first executable `redis-server` on PATH (what a shell would run), or null. */
export function redisServerOnPath(searchPath: string = process.env.PATH ?? ''): string | null {
  return executableOnPath('redis-server', searchPath);
}

export function executableOnPath(binary: string, searchPath: string = process.env.PATH ?? ''): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable): keep looking, as a shell does.
    }
  }
  return null;
}
