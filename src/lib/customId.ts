import { isJobId } from './jobId.js';

/** Every custom_id prefix the bot emits; the router claims interactions by these. */
export const CustomIdPrefix = {
  Upscale1080p: 'veo:hd',
  Upscale4k: 'veo:4k',
  Rerun: 'veo:rerun',
  Extend: 'veo:extend',
  /** The Extend modal's submit (the button opens it; the modal carries the same job id). */
  ExtendModal: 'veo:extendm',
  Details: 'veo:details',
} as const;

export type CustomIdPrefix = (typeof CustomIdPrefix)[keyof typeof CustomIdPrefix];

export interface DecodedCustomId {
  readonly prefix: CustomIdPrefix;
  readonly jobId: string;
}

const KNOWN = new Set<string>(Object.values(CustomIdPrefix));

export function encodeCustomId(prefix: CustomIdPrefix, jobId: string): string {
  if (!isJobId(jobId)) throw new Error('job ids are 1 to 20 lowercase base36 characters');
  const id = `${prefix}:${jobId}`;
  if (id.length > 100) throw new Error('custom_id over 100 characters');
  return id;
}

/** null for anything we did not emit, including ids of an older, retired format. */
export function decodeCustomId(customId: string): DecodedCustomId | null {
  if (customId.length > 100) return null;
  const cut = customId.lastIndexOf(':');
  if (cut <= 0) return null;
  const prefix = customId.slice(0, cut);
  const jobId = customId.slice(cut + 1);
  if (!KNOWN.has(prefix) || !isJobId(jobId)) return null;
  return { prefix: prefix as CustomIdPrefix, jobId };
}

/**
 * The controls of the `/veo settings` message. Their payload names the control, not a job, so they have
 * a codec of their own and `decodeCustomId` never mistakes one for a job button.
 */
export const SETTINGS_PREFIX = 'veo:settings';
export const SETTINGS_CONTROLS = ['model', 'aspect', 'private', 'forget'] as const;
export type SettingsControl = (typeof SETTINGS_CONTROLS)[number];

export function encodeSettingsId(control: SettingsControl): string {
  return `${SETTINGS_PREFIX}:${control}`;
}

export function decodeSettingsId(customId: string): SettingsControl | null {
  const control = customId.startsWith(`${SETTINGS_PREFIX}:`) ? customId.slice(SETTINGS_PREFIX.length + 1) : '';
  return SETTINGS_CONTROLS.find((c) => c === control) ?? null;
}
