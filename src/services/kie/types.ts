/** Domain types of the kie.ai Veo API, after the client has parsed and normalised the wire shapes. */

import type { VeoModel } from '../../lib/models.js';

export type AspectRatio = '16:9' | '9:16' | 'Auto';
export const ASPECT_RATIOS: readonly AspectRatio[] = ['16:9', '9:16', 'Auto'];

/** What `imageUrls` are: first and last frames (FIRST_AND_LAST_FRAMES_2_VIDEO) or references (REFERENCE_2_VIDEO). */
export type ImageRole = 'frames' | 'reference';

export interface GenerateRequest {
  prompt: string;
  model: VeoModel;
  aspectRatio: AspectRatio;
  seed?: number | undefined;
  imageUrls?: readonly string[] | undefined;
  /** Default 'frames'. */
  imageRole?: ImageRole | undefined;
  /** Text kie burns into the video (a server's `/veo-admin watermark`). */
  watermark?: string | undefined;
  callBackUrl?: string | undefined;
}

/** POST /api/v1/veo/extend: continues a finished Veo task; kie names the models `fast`/`quality`/`lite`. */
export interface ExtendRequest {
  /** The kie task of the video to continue. */
  taskId: string;
  prompt: string;
  /** The original video's model; the client sends kie's extend name for it. */
  model: VeoModel;
  seed?: number | undefined;
  watermark?: string | undefined;
  callBackUrl?: string | undefined;
}

export type TaskStatus = 'generating' | 'succeeded' | 'failed';

export interface TaskInfo {
  taskId: string;
  status: TaskStatus;
  /** The raw flag: 0 generating, 1 success, anything else a failure. */
  successFlag: number | null;
  resultUrls: string[];
  originUrls: string[];
  fullResultUrls: string[];
  resolution: string | null;
  errorCode: number | null;
  errorMessage: string | null;
  /** `paramJson` parsed, whether kie sent it as a string or an object. */
  params: Record<string, unknown> | null;
  /** Epoch ms; kie sends either epoch ms or "2025-06-06 10:30:00", which is read as UTC. */
  createdAt: number | null;
  completedAt: number | null;
}

/** An upgrade's answer (1080P or 4K): still processing, ready at a URL, or refused for good (4K "unavailable"). */
export type HdResult = { state: 'processing' } | { state: 'ready'; url: string } | { state: 'failed' };

export interface UploadRequest {
  data: Uint8Array;
  fileName: string;
  mimeType: string;
  /** No leading or trailing slash (kie answers 400 otherwise). */
  uploadPath: string;
}

export interface UploadResult {
  downloadUrl: string;
}
