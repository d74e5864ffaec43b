import type { ExtendRequest, GenerateRequest } from '../kie/types.js';
import type { KiePort } from './ports.js';
import type { JobRecord } from './record.js';

/** A queued job waited for kie past its queue deadline. */
export class QueueTimeoutError extends Error {}

/** The generate request of a job. */
export function generateRequest(job: JobRecord, callBackUrl: string | undefined): GenerateRequest {
  const { options } = job;
  return {
    prompt: options.prompt,
    model: options.model,
    aspectRatio: options.aspectRatio,
    seed: options.seed ?? undefined,
    imageUrls: options.imageUrls.length > 0 ? options.imageUrls : undefined,
    imageRole: options.imageRole,
    watermark: options.watermark,
    callBackUrl,
  };
}

/** The request of an Extend job: it continues `sourceTaskId` instead of generating from scratch. */
export function extendRequest(job: JobRecord, sourceTaskId: string, callBackUrl: string | undefined): ExtendRequest {
  const { options } = job;
  return {
    taskId: sourceTaskId,
    prompt: options.prompt,
    model: options.model,
    seed: options.seed ?? undefined,
    watermark: options.watermark,
    callBackUrl,
  };
}

/**
 * Resolves at once while kie's circuit is closed, else when it closes; rejects with QueueTimeoutError
 * after `timeoutMs`, or with the signal's reason when it aborts.
 */
export async function circuitClosed(
  circuit: KiePort['circuit'],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  if (!circuit.isOpen()) return;
  if (timeoutMs <= 0) throw new QueueTimeoutError();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new QueueTimeoutError());
    }, timeoutMs);
    const unsubscribe = circuit.onChange((state) => {
      if (state !== 'closed') return;
      done();
      resolve();
    });
    const onAbort = () => {
      done();
      reject(signal.reason as Error);
    };
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
