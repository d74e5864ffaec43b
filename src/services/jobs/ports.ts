import type { DeliveryOutcome } from '../delivery/video.js';
import type { MessageView } from '../delivery/rest.js';
import type { KieCircuitState } from '../kie/circuit.js';
import type { ExtendRequest, GenerateRequest, TaskInfo } from '../kie/types.js';
import type { QuotaScope } from '../quota/ledger.js';
import type { JobRecord } from './record.js';

/** What the runner needs of each collaborator: narrow, so tests give it fakes. */

export interface KiePort {
  generate(request: GenerateRequest): Promise<{ taskId: string }>;
  extend(request: ExtendRequest): Promise<{ taskId: string }>;
  recordInfo(taskId: string): Promise<TaskInfo>;
  readonly circuit: { isOpen(): boolean; onChange(listener: (state: KieCircuitState) => void): () => void };
}

export interface QuotaPort {
  commit(scope: QuotaScope, jobId: string): Promise<void>;
  refund(scope: QuotaScope, jobId: string): Promise<boolean>;
  release(scope: QuotaScope, jobId: string): Promise<void>;
}

export interface LimiterPort {
  /** `bucket`: the job's server (or DM user) in the fair queue, from `queueBucket`. */
  acquire(id: string, signal?: AbortSignal, bucket?: string): Promise<void>;
  position(id: string): number | null;
  onQueueChange(listener: () => void): () => void;
  cancel(id: string): void;
}

export interface DeliveryPort {
  deliver(job: JobRecord): Promise<DeliveryOutcome>;
  updateJobMessage(job: JobRecord, view: MessageView): Promise<{ job: JobRecord; shown: boolean }>;
  showFailure(job: JobRecord, view: MessageView): Promise<JobRecord>;
}

export interface DurationPort {
  record(kind: string, ms: number): void;
  median(kind: string): number | null;
}
