import type { MessageKey, MessageParams } from './i18n/index.js';

/** An error whose text is safe to show the member; it carries an i18n key, not English. */
export class UserFacingError extends Error {
  constructor(
    readonly key: MessageKey,
    readonly params: MessageParams = {},
    readonly context: Record<string, unknown> = {},
  ) {
    super(key);
    this.name = 'UserFacingError';
  }
}

export class InvalidPromptError extends UserFacingError {
  constructor(key: MessageKey, params: MessageParams = {}) {
    super(key, params);
    this.name = 'InvalidPromptError';
  }
}

export class JobNotFoundError extends UserFacingError {
  constructor(jobId: string) {
    super('error.job_not_found', {}, { jobId });
    this.name = 'JobNotFoundError';
  }
}
