import { randomInt } from 'node:crypto';

/**
 * Our job ids: lowercase base36, at most 20 characters, so one fits a custom_id and, with a "-n"
 * suffix, a 25-character message nonce (DESIGN §4). The one pattern every parser of a job id uses.
 */
export const JOB_ID_PATTERN = /^[0-9a-z]{1,20}$/;

const JOB_ID_LENGTH = 16;

export function isJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}

/** 16 base36 characters, each drawn uniformly. */
export function newJobId(): string {
  let id = '';
  for (let i = 0; i < JOB_ID_LENGTH; i++) id += randomInt(36).toString(36);
  return id;
}
