/**
 * A loopback kie.ai for end-to-end tests: a real HTTP server on 127.0.0.1 that speaks the Veo API, the
 * upload API and serves the result files, so the real KieClient (and its undici stack) is exercised.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KieRecordedRequest {
  seq: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
  multipart?: {
    fields: Record<string, string>;
    files: { field: string; fileName: string; mimeType: string; bytes: Buffer }[];
  };
  /** For an accepted generate: the task it created. */
  taskId?: string;
  /** performance.now() when the body had fully arrived (benchmarks only). */
  at: number;
}

export type GenerateBehavior =
  | { kind: 'accept' }
  | { kind: 'error'; httpStatus?: number; code: number; msg: string }
  /** Never answers until close. */
  | { kind: 'hang' };

export type HdStep = 'processing-400' | 'processing-422' | 'processing-200' | 'ready';
/** One answer of POST get-4k-video (kie-veo-api.md §3b); the first 'processing' is the 200 that starts it. */
export type UhdStep = 'processing' | 'ready' | 'unavailable';

export interface LoopbackKieTask {
  taskId: string;
  body: Record<string, unknown>;
  successFlag: number;
  resultUrls: string[];
  errorCode: number | null;
  errorMessage: string | null;
  /** record-info reads that still answer "generating"; the read after them finishes the task. null: only by hand. */
  readsUntilDone: number | null;
  hdScript: HdStep[];
  /** Default: processing once, then ready. */
  uhdScript?: UhdStep[];
  /** get-4k-video calls so far (the first one starts the upgrade). */
  uhdCalls?: number;
  createTime: number;
  completeTime: number | null;
  /** For a task made by POST /api/v1/veo/extend: the task it continues. */
  extendOf?: string;
  /** Extend tasks: the stitched full video (kie's `fullResultUrls`). */
  fullResultUrls?: string[];
}

export type AutoOutcome = 'success' | { errorCode: number; errorMessage: string };

interface StoredFile {
  bytes: Buffer;
  mimeType: string;
}

interface Waiter {
  predicate: (r: KieRecordedRequest) => boolean;
  resolve: (r: KieRecordedRequest) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const GENERATE_PATH = '/api/v1/veo/generate';
const EXTEND_PATH = '/api/v1/veo/extend';
const EXTEND_MODELS: ReadonlySet<unknown> = new Set(['fast', 'quality', 'lite']);
const HD_PROCESSING = '1080P is processing. It should be ready in 1-2 minutes. Please check back shortly.';
const UHD_PATH = '/api/v1/veo/get-4k-video';
const UHD_PROCESSING = '4k is processing. It should be ready in 5-10 minutes. Please check back shortly.';
const UHD_DONE = 'The video has been generated successfully';
export const UHD_UNAVAILABLE = 'The 4K version of this video is unavailable. Please try a different video.';
/** The fields of POST /api/v1/veo/generate (kie-veo-api.md §1); anything else is refused and recorded. */
const GENERATE_FIELDS: ReadonlySet<string> = new Set([
  'prompt',
  'imageUrls',
  'model',
  'generationType',
  'aspect_ratio',
  'resolution',
  'seeds',
  'callBackUrl',
  'enableTranslation',
  'watermark',
  'enableFallback',
  'duration',
]);
const EXTEND_FIELDS: ReadonlySet<string> = new Set(['taskId', 'prompt', 'model', 'seeds', 'watermark', 'callBackUrl']);
const UHD_FIELDS: ReadonlySet<string> = new Set(['taskId', 'index', 'callBackUrl']);
const MODELS: ReadonlySet<unknown> = new Set(['veo3', 'veo3_fast', 'veo3_lite']);
const ASPECTS: ReadonlySet<unknown> = new Set(['16:9', '9:16', 'Auto']);
/** How many imageUrls each mode takes, and which models kie accepts for it. */
const MODES: Readonly<Record<string, { min: number; max: number; models?: ReadonlySet<unknown> }>> = {
  TEXT_2_VIDEO: { min: 0, max: 0 },
  FIRST_AND_LAST_FRAMES_2_VIDEO: { min: 1, max: 2 },
  REFERENCE_2_VIDEO: { min: 1, max: 3, models: new Set(['veo3_fast']) },
};

/** What in a generate body the documented schema does not allow; empty when it is valid. */
export function generateBodyProblems(body: Record<string, unknown>): string[] {
  const problems = Object.keys(body)
    .filter((k) => !GENERATE_FIELDS.has(k))
    .map((k) => `unknown field ${k}`);
  if (typeof body.prompt !== 'string' || body.prompt === '') problems.push('prompt is required');
  if (body.model !== undefined && !MODELS.has(body.model)) problems.push('model is invalid');
  if (body.aspect_ratio !== undefined && !ASPECTS.has(body.aspect_ratio)) problems.push('Ratio error');
  const seeds = body.seeds;
  if (
    seeds !== undefined &&
    (typeof seeds !== 'number' || !Number.isInteger(seeds) || seeds < 10_000 || seeds > 99_999)
  )
    problems.push('seeds must be 10000-99999');
  if (body.watermark !== undefined && typeof body.watermark !== 'string') problems.push('watermark must be a string');
  const images = body.imageUrls;
  if (images !== undefined && (!Array.isArray(images) || !images.every((u) => typeof u === 'string')))
    problems.push('imageUrls must be an array of URLs');
  const count = Array.isArray(images) ? images.length : 0;
  const type =
    typeof body.generationType === 'string'
      ? body.generationType
      : count > 0
        ? 'FIRST_AND_LAST_FRAMES_2_VIDEO'
        : 'TEXT_2_VIDEO';
  const mode = MODES[type];
  if (!mode) problems.push(`generationType ${type} is invalid`);
  else {
    if (count < mode.min || count > mode.max) problems.push(`${type} takes ${mode.min}-${mode.max} imageUrls`);
    if (mode.models && !mode.models.has(body.model ?? 'veo3_fast')) problems.push(`${type} supports veo3_fast only`);
  }
  return problems;
}

/** Bytes that start like a real mp4 (an `ftyp` box, then one `mdat` box), filled deterministically. */
export function fakeMp4(size: number, seed = 1): Buffer {
  const total = Math.max(32, Math.floor(size));
  const buf = Buffer.alloc(total);
  buf.writeUInt32BE(24, 0);
  buf.write('ftypisom', 4, 'latin1');
  buf.writeUInt32BE(0x200, 12);
  buf.write('isomiso2', 16, 'latin1');
  buf.writeUInt32BE(total - 24, 24);
  buf.write('mdat', 28, 'latin1');
  let x = seed >>> 0;
  for (let i = 32; i < total; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

/** kie's documented time format, "2025-06-06 10:30:00" (UTC). */
function kieTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export class LoopbackKie {
  readonly baseUrl: string;
  readonly apiKey = `loopback-${randomBytes(16).toString('hex')}`;
  readonly requests: KieRecordedRequest[] = [];
  tasks = new Map<string, LoopbackKieTask>();
  /**
   * Applied to new tasks: the first `afterReads` record-info reads answer "generating" and the next one
   * finishes the task (so the default, 1, finishes on the second read). null: only completeTask/failTask.
   */
  autoComplete: { afterReads: number; outcome: AutoOutcome } | null = { afterReads: 1, outcome: 'success' };
  /** Queued failures, one per upload call; empty means success. */
  uploadBehavior: { httpStatus: number; body?: unknown }[] = [];
  /** What `/api/v1/chat/credit` answers. */
  credits = 1000;
  /** Bodies that broke kie's documented schema (each was also answered with a 422): tests expect none. */
  readonly bodyViolations: string[] = [];
  /**
   * While true, GET /files/... sends the headers and half the body, then holds the response open (until
   * close): a download that started and never finishes, for crash tests.
   */
  holdFileBodies = false;

  private readonly server: Server;
  private readonly videoBytes: number;
  private readonly generateQueue: GenerateBehavior[] = [];
  private readonly outcomes = new Map<string, AutoOutcome>();
  private readonly files = new Map<string, StoredFile>();
  private readonly waiters = new Set<Waiter>();
  private seq = 0;

  private constructor(server: Server, baseUrl: string, videoBytes: number) {
    this.server = server;
    this.baseUrl = baseUrl;
    this.videoBytes = videoBytes;
  }

  static async start(options: { videoBytes?: number } = {}): Promise<LoopbackKie> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const instance = new LoopbackKie(server, `http://127.0.0.1:${port}`, options.videoBytes ?? 64 * 1024);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      instance.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    return instance;
  }

  generateRequests(): KieRecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === GENERATE_PATH);
  }

  extendRequests(): KieRecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === EXTEND_PATH);
  }

  uhdRequests(): KieRecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === UHD_PATH);
  }

  /** One step per get-4k-video call; the last step repeats. */
  setUhdScript(taskId: string, steps: UhdStep[]): void {
    this.task(taskId).uhdScript = steps.length > 0 ? [...steps] : ['ready'];
  }

  /**
   * The body kie POSTs to a 4K request's callBackUrl (kie-veo-api.md §3b): the page's camelCase example,
   * or the OpenAPI schema's snake_case form.
   */
  uhdCallbackBody(taskId: string, outcome: 'ready' | 'unavailable', shape: 'camel' | 'snake' = 'camel'): unknown {
    if (outcome === 'unavailable') {
      return { code: 500, msg: UHD_UNAVAILABLE, data: shape === 'camel' ? { taskId } : { task_id: taskId } };
    }
    const video = this.fileUrl(`${taskId}-4k.mp4`);
    const image = this.fileUrl(`${taskId}-4k.jpg`);
    return shape === 'camel'
      ? {
          code: 200,
          msg: '4K Video generated successfully.',
          data: { taskId, info: { resultUrls: [video], imageUrls: [image] } },
        }
      : {
          code: 200,
          msg: '4K Video generated successfully.',
          data: { task_id: taskId, result_urls: [video], image_urls: [image], media_ids: [] },
        };
  }

  /** Queued, one consumed per generate call; when the queue is empty generate accepts. */
  nextGenerate(...behaviors: GenerateBehavior[]): void {
    this.generateQueue.push(...behaviors);
  }

  completeTask(taskId: string, videoBytes?: number): void {
    const task = this.task(taskId);
    const url = this.addVideo(`${taskId}.mp4`, videoBytes ?? this.videoBytes);
    // An extension's result is the new segment; the stitched whole is in fullResultUrls.
    if (task.extendOf !== undefined)
      task.fullResultUrls = [this.addVideo(`${taskId}-full.mp4`, videoBytes ?? this.videoBytes)];
    Object.assign(task, {
      successFlag: 1,
      resultUrls: [url],
      errorCode: null,
      errorMessage: null,
      readsUntilDone: null,
      completeTime: Date.now(),
    });
  }

  failTask(taskId: string, errorCode: number, errorMessage: string, successFlag: 2 | 3 = 2): void {
    Object.assign(this.task(taskId), {
      successFlag,
      resultUrls: [],
      errorCode,
      errorMessage,
      readsUntilDone: null,
      completeTime: Date.now(),
    });
  }

  /** One step per get-1080p call; the last step repeats. */
  setHdScript(taskId: string, steps: HdStep[]): void {
    this.task(taskId).hdScript = steps.length > 0 ? [...steps] : ['ready'];
  }

  /** Serves GET /files/<name> as video/mp4 and returns its URL. */
  addVideo(name: string, bytes: number | Buffer): string {
    return this.addFile(name, typeof bytes === 'number' ? fakeMp4(bytes, this.files.size + 1) : bytes, 'video/mp4');
  }

  waitFor(predicate: (r: KieRecordedRequest) => boolean, timeoutMs = 5_000): Promise<KieRecordedRequest> {
    const found = this.requests.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`LoopbackKie.waitFor: no matching request within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('LoopbackKie closed'));
    }
    this.waiters.clear();
    // Also ends the responses held open by a 'hang' behaviour.
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private task(taskId: string): LoopbackKieTask {
    const task = this.tasks.get(taskId);
    if (!task) throw new Error(`LoopbackKie: unknown task ${taskId}`);
    return task;
  }

  private addFile(name: string, bytes: Buffer, mimeType: string): string {
    this.files.set(name, { bytes, mimeType });
    return this.fileUrl(name);
  }

  private fileUrl(name: string): string {
    return `${this.baseUrl}/files/${name.split('/').map(encodeURIComponent).join('/')}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', this.baseUrl);
    const contentType = req.headers['content-type'] ?? '';
    const record: KieRecordedRequest = {
      seq: ++this.seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      json: contentType.includes('application/json') && body.length > 0 ? parseJson(body.toString('utf8')) : null,
      at: performance.now(),
    };
    if (contentType.startsWith('multipart/form-data')) {
      const multipart = parseMultipart(body, contentType);
      if (multipart) record.multipart = multipart;
    }
    this.requests.push(record);
    try {
      this.route(record, res);
    } finally {
      // After routing, so a waiter on a generate already finds its task.
      this.notify(record);
    }
  }

  private notify(record: KieRecordedRequest): void {
    for (const waiter of this.waiters) {
      if (waiter.predicate(record)) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(record);
      }
    }
  }

  private route(r: KieRecordedRequest, res: ServerResponse): void {
    if (r.path.startsWith('/files/')) {
      this.serveFile(r, res);
      return;
    }
    if (r.path.startsWith('/api/') && r.headers.authorization !== `Bearer ${this.apiKey}`) {
      // kie answers a bad key with HTTP 200 and body code 401.
      sendJson(res, 200, { code: 401, msg: 'You do not have access permissions', data: null });
      return;
    }
    const route = `${r.method} ${r.path}`;
    if (route === `POST ${GENERATE_PATH}`) this.generate(r, res);
    else if (route === `POST ${EXTEND_PATH}`) this.extend(r, res);
    else if (route === 'GET /api/v1/veo/record-info') this.recordInfo(r, res);
    else if (route === 'GET /api/v1/veo/get-1080p-video') this.hd(r, res);
    else if (route === `POST ${UHD_PATH}`) this.uhd(r, res);
    else if (route === 'GET /api/v1/chat/credit') sendJson(res, 200, { code: 200, msg: 'success', data: this.credits });
    else if (route === 'POST /api/file-stream-upload') this.upload(r, res);
    else sendJson(res, 404, { code: 404, msg: 'Not Found', data: null });
  }

  private generate(r: KieRecordedRequest, res: ServerResponse): void {
    const behavior = this.generateQueue.shift() ?? { kind: 'accept' };
    if (behavior.kind === 'hang') return;
    if (behavior.kind === 'error') {
      sendJson(res, behavior.httpStatus ?? 200, { code: behavior.code, msg: behavior.msg, data: null });
      return;
    }
    const body = isRecord(r.json) ? r.json : null;
    const problems = body ? generateBodyProblems(body) : ['body is not a JSON object'];
    if (!body || problems.length > 0) {
      this.bodyViolations.push(...problems.map((p) => `generate: ${p}`));
      sendJson(res, 200, { code: 422, msg: problems.join('; '), data: null });
      return;
    }
    const taskId = randomBytes(16).toString('hex');
    this.tasks.set(taskId, {
      taskId,
      body,
      successFlag: 0,
      resultUrls: [],
      errorCode: null,
      errorMessage: null,
      readsUntilDone: this.autoComplete ? this.autoComplete.afterReads : null,
      hdScript: ['ready'],
      createTime: Date.now(),
      completeTime: null,
    });
    if (this.autoComplete) this.outcomes.set(taskId, this.autoComplete.outcome);
    r.taskId = taskId;
    sendJson(res, 200, { code: 200, msg: 'success', data: { taskId } });
  }

  /** kie-veo-api.md §3c: continues a finished task; its own model enum; polled with record-info. */
  private extend(r: KieRecordedRequest, res: ServerResponse): void {
    const body = isRecord(r.json) ? r.json : null;
    const unknown = body ? Object.keys(body).filter((k) => !EXTEND_FIELDS.has(k)) : [];
    if (unknown.length > 0 || (body?.watermark !== undefined && typeof body.watermark !== 'string')) {
      this.bodyViolations.push(`extend: fields ${unknown.join(', ') || 'watermark'}`);
      sendJson(res, 200, { code: 422, msg: 'invalid fields', data: null });
      return;
    }
    if (!body || typeof body.prompt !== 'string' || body.prompt === '') {
      sendJson(res, 200, { code: 422, msg: 'prompt is required', data: null });
      return;
    }
    if (body.model !== undefined && !EXTEND_MODELS.has(body.model)) {
      sendJson(res, 200, { code: 422, msg: 'model is invalid', data: null });
      return;
    }
    const source = typeof body.taskId === 'string' ? this.tasks.get(body.taskId) : undefined;
    if (!source) {
      sendJson(res, 200, { code: 422, msg: 'record is null', data: null });
      return;
    }
    if (source.successFlag !== 1) {
      sendJson(res, 200, { code: 422, msg: 'record status is not success', data: null });
      return;
    }
    const taskId = `extend${randomBytes(14).toString('hex')}`;
    this.tasks.set(taskId, {
      taskId,
      body,
      successFlag: 0,
      resultUrls: [],
      errorCode: null,
      errorMessage: null,
      readsUntilDone: this.autoComplete ? this.autoComplete.afterReads : null,
      hdScript: ['ready'],
      createTime: Date.now(),
      completeTime: null,
      extendOf: source.taskId,
    });
    if (this.autoComplete) this.outcomes.set(taskId, this.autoComplete.outcome);
    r.taskId = taskId;
    sendJson(res, 200, { code: 200, msg: 'success', data: { taskId } });
  }

  private recordInfo(r: KieRecordedRequest, res: ServerResponse): void {
    const task = this.tasks.get(r.query.taskId ?? '');
    if (!task) {
      sendJson(res, 200, { code: 422, msg: 'recordInfo is null', data: null });
      return;
    }
    if (task.successFlag === 0 && task.readsUntilDone !== null) {
      if (task.readsUntilDone > 0) task.readsUntilDone -= 1;
      else this.finish(task);
    }
    const succeeded = task.successFlag === 1;
    sendJson(res, 200, {
      code: 200,
      msg: 'success',
      data: {
        taskId: task.taskId,
        paramJson: JSON.stringify(task.body),
        // Both documented time shapes: epoch ms and the zoneless string.
        createTime: task.createTime,
        completeTime: task.completeTime === null ? null : kieTime(task.completeTime),
        response: succeeded
          ? {
              taskId: task.taskId,
              resultUrls: task.resultUrls,
              originUrls: null,
              fullResultUrls: task.fullResultUrls ?? null,
              resolution: '720p',
            }
          : null,
        successFlag: task.successFlag,
        errorCode: task.errorCode,
        errorMessage: task.errorMessage,
        fallbackFlag: false,
      },
    });
  }

  private finish(task: LoopbackKieTask): void {
    const outcome = this.outcomes.get(task.taskId) ?? 'success';
    if (outcome === 'success') this.completeTask(task.taskId);
    else this.failTask(task.taskId, outcome.errorCode, outcome.errorMessage);
  }

  private hd(r: KieRecordedRequest, res: ServerResponse): void {
    const task = this.tasks.get(r.query.taskId ?? '');
    if (!task) {
      sendJson(res, 200, { code: 422, msg: 'record is null', data: null });
      return;
    }
    if (task.successFlag !== 1) {
      sendJson(res, 200, { code: 422, msg: 'record status is not success', data: null });
      return;
    }
    const step = (task.hdScript.length > 1 ? task.hdScript.shift() : task.hdScript[0]) ?? 'ready';
    if (step === 'processing-400') sendJson(res, 200, { code: 400, msg: HD_PROCESSING, data: null });
    else if (step === 'processing-422') sendJson(res, 200, { code: 422, msg: HD_PROCESSING, data: null });
    else if (step === 'processing-200') sendJson(res, 200, { code: 200, msg: 'success', data: {} });
    else {
      const name = `${task.taskId}-1080p.mp4`;
      const resultUrl = this.files.has(name) ? this.fileUrl(name) : this.addVideo(name, this.videoBytes);
      sendJson(res, 200, { code: 200, msg: 'success', data: { resultUrl } });
    }
  }

  /** kie-veo-api.md §3b: POST starts the 4K upgrade, and asking again is how its state is read. */
  private uhd(r: KieRecordedRequest, res: ServerResponse): void {
    const body = isRecord(r.json) ? r.json : null;
    const unknown = body ? Object.keys(body).filter((k) => !UHD_FIELDS.has(k)) : [];
    const badIndex = body?.index !== undefined && !Number.isInteger(body.index);
    const badCallback = body?.callBackUrl !== undefined && typeof body.callBackUrl !== 'string';
    if (!body || typeof body.taskId !== 'string' || unknown.length > 0 || badIndex || badCallback) {
      this.bodyViolations.push(`get-4k-video: ${JSON.stringify(r.json)}`);
      sendJson(res, 200, { code: 422, msg: 'taskId is required', data: null });
      return;
    }
    const task = this.tasks.get(body.taskId);
    if (!task) {
      sendJson(res, 200, { code: 422, msg: 'record is null', data: null });
      return;
    }
    if (task.successFlag !== 1) {
      sendJson(res, 200, { code: 422, msg: 'record status is not success', data: null });
      return;
    }
    task.uhdCalls = (task.uhdCalls ?? 0) + 1;
    const script = (task.uhdScript ??= ['processing', 'ready']);
    const step = (script.length > 1 ? script.shift() : script[0]) ?? 'ready';
    const { taskId } = task;
    if (step === 'processing') {
      if (task.uhdCalls === 1)
        sendJson(res, 200, { code: 200, msg: 'success', data: { taskId, resultUrls: null, imageUrls: null } });
      else sendJson(res, 200, { code: 422, msg: UHD_PROCESSING, data: null });
    } else if (step === 'unavailable') {
      sendJson(res, 200, { code: 500, msg: UHD_UNAVAILABLE, data: { taskId } });
    } else {
      const name = `${taskId}-4k.mp4`;
      const video = this.files.has(name) ? this.fileUrl(name) : this.addVideo(name, this.videoBytes);
      const image = this.fileUrl(`${taskId}-4k.jpg`);
      sendJson(res, 200, { code: 422, msg: UHD_DONE, data: { taskId, resultUrls: [video], imageUrls: [image] } });
    }
  }

  private upload(r: KieRecordedRequest, res: ServerResponse): void {
    const failure = this.uploadBehavior.shift();
    if (failure) {
      sendJson(
        res,
        failure.httpStatus,
        failure.body ?? { success: false, code: failure.httpStatus, msg: 'upload failed' },
      );
      return;
    }
    const file = r.multipart?.files.find((f) => f.field === 'file');
    const uploadPath = r.multipart?.fields.uploadPath;
    if (!file || !uploadPath) {
      const missing = file ? 'uploadPath' : 'file';
      sendJson(res, 200, { success: false, code: 400, msg: `Missing required parameter: ${missing}`, data: null });
      return;
    }
    const fileName = r.multipart?.fields.fileName ?? (file.fileName || `${randomBytes(8).toString('hex')}.bin`);
    const filePath = `${uploadPath}/${fileName}`;
    const downloadUrl = this.addFile(`uploads/${filePath}`, file.bytes, file.mimeType);
    sendJson(res, 200, {
      success: true,
      code: 200,
      msg: 'File uploaded successfully',
      data: {
        fileName,
        filePath,
        downloadUrl,
        fileSize: file.bytes.length,
        mimeType: file.mimeType,
        uploadedAt: new Date().toISOString(),
      },
    });
  }

  private serveFile(r: KieRecordedRequest, res: ServerResponse): void {
    let name: string;
    try {
      name = decodeURIComponent(r.path.slice('/files/'.length));
    } catch {
      name = '';
    }
    const file = this.files.get(name);
    if (!file || (r.method !== 'GET' && r.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.mimeType, 'content-length': file.bytes.length });
    if (this.holdFileBodies && r.method === 'GET') {
      res.write(file.bytes.subarray(0, Math.floor(file.bytes.length / 2)));
      return;
    }
    res.end(r.method === 'HEAD' ? undefined : file.bytes);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Enough of RFC 7578 for what undici's FormData writes. */
function parseMultipart(body: Buffer, contentType: string): NonNullable<KieRecordedRequest['multipart']> | null {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundaryText = match?.[1] ?? match?.[2];
  if (!boundaryText) return null;
  const boundary = Buffer.from(`--${boundaryText.trim()}`);
  const fields: Record<string, string> = {};
  const files: NonNullable<KieRecordedRequest['multipart']>['files'] = [];
  let pos = body.indexOf(boundary);
  if (pos < 0) return null;
  for (;;) {
    pos += boundary.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') break;
    if (body.subarray(pos, pos + 2).toString('latin1') === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) return null;
    const next = body.indexOf(boundary, headerEnd + 4);
    if (next < 0) return null;
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    // The CRLF before the next boundary belongs to the delimiter, not the content.
    const content = body.subarray(headerEnd + 4, next - 2);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    const fileName = /filename="([^"]*)"/i.exec(headers)?.[1];
    const mimeType = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim() ?? 'application/octet-stream';
    if (name !== undefined) {
      if (fileName !== undefined) files.push({ field: name, fileName, mimeType, bytes: Buffer.from(content) });
      else fields[name] = content.toString('utf8');
    }
    pos = next;
  }
  return { fields, files };
}
