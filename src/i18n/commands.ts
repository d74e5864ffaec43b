/**
 * Localized names and descriptions of the slash commands (DESIGN §1.7). The English text stays in the
 * command definitions (it is what Discord shows by default); every other language lives here, keyed by
 * the path of what it names:
 *
 *   `veo`, `veo.prompt`, `veo.prompt.aspect`     a command, a subcommand, an option
 *   `*.model`                                    an option of that name wherever it appears
 *   `veo.prompt.aspect=16:9`, `*.model=veo3`     a choice (by its value), exact or anywhere
 *
 * Names follow Discord's rule `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$` without uppercase;
 * descriptions are at most 100 characters; choice names at most 100. test/unit/i18n.test.ts checks that
 * every command, subcommand, option and choice has an entry here and that each one is valid.
 */

export interface LocalizedText {
  readonly name: string;
  /** Commands, subcommands and options; choices have a name only. */
  readonly description?: string;
}

/** The languages the commands are localized into, besides the English default. */
export const COMMAND_LOCALES = ['zh-CN'] as const;
export type CommandLocale = (typeof COMMAND_LOCALES)[number];

const zhCN: Readonly<Record<string, LocalizedText>> = {
  // /veo
  veo: { name: 'veo视频', description: '用 Google Veo 3.1 制作短视频' },
  'veo.prompt': { name: '文生视频', description: '把一段文字描述变成 8 秒视频' },
  'veo.animate': { name: '图生视频', description: '让一张图片动起来，生成 8 秒视频' },
  'veo.quota': { name: '额度', description: '你在本服务器还剩多少单位，以及下一个单位何时恢复' },
  'veo.jobs': { name: '我的视频', description: '你在本服务器最近的 10 个视频：状态、时间和链接' },
  '*.prompt': { name: '提示词', description: '视频要呈现的内容' },
  '*.model': { name: '模型', description: '使用哪个 Veo 模型' },
  '*.model=veo3_fast': { name: 'Veo 3.1 快速版' },
  '*.model=veo3': { name: 'Veo 3.1 高质量版' },
  '*.model=veo3_lite': { name: 'Veo 3.1 轻量版' },
  '*.seed': { name: '种子', description: '10000 到 99999 之间的种子；相同的种子会生成相近的结果' },
  '*.private': { name: '仅自己可见', description: '进度和视频只有你自己能看到' },
  'veo.prompt.aspect': { name: '画面比例', description: '画面比例（默认 16:9）' },
  'veo.animate.aspect': { name: '画面比例', description: '画面比例（默认自动：取与图片最接近的比例）' },
  '*.aspect=Auto': { name: '自动（跟随图片）' },
  '*.aspect=16:9': { name: '16:9 横屏' },
  '*.aspect=9:16': { name: '9:16 竖屏' },
  'veo.animate.image': { name: '图片', description: '要动起来的图片，作为首帧（JPEG、PNG 或 WebP）' },
  'veo.animate.end_image': { name: '结束图片', description: '视频结束时的图片，作为尾帧（JPEG、PNG 或 WebP）' },
  'veo.reference': {
    name: '参考图生视频',
    description: '制作一段 8 秒视频，呈现最多三张参考图片中的内容（固定使用 Veo 3.1 快速版）',
  },
  'veo.reference.image': {
    name: '图片',
    description: '视频要呈现的内容的图片；仅限 Veo 3.1 快速版（JPEG、PNG 或 WebP）',
  },
  'veo.reference.image2': { name: '图片2', description: '第二张参考图片（JPEG、PNG 或 WebP）' },
  'veo.reference.image3': { name: '图片3', description: '第三张参考图片（JPEG、PNG 或 WebP）' },
  'veo.reference.aspect': { name: '画面比例', description: '画面比例（默认 16:9）' },
  'veo.settings': { name: '偏好设置', description: '你自己的默认选项（模型、画面比例、仅自己可见），在所有服务器通用' },

  // /veo-admin
  'veo-admin': { name: 'veo管理', description: 'Veo Bot 的服务器管理：限额、成员、预算、状态' },
  'veo-admin.limits': { name: '限额', description: '查看或设置本服务器每位成员的额度、时间窗口和各模型费用' },
  'veo-admin.limits.limit': { name: '额度', description: '每位成员在每个时间窗口内可用的单位数' },
  'veo-admin.limits.window_hours': { name: '窗口小时数', description: '滚动时间窗口的长度，以小时计' },
  'veo-admin.limits.cost_veo3': { name: '高质量版费用', description: '一个 Veo 3.1 高质量版视频消耗的单位数' },
  'veo-admin.limits.cost_fast': { name: '快速版费用', description: '一个 Veo 3.1 快速版视频消耗的单位数' },
  'veo-admin.limits.cost_lite': { name: '轻量版费用', description: '一个 Veo 3.1 轻量版视频消耗的单位数' },
  'veo-admin.limits.max_active': { name: '同时进行上限', description: '每位成员可同时进行的视频数' },
  'veo-admin.limits.defaults': { name: '恢复默认', description: '先恢复为机器人的默认限额' },
  'veo-admin.reset': { name: '重置', description: '给成员一个新的时间窗口：已用的单位不再计入' },
  'veo-admin.reset.user': { name: '成员', description: '要恢复额度的成员' },
  'veo-admin.block': { name: '封禁', description: '禁止成员在本服务器生成视频' },
  'veo-admin.block.user': { name: '成员', description: '要封禁的成员' },
  'veo-admin.unblock': { name: '解封', description: '允许被封禁的成员再次生成视频' },
  'veo-admin.unblock.user': { name: '成员', description: '要解封的成员' },
  'veo-admin.budget': { name: '预算', description: '查看或设置整个服务器每滚动 24 小时的单位上限' },
  'veo-admin.budget.units': { name: '单位数', description: '整个服务器每滚动 24 小时可用的单位数；0 表示取消上限' },
  'veo-admin.status': { name: '状态', description: '视频服务是否正在接受视频，以及本服务器的用量' },
  'veo-admin.forget': { name: '删除记录', description: '删除成员在本服务器的任务记录和用量' },
  'veo-admin.forget.user': { name: '成员', description: '要删除其记录的成员' },
  'veo-admin.watermark': {
    name: '水印',
    description: '给本服务器制作的每个视频加上文字水印；不填文字（或填 off）即关闭',
  },
  'veo-admin.watermark.text': { name: '文字', description: '水印文字，最多 30 个字符；不填或填 off 则关闭水印' },
  'veo-admin.filter': { name: '屏蔽词', description: '本服务器在提示词中屏蔽的词语和短语' },
  'veo-admin.filter.add': { name: '添加', description: '在提示词中屏蔽词语或短语' },
  'veo-admin.filter.add.words': { name: '词语', description: '要屏蔽的词语或短语，用逗号分隔' },
  'veo-admin.filter.remove': { name: '移除', description: '取消屏蔽词语或短语' },
  'veo-admin.filter.remove.words': { name: '词语', description: '要取消屏蔽的词语或短语，用逗号分隔' },
  'veo-admin.filter.list': { name: '列表', description: '查看屏蔽的词语和短语' },
  'veo-admin.log-channel': { name: '日志频道', description: '把本服务器生成的每个视频同步到一个频道；不选频道则关闭' },
  'veo-admin.log-channel.channel': { name: '频道', description: '同步视频的频道；不填则关闭日志' },
};

const TABLES: Readonly<Record<CommandLocale, Readonly<Record<string, LocalizedText>>>> = { 'zh-CN': zhCN };

/** The entry for a command, subcommand or option path (exact first, then `*.<name>`). */
export function localizedEntry(locale: CommandLocale, path: string): LocalizedText | undefined {
  const table = TABLES[locale];
  const last = path.slice(path.lastIndexOf('.') + 1);
  return table[path] ?? (path.includes('.') ? table[`*.${last}`] : undefined);
}

/** The entry for a choice of the option at `optionPath`. */
export function localizedChoice(
  locale: CommandLocale,
  optionPath: string,
  value: string | number,
): LocalizedText | undefined {
  const table = TABLES[locale];
  const option = optionPath.slice(optionPath.lastIndexOf('.') + 1);
  return table[`${optionPath}=${String(value)}`] ?? table[`*.${option}=${String(value)}`];
}

type Json = Record<string, unknown>;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function localizations(pick: (locale: CommandLocale) => string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const locale of COMMAND_LOCALES) {
    const text = pick(locale);
    if (text !== undefined) out[locale] = text;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function localizeNode(node: Json, path: string): Json {
  const out: Json = { ...node };
  const names = localizations((l) => localizedEntry(l, path)?.name);
  const descriptions = localizations((l) => localizedEntry(l, path)?.description);
  if (names) out.name_localizations = names;
  if (descriptions) out.description_localizations = descriptions;
  if (Array.isArray(node.choices)) {
    out.choices = (node.choices as unknown[]).map((choice) => {
      if (!isJson(choice) || (typeof choice.value !== 'string' && typeof choice.value !== 'number')) return choice;
      const value = choice.value;
      const choiceNames = localizations((l) => localizedChoice(l, path, value)?.name);
      return choiceNames ? { ...choice, name_localizations: choiceNames } : choice;
    });
  }
  if (Array.isArray(node.options)) {
    out.options = (node.options as unknown[]).map((option) =>
      isJson(option) && typeof option.name === 'string' ? localizeNode(option, `${path}.${option.name}`) : option,
    );
  }
  return out;
}

/**
 * A copy of a command definition with `name_localizations` and `description_localizations` on the
 * command and every subcommand and option, and `name_localizations` on every choice, from the tables above.
 */
export function localizeCommand<T extends { readonly name: string }>(command: T): T {
  // The copy has exactly T's shape plus the optional localization keys Discord's types already allow.
  return localizeNode({ ...command }, command.name) as T;
}
