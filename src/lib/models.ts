/**
 * The Veo models the bot offers, in the order members see them. Everything that names a model (the
 * `model` option, DEFAULT_MODEL and QUOTA_COST_*, the admin cost options, the quota costs, the stored guild
 * settings and kie's extend names) is derived from this list.
 */
const MODELS = [
  { id: 'veo3_fast', label: 'Veo 3.1 Fast', short: 'fast', extendName: 'fast', defaultCost: 1, defaultCredits: 60 },
  { id: 'veo3', label: 'Veo 3.1 Quality', short: 'veo3', extendName: 'quality', defaultCost: 4, defaultCredits: 250 },
  { id: 'veo3_lite', label: 'Veo 3.1 Lite', short: 'lite', extendName: 'lite', defaultCost: 1, defaultCredits: 30 },
] as const;

/**
 * `short` names the model in QUOTA_COST_<SHORT>, KIE_CREDITS_<SHORT> and the admin option cost_<short>;
 * `extendName` is what kie's extend endpoint calls it (kie-veo-api.md §3c); `defaultCredits` is kie's price
 * of one 8 s clip (kie-veo-api.md §6), which an extension of that model costs too.
 */
export type VeoModelInfo = (typeof MODELS)[number];
export type VeoModel = VeoModelInfo['id'];

export const VEO_MODELS: readonly VeoModelInfo[] = MODELS;
export const VEO_MODEL_IDS: readonly VeoModel[] = MODELS.map((m) => m.id);

export function isVeoModel(value: string): value is VeoModel {
  return MODELS.some((m) => m.id === value);
}

/** One value per model, keyed by model id. */
export function byModel<T>(valueOf: (model: VeoModelInfo) => T): Record<VeoModel, T> {
  return Object.fromEntries(MODELS.map((m) => [m.id, valueOf(m)])) as Record<VeoModel, T>;
}
