/** Work that did not settle within its time; the work itself may still finish later. */
export class DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** Settles as `work` does, or rejects with DeadlineError after `ms` (the work is not cancelled). */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(ms)), Math.max(0, ms));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * One budget for several calls in a row: each gets what is left of `ms` from now, so the whole sequence
 * ends within it (an interaction's store calls before Discord's 3 s run out).
 */
export function budget(ms: number, now: () => number = Date.now): <T>(work: Promise<T>) => Promise<T> {
  const end = now() + ms;
  return (work) => withDeadline(work, end - now());
}
