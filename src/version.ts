export const BOT_VERSION = '0.1.0';
export const PROJECT_URL = 'https://github.com/veo-bot/veo-bot';
export const USER_AGENT = `VeoBot/${BOT_VERSION} (+${PROJECT_URL})`;
