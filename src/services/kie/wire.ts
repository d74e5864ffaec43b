/** kie's wire shapes: tolerant at the boundary, because kie's docs disagree with each other. */
import { z } from 'zod';
import { byModel } from '../../lib/models.js';
import type { ExtendRequest, GenerateRequest, ImageRole, TaskInfo } from './types.js';

/** The extend endpoint has its own model enum (kie-veo-api.md §3c). */
const EXTEND_MODELS = byModel((m) => m.extendName);

/** kie's mode for what the pictures are (kie-veo-api.md §1). */
function generationType(images: boolean, role: ImageRole | undefined): string {
  if (!images) return 'TEXT_2_VIDEO';
  return role === 'reference' ? 'REFERENCE_2_VIDEO' : 'FIRST_AND_LAST_FRAMES_2_VIDEO';
}

export function generateBody(req: GenerateRequest): Record<string, unknown> {
  const images = req.imageUrls && req.imageUrls.length > 0 ? req.imageUrls : undefined;
  return {
    prompt: req.prompt,
    model: req.model,
    aspect_ratio: req.aspectRatio,
    enableTranslation: true,
    ...(req.seed !== undefined ? { seeds: req.seed } : {}),
    ...(images ? { imageUrls: [...images] } : {}),
    generationType: generationType(images !== undefined, req.imageRole),
    ...(req.watermark ? { watermark: req.watermark } : {}),
    ...(req.callBackUrl ? { callBackUrl: req.callBackUrl } : {}),
  };
}

export function extendBody(req: ExtendRequest): Record<string, unknown> {
  return {
    taskId: req.taskId,
    prompt: req.prompt,
    model: EXTEND_MODELS[req.model],
    ...(req.seed !== undefined ? { seeds: req.seed } : {}),
    ...(req.watermark ? { watermark: req.watermark } : {}),
    ...(req.callBackUrl ? { callBackUrl: req.callBackUrl } : {}),
  };
}

/** POST /api/v1/veo/get-4k-video (kie-veo-api.md §3b); kie reads the callback's own body shape. */
export function uhdBody(taskId: string, index: number, callBackUrl: string | undefined): Record<string, unknown> {
  return { taskId, index, ...(callBackUrl ? { callBackUrl } : {}) };
}

const intLike = z.union([
  z.number().int(),
  z
    .string()
    .trim()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

export const envelopeSchema = z.object({
  code: intLike,
  msg: z
    .unknown()
    .optional()
    .transform((v) => (typeof v === 'string' ? v : v == null ? '' : JSON.stringify(v))),
  data: z.unknown().optional(),
});

export const generateDataSchema = z.object({ taskId: z.string().min(1) });

export const hdDataSchema = z.object({ resultUrl: z.string().nullish() }).nullish();

/** 4K answers carry `resultUrls` (array, JSON string, or null while processing); snake case in one schema. */
export const uhdDataSchema = z
  .object({ resultUrls: z.unknown().optional(), result_urls: z.unknown().optional() })
  .nullish()
  .transform((data) => urlList(data?.resultUrls ?? data?.result_urls));

export const uploadDataSchema = z.object({ downloadUrl: z.string().min(1) });

export const creditsSchema = z.union([
  z.number(),
  z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?$/)
    .transform(Number),
]);

const optionalString = z
  .unknown()
  .optional()
  .transform((v) => (typeof v === 'string' && v.trim() !== '' ? v : null));

export const recordSchema = z.object({
  taskId: z.string().nullish(),
  paramJson: z.unknown().optional(),
  createTime: z.unknown().optional(),
  completeTime: z.unknown().optional(),
  response: z
    .object({
      resultUrls: z.unknown().optional(),
      originUrls: z.unknown().optional(),
      fullResultUrls: z.unknown().optional(),
      resolution: optionalString,
    })
    .nullish(),
  // One third-party note puts a JSON-string resultUrls at the top level; accept it as a fallback.
  resultUrls: z.unknown().optional(),
  successFlag: intLike.nullish(),
  errorCode: intLike.nullish(),
  errorMessage: optionalString,
});

type WireRecord = z.infer<typeof recordSchema>;

export function toTaskInfo(record: WireRecord, requestedId: string): TaskInfo {
  const response = record.response ?? null;
  const resultUrls = urlList(response?.resultUrls);
  if (resultUrls.length === 0) resultUrls.push(...urlList(record.resultUrls));
  const successFlag = record.successFlag ?? null;
  let status: TaskInfo['status'];
  let errorMessage = record.errorMessage;
  if (successFlag === null || successFlag === 0) {
    status = 'generating';
  } else if (successFlag === 1) {
    status = resultUrls.length > 0 ? 'succeeded' : 'failed';
    if (status === 'failed') errorMessage ??= 'kie reported success but returned no result URLs';
  } else {
    status = 'failed';
    errorMessage ??= `kie reported failure (successFlag ${successFlag})`;
  }
  return {
    taskId: record.taskId ?? requestedId,
    status,
    successFlag,
    resultUrls,
    originUrls: urlList(response?.originUrls),
    fullResultUrls: urlList(response?.fullResultUrls),
    resolution: response?.resolution ?? null,
    errorCode: record.errorCode ?? null,
    errorMessage,
    params: paramsOf(record.paramJson),
    createdAt: epochMs(record.createTime),
    completedAt: epochMs(record.completeTime),
  };
}

/** An array, a JSON string of one, or the docs' unquoted "[http://…]" form. */
export function urlList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
  if (typeof value !== 'string') return [];
  const text = value.trim();
  if (text === '') return [];
  const parsed = parseJson(text);
  if (Array.isArray(parsed) || typeof parsed === 'string') return urlList(Array.isArray(parsed) ? parsed : [parsed]);
  if (text.startsWith('[') && text.endsWith(']')) {
    return text
      .slice(1, -1)
      .split(',')
      .map((part) => part.trim().replace(/^["']|["']$/g, ''))
      .filter((part) => part !== '');
  }
  return [text];
}

function paramsOf(value: unknown): Record<string, unknown> | null {
  const parsed = typeof value === 'string' ? parseJson(value) : value;
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : null;
}

const ZONELESS_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Epoch ms from epoch ms, epoch seconds, or a date string (zoneless strings are UTC). */
export function epochMs(value: unknown): number | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) return null;
    // Sibling endpoints send ms; a value this small can only be seconds.
    return value < 1e11 ? value * 1000 : value;
  }
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return epochMs(Number(text));
  const ms = Date.parse(ZONELESS_TIME.test(text) ? `${text.replace(' ', 'T')}Z` : text);
  return Number.isNaN(ms) ? null : ms;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The first few issues of a schema mismatch, for an error's detail. */
export function summarise(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
