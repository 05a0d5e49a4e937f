/** Where the console's System Integrations pages live. */
export const SI_PATH = '/console/settings/system-integrations';
export const ACTIVITY = `${SI_PATH}/activity`;
export const WEBHOOKS = `${SI_PATH}/webhooks`;
/** A key's own page. */
export const keyPath = (id: string) => `${SI_PATH}/keys/${id}`;
