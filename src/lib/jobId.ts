import { randomBytes } from 'node:crypto';

/** 16 base36 characters: fits a custom_id and, with a "-n" suffix, a 25-character message nonce. */
export function newJobId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const byte of bytes) id += (byte % 36).toString(36);
  return id;
}
