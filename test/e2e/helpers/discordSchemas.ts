/**
 * Discord request checking for the loopback Discord (test/e2e).
 *
 * Maps each (method, route) the bot may call to its operation (the spec's operationId in camelCase)
 * and to the zod schema of its request body from `discord-api-spec` (generated from Discord's OpenAPI
 * spec), then fills the spec's gaps by hand: unknown top-level keys, permission bitfields sent as
 * numeric strings, Discord's command naming rule and the message limits Discord enforces.
 */
import { core, locales, safeParse } from 'zod';

// `discord-api-spec/zod` ships JavaScript without type declarations: load it as `unknown` and keep
// only the exports that really are zod schemas.
const SPEC_MODULE: string = 'discord-api-spec/zod';
const specModule: unknown = await import(SPEC_MODULE);

const schemas = new Map<string, core.$ZodType>();
if (typeof specModule === 'object' && specModule !== null) {
  for (const [name, value] of Object.entries(specModule)) {
    if (value instanceof core.$ZodType) schemas.set(name, value);
  }
}

function schema(name: string): core.$ZodType {
  const found = schemas.get(name);
  if (!found) throw new Error(`discord-api-spec/zod has no export ${name}`);
  return found;
}

function shapeKeys(name: string): ReadonlySet<string> | null {
  const s = schema(name);
  return s instanceof core.$ZodObject ? new Set(Object.keys(s._zod.def.shape)) : null;
}

// ---------------------------------------------------------------------------------------------
// Routes

type BodyCheck =
  | { kind: 'none' }
  | { kind: 'schema'; schema: string; message: boolean }
  | { kind: 'callback' }
  | { kind: 'commandArray' }
  | { kind: 'command'; schema: string };

interface RouteDef {
  method: string;
  template: string;
  operation: string;
  body: BodyCheck;
  pattern: RegExp;
  params: string[];
}

const NONE: BodyCheck = { kind: 'none' };

function route(method: string, template: string, operation: string, body: BodyCheck = NONE): RouteDef {
  const params: string[] = [];
  const source = template
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (m?.[1] !== undefined) {
        params.push(m[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { method, template, operation, body, pattern: new RegExp(`^${source}$`), params };
}

/** Order matters: literal segments (`@me`, `@original`) come before the parameterised ones. */
const ROUTES: readonly RouteDef[] = [
  route('GET', '/gateway', 'getGateway'),
  route('GET', '/gateway/bot', 'getBotGateway'),
  route('GET', '/users/@me', 'getMyUser'),
  route('POST', '/users/@me/channels', 'createDm', {
    kind: 'schema',
    schema: 'CreatePrivateChannelRequestSchema',
    message: false,
  }),
  route('GET', '/applications/@me', 'getMyApplication'),
  route('GET', '/applications/{application_id}/commands', 'listApplicationCommands'),
  route('PUT', '/applications/{application_id}/commands', 'bulkSetApplicationCommands', { kind: 'commandArray' }),
  route('POST', '/applications/{application_id}/commands', 'createApplicationCommand', {
    kind: 'command',
    schema: 'ApplicationCommandCreateRequestSchema',
  }),
  route('GET', '/applications/{application_id}/guilds/{guild_id}/commands', 'listGuildApplicationCommands'),
  route('PUT', '/applications/{application_id}/guilds/{guild_id}/commands', 'bulkSetGuildApplicationCommands', {
    kind: 'commandArray',
  }),
  route('POST', '/applications/{application_id}/guilds/{guild_id}/commands', 'createGuildApplicationCommand', {
    kind: 'command',
    schema: 'ApplicationCommandCreateRequestSchema',
  }),
  route('POST', '/interactions/{interaction_id}/{interaction_token}/callback', 'createInteractionResponse', {
    kind: 'callback',
  }),
  route('GET', '/webhooks/{webhook_id}/{webhook_token}/messages/@original', 'getOriginalWebhookMessage'),
  route('PATCH', '/webhooks/{webhook_id}/{webhook_token}/messages/@original', 'updateOriginalWebhookMessage', {
    kind: 'schema',
    schema: 'IncomingWebhookUpdateForInteractionCallbackRequestPartialSchema',
    message: true,
  }),
  route('DELETE', '/webhooks/{webhook_id}/{webhook_token}/messages/@original', 'deleteOriginalWebhookMessage'),
  route('GET', '/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}', 'getWebhookMessage'),
  route('PATCH', '/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}', 'updateWebhookMessage', {
    kind: 'schema',
    schema: 'IncomingWebhookUpdateRequestPartialSchema',
    message: true,
  }),
  route('DELETE', '/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}', 'deleteWebhookMessage'),
  route('POST', '/webhooks/{webhook_id}/{webhook_token}', 'executeWebhook', {
    kind: 'schema',
    schema: 'IncomingWebhookRequestPartialSchema',
    message: true,
  }),
  route('GET', '/channels/{channel_id}', 'getChannel'),
  route('GET', '/channels/{channel_id}/messages', 'listMessages'),
  route('POST', '/channels/{channel_id}/messages', 'createMessage', {
    kind: 'schema',
    schema: 'MessageCreateRequestSchema',
    message: true,
  }),
  route('GET', '/channels/{channel_id}/messages/{message_id}', 'getMessage'),
  route('PATCH', '/channels/{channel_id}/messages/{message_id}', 'updateMessage', {
    kind: 'schema',
    schema: 'MessageEditRequestPartialSchema',
    message: true,
  }),
  route('DELETE', '/channels/{channel_id}/messages/{message_id}', 'deleteMessage'),
];

export interface RouteMatch {
  operation: string;
  template: string;
  params: Record<string, string>;
}

/** The operation for `method` + `path` (path after `/api/v10`, without the query), or null. */
export function matchRoute(method: string, path: string): RouteMatch | null {
  const def = findRoute(method, path);
  if (!def) return null;
  return { operation: def.route.operation, template: def.route.template, params: def.params };
}

function findRoute(method: string, path: string): { route: RouteDef; params: Record<string, string> } | null {
  const upper = method.toUpperCase();
  let decoded = path;
  try {
    decoded = decodeURIComponent(path); // @discordjs/rest sends `@original` as `%40original`
  } catch {
    // keep the raw path
  }
  for (const r of ROUTES) {
    if (r.method !== upper) continue;
    const m = r.pattern.exec(decoded);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.params.forEach((name, i) => {
      params[name] = m[i + 1] ?? '';
    });
    return { route: r, params };
  }
  return null;
}

/** Every operation name this module can return. */
export const OPERATIONS: readonly string[] = ROUTES.map((r) => r.operation);

// ---------------------------------------------------------------------------------------------
// Interaction callbacks: the schema of the whole body and of its `data`, by callback type.

const CALLBACKS: ReadonlyMap<number, { schema: string; data: string | null; message: boolean }> = new Map([
  [1, { schema: 'PongInteractionCallbackRequestSchema', data: null, message: false }],
  [
    4,
    {
      schema: 'CreateMessageInteractionCallbackRequestSchema',
      data: 'IncomingWebhookInteractionRequestSchema',
      message: true,
    },
  ],
  [
    5,
    {
      schema: 'CreateMessageInteractionCallbackRequestSchema',
      data: 'IncomingWebhookInteractionRequestSchema',
      message: false,
    },
  ],
  [
    6,
    {
      schema: 'UpdateMessageInteractionCallbackRequestSchema',
      data: 'IncomingWebhookUpdateForInteractionCallbackRequestPartialSchema',
      message: false,
    },
  ],
  [
    7,
    {
      schema: 'UpdateMessageInteractionCallbackRequestSchema',
      data: 'IncomingWebhookUpdateForInteractionCallbackRequestPartialSchema',
      message: true,
    },
  ],
  [8, { schema: 'ApplicationCommandAutocompleteCallbackRequestSchema', data: null, message: false }],
  [
    9,
    {
      schema: 'ModalInteractionCallbackRequestSchema',
      data: 'ModalInteractionCallbackRequestDataSchema',
      message: false,
    },
  ],
  [12, { schema: 'LaunchActivityInteractionCallbackRequestSchema', data: null, message: false }],
]);

// Fail at import time, not in the middle of a test, if the spec package renamed something.
for (const r of ROUTES) {
  if (r.body.kind === 'schema' || r.body.kind === 'command') schema(r.body.schema);
}
for (const c of CALLBACKS.values()) {
  schema(c.schema);
  if (c.data !== null) schema(c.data);
}
schema('ApplicationCommandUpdateRequestSchema');

// ---------------------------------------------------------------------------------------------
// Validation

export interface ValidationResult {
  operation: string | null;
  violations: string[];
  /** True when Discord itself would refuse the body (400 Invalid Form Body); unknown keys alone are ignored by Discord. */
  rejected: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const PERMISSION_KEYS = new Set(['default_member_permissions', 'permissions', 'allow', 'deny']);

/** Permission bitfields are integers in the spec, numeric strings on the wire: convert those for checking. */
function normalisePermissions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalisePermissions);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      PERMISSION_KEYS.has(key) && typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : normalisePermissions(v);
  }
  return out;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(body)' : path.map((p) => String(p)).join('.');
}

function formatIssues(issues: readonly core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the union branch that came closest (fewest issues) instead of a bare "Invalid input".
      let best: readonly core.$ZodIssue[] | undefined;
      for (const branch of issue.errors) if (best === undefined || branch.length < best.length) best = branch;
      if (best !== undefined && best.length > 0) {
        out.push(...formatIssues(best, path));
        continue;
      }
    }
    out.push(`${formatPath(path)}: ${issue.message}`);
  }
  return out;
}

// discord-api-spec builds its schemas with zod/mini, which carries no messages: supply English ones.
const ENGLISH = locales.en();

function checkSchema(name: string, body: unknown, where: string): { errors: string[]; unknown: string[] } {
  const result = safeParse(schema(name), normalisePermissions(body), { error: ENGLISH.localeError });
  const errors = result.success ? [] : formatIssues(result.error.issues).map((m) => `${where}${m}`);
  const unknown: string[] = [];
  const keys = shapeKeys(name);
  if (keys && isRecord(body)) unknown.push(...unknownKeys(body, keys, name, where));
  return { errors, unknown };
}

/**
 * discord.js's MessagePayload sends `tts: false` and `enforce_nonce: false` on every message body,
 * including the interaction and webhook bodies whose schemas lack them; Discord ignores them. Only
 * those exact default values are tolerated: `tts: true` on an edit is still reported.
 */
const DISCORD_JS_DEFAULTS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['tts', false],
  ['enforce_nonce', false],
]);

function unknownKeys(
  body: Record<string, unknown>,
  keys: ReadonlySet<string>,
  schemaName: string,
  where: string,
): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (keys.has(key)) continue;
    if (DISCORD_JS_DEFAULTS.has(key) && DISCORD_JS_DEFAULTS.get(key) === value) continue;
    out.push(`${where}unknown key "${key}" (not in ${schemaName.replace(/Schema$/, '')})`);
  }
  return out;
}

/** Length in Unicode code points, as Discord counts it. */
function codePoints(s: string): number {
  return Array.from(s).length;
}

const EMBED_TEXT: readonly (readonly string[])[] = [['title'], ['description'], ['footer', 'text'], ['author', 'name']];

function embedChars(embed: unknown): number {
  if (!isRecord(embed)) return 0;
  let total = 0;
  for (const path of EMBED_TEXT) {
    let v: unknown = embed;
    for (const key of path) v = isRecord(v) ? v[key] : undefined;
    if (typeof v === 'string') total += codePoints(v);
  }
  const fields = embed.fields;
  if (Array.isArray(fields)) {
    for (const f of fields as unknown[]) {
      if (!isRecord(f)) continue;
      if (typeof f.name === 'string') total += codePoints(f.name);
      if (typeof f.value === 'string') total += codePoints(f.value);
    }
  }
  return total;
}

function checkComponents(components: unknown, where: string, out: string[]): void {
  if (!Array.isArray(components)) return;
  (components as unknown[]).forEach((c, i) => {
    const here = `${where}[${i}]`;
    if (!isRecord(c)) return;
    if ('custom_id' in c) {
      const id = c.custom_id;
      if (typeof id !== 'string' || id.length < 1 || id.length > 100) {
        out.push(`${here}.custom_id: must be 1-100 characters (got ${typeof id === 'string' ? id.length : typeof id})`);
      }
    }
    if (c.type === 1 && Array.isArray(c.components) && c.components.length > 5) {
      out.push(`${here}: an action row holds at most 5 components (got ${c.components.length})`);
    }
    checkComponents(c.components, `${here}.components`, out);
    if (isRecord(c.accessory)) checkComponents([c.accessory], `${here}.accessory`, out);
    if (isRecord(c.component)) checkComponents([c.component], `${here}.component`, out);
  });
}

/** Discord's message limits that the generated schemas miss or state loosely. */
export function checkMessageRules(payload: unknown, where = ''): string[] {
  const out: string[] = [];
  if (!isRecord(payload)) return out;
  if (typeof payload.content === 'string' && codePoints(payload.content) > 2000) {
    out.push(`${where}content: at most 2000 characters (got ${codePoints(payload.content)})`);
  }
  if (Array.isArray(payload.embeds)) {
    const embeds = payload.embeds as unknown[];
    if (embeds.length > 10) out.push(`${where}embeds: at most 10 embeds (got ${embeds.length})`);
    const total = embeds.reduce<number>((sum, e) => sum + embedChars(e), 0);
    if (total > 6000) out.push(`${where}embeds: at most 6000 characters across all embeds (got ${total})`);
  }
  checkComponents(payload.components, `${where}components`, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Application command names

const NAME_RULE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

function checkName(name: unknown, label: string, chatInput: boolean, out: string[]): void {
  if (typeof name !== 'string') {
    out.push(`${label}: name must be a string`);
    return;
  }
  if (!chatInput) {
    if (name.length < 1 || name.length > 32) out.push(`${label}: name "${name}" must be 1-32 characters`);
    return;
  }
  if (!NAME_RULE.test(name)) out.push(`${label}: name "${name}" does not match ${NAME_RULE.source}`);
  if (name !== name.toLowerCase()) out.push(`${label}: name "${name}" has uppercase letters`);
}

function checkLocalizedNames(value: unknown, label: string, chatInput: boolean, out: string[]): void {
  if (value === undefined || value === null) return;
  if (!isRecord(value)) {
    out.push(`${label}: name_localizations must be an object`);
    return;
  }
  for (const [locale, name] of Object.entries(value)) {
    if (name === null) continue;
    checkName(name, `${label} (${locale})`, chatInput, out);
  }
}

function checkDescription(value: unknown, label: string, out: string[]): void {
  if (typeof value !== 'string' || value.length < 1 || value.length > 100) {
    out.push(
      `${label}: description must be 1-100 characters (got ${typeof value === 'string' ? value.length : typeof value})`,
    );
  }
}

function checkDescriptions(entity: Record<string, unknown>, label: string, out: string[]): void {
  checkDescription(entity.description, label, out);
  const localized = entity.description_localizations;
  if (isRecord(localized)) {
    for (const [locale, d] of Object.entries(localized))
      if (d !== null) checkDescription(d, `${label} (${locale})`, out);
  }
}

/** Choice names are free text (the naming rule does not apply): 1-100 characters, localized ones too; at most 25. */
function checkChoices(choices: unknown, label: string, out: string[]): void {
  if (choices === undefined || choices === null) return;
  if (!Array.isArray(choices)) {
    out.push(`${label}: choices must be an array`);
    return;
  }
  const list = choices as unknown[];
  if (list.length > 25) out.push(`${label}: at most 25 choices (got ${list.length})`);
  list.forEach((choice, i) => {
    if (!isRecord(choice)) return;
    const names: [string, unknown][] = [['', choice.name]];
    if (isRecord(choice.name_localizations)) {
      for (const [locale, name] of Object.entries(choice.name_localizations))
        if (name !== null) names.push([` (${locale})`, name]);
    } else if (choice.name_localizations !== undefined && choice.name_localizations !== null) {
      out.push(`${label}.choices[${i}]: name_localizations must be an object`);
    }
    for (const [where, name] of names) {
      if (typeof name !== 'string' || name.length < 1 || name.length > 100) {
        out.push(`${label}.choices[${i}]${where}: choice name must be 1-100 characters`);
      }
    }
  });
}

function checkOptions(options: unknown, label: string, out: string[]): void {
  if (options === undefined || options === null) return;
  if (!Array.isArray(options)) {
    out.push(`${label}: options must be an array`);
    return;
  }
  const list = options as unknown[];
  if (list.length > 25) out.push(`${label}: at most 25 options (got ${list.length})`);
  list.forEach((option, i) => {
    if (!isRecord(option)) {
      out.push(`${label}.options[${i}]: must be an object`);
      return;
    }
    const optLabel = `${label}.${typeof option.name === 'string' ? option.name : `options[${i}]`}`;
    checkName(option.name, `option ${optLabel}`, true, out);
    checkLocalizedNames(option.name_localizations, `option ${optLabel}`, true, out);
    checkDescriptions(option, `option ${optLabel}`, out);
    checkChoices(option.choices, `option ${optLabel}`, out);
    if (option.type === 1 || option.type === 2) checkOptions(option.options, optLabel, out);
  });
}

/**
 * Discord's naming rule for commands, subcommands and options (and their localized names), plus
 * description length and option count. Accepts one command or an array of commands.
 */
export function checkCommandNames(commands: unknown): string[] {
  const out: string[] = [];
  const list: unknown[] = Array.isArray(commands) ? (commands as unknown[]) : [commands];
  list.forEach((command, i) => {
    if (!isRecord(command)) {
      out.push(`commands[${i}]: must be an object`);
      return;
    }
    const label = typeof command.name === 'string' ? command.name : `commands[${i}]`;
    const type = command.type ?? 1;
    const chatInput = type === 1;
    checkName(command.name, `command ${label}`, chatInput, out);
    checkLocalizedNames(command.name_localizations, `command ${label}`, chatInput, out);
    if (chatInput) checkDescriptions(command, `command ${label}`, out);
    checkOptions(command.options, label, out);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * Match the request to its operation and check its (parsed JSON or payload_json) body against
 * Discord's schema and rules. Violations are prefixed with the operation name.
 */
export function validateDiscordRequest(method: string, path: string, body: unknown): ValidationResult {
  const found = findRoute(method, path);
  if (!found)
    return { operation: null, violations: [`unmatched route ${method.toUpperCase()} ${path}`], rejected: true };
  const { operation, body: check } = found.route;
  const errors: string[] = [];
  const unknown: string[] = [];

  switch (check.kind) {
    case 'none':
      break;
    case 'schema': {
      const r = checkSchema(check.schema, body, '');
      errors.push(...r.errors);
      unknown.push(...r.unknown);
      if (check.message) errors.push(...checkMessageRules(body));
      break;
    }
    case 'command': {
      const r = checkSchema(check.schema, body, '');
      errors.push(...r.errors, ...checkCommandNames(body));
      unknown.push(...r.unknown);
      break;
    }
    case 'commandArray': {
      if (!Array.isArray(body)) {
        errors.push('(body): expected an array of commands');
        break;
      }
      const list = body as unknown[];
      if (list.length > 130) errors.push(`(body): at most 130 commands (got ${list.length})`);
      list.forEach((command, i) => {
        const r = checkSchema('ApplicationCommandUpdateRequestSchema', command, `[${i}].`);
        errors.push(...r.errors);
        unknown.push(...r.unknown);
      });
      errors.push(...checkCommandNames(list));
      break;
    }
    case 'callback': {
      const type = isRecord(body) ? body.type : undefined;
      const cb = typeof type === 'number' ? CALLBACKS.get(type) : undefined;
      if (!cb) {
        errors.push(`type: unknown interaction callback type ${JSON.stringify(type) ?? 'undefined'}`);
        break;
      }
      const r = checkSchema(cb.schema, body, '');
      errors.push(...r.errors);
      unknown.push(...r.unknown);
      const data = isRecord(body) ? body.data : undefined;
      if (cb.data !== null && isRecord(data)) {
        const keys = shapeKeys(cb.data);
        if (keys) unknown.push(...unknownKeys(data, keys, cb.data, 'data: '));
        if (cb.message) errors.push(...checkMessageRules(data, 'data.'));
      }
      break;
    }
  }
  const violations = [...errors, ...unknown].map((v) => `${operation}: ${v}`);
  return { operation, violations, rejected: errors.length > 0 };
}
