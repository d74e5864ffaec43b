import type { MessageView } from '../../src/services/delivery/rest.js';
import type { DeliveryOutcome } from '../../src/services/delivery/video.js';
import type { JobRecord } from '../../src/services/jobs/record.js';
import type { DeliveryPort } from '../../src/services/jobs/ports.js';
import type { TaskInfo } from '../../src/services/kie/types.js';

/** A record-info answer in the given state; a success carries one result URL. */
export function taskInfo(taskId: string, status: TaskInfo['status'], extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    taskId,
    status,
    successFlag: status === 'succeeded' ? 1 : status === 'failed' ? 2 : 0,
    resultUrls: status === 'succeeded' ? [`https://files.example/${taskId}.mp4`] : [],
    originUrls: [],
    fullResultUrls: [],
    resolution: null,
    errorCode: null,
    errorMessage: null,
    params: null,
    createdAt: null,
    completedAt: null,
    ...extra,
  };
}

/** Discord as the runner sees it: scripted delivery outcomes, every edit and failure recorded. */
export class FakeDelivery implements DeliveryPort {
  edits: Array<{ jobId: string; content: string }> = [];
  failures: Array<{ jobId: string; content: string }> = [];
  delivered: string[] = [];
  outcomes: Array<DeliveryOutcome['kind']> = [];
  attempts = 0;

  /** `fallback`: the outcome once the scripted ones run out. */
  constructor(private readonly fallback: DeliveryOutcome['kind'] = 'delivered') {}

  async deliver(job: JobRecord): Promise<DeliveryOutcome> {
    this.attempts += 1;
    const kind = this.outcomes.shift() ?? this.fallback;
    if (kind === 'delivered') {
      this.delivered.push(job.id);
      return { kind, job, messageId: 'm1' };
    }
    if (kind === 'retry') return { kind, job, error: new Error('discord 503') };
    return { kind, job, reason: 'DMs closed' };
  }

  async updateJobMessage(job: JobRecord, view: MessageView) {
    this.edits.push({ jobId: job.id, content: view.content });
    return { job, shown: true };
  }

  async showFailure(job: JobRecord, view: MessageView) {
    this.failures.push({ jobId: job.id, content: view.content });
    return job;
  }
}
