/**
 * How long kie took for recent jobs, per kind of work (a model, or an extension with a model), so a
 * status can say when a video is expected. In memory only: a fresh process says nothing until it has
 * seen a job of that kind finish, which is better than a guess.
 */
export class RecentDurations {
  readonly #samples = new Map<string, number[]>();

  constructor(private readonly window = 20) {}

  record(kind: string, ms: number): void {
    if (!Number.isFinite(ms) || ms <= 0) return;
    const list = this.#samples.get(kind) ?? [];
    list.push(ms);
    if (list.length > this.window) list.splice(0, list.length - this.window);
    this.#samples.set(kind, list);
  }

  /** The median of the recent durations of this kind, or null when there are none. */
  median(kind: string): number | null {
    const list = this.#samples.get(kind);
    if (!list || list.length === 0) return null;
    const sorted = [...list].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const upper = sorted[mid] ?? 0;
    return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? upper) + upper) / 2;
  }
}

/** The kind a job's duration is filed under: extensions take far longer than generations. */
export function durationKind(job: { readonly options: { readonly model: string; readonly extend?: unknown } }): string {
  return job.options.extend ? `extend:${job.options.model}` : job.options.model;
}
