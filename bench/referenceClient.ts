/**
 * The seed's reference client, kie's quick-start sample (kie-veo-api.md §2, "Polling advice"): after
 * submitting, read record-info every 30 s until `successFlag` leaves 0, giving up after 10 minutes. The
 * benchmark runs it beside the bot on the same loopback kie tasks, to time when it would have seen each
 * result.
 */
import { sleep } from './rig.js';

export const REFERENCE_INTERVAL_MS = 30_000;
const REFERENCE_GIVE_UP_MS = 10 * 60_000;

export interface ReferenceWatch {
  /** performance.now() when a read first answered successFlag other than 0; null if it gave up. */
  readonly seenAt: Promise<number | null>;
  readonly reads: () => number;
}

export function watchLikeReference(
  baseUrl: string,
  apiKey: string,
  taskId: string,
  submittedAt: number,
): ReferenceWatch {
  let reads = 0;
  const seenAt = (async () => {
    for (let n = 1; n * REFERENCE_INTERVAL_MS <= REFERENCE_GIVE_UP_MS; n++) {
      await sleep(submittedAt + n * REFERENCE_INTERVAL_MS - performance.now());
      reads += 1;
      const response = await fetch(`${baseUrl}/api/v1/veo/record-info?taskId=${encodeURIComponent(taskId)}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      const body = (await response.json()) as { data?: { successFlag?: number } | null };
      if ((body.data?.successFlag ?? 0) !== 0) return performance.now();
    }
    return null;
  })();
  return { seenAt, reads: () => reads };
}
