/** The schema ecap's tables go to when no `--schema` names another. */
export const DEFAULT_PG_SCHEMA = 'ecap'

/** The variable a postgres:// URL is read from when no `--url-env` names another. */
export const DEFAULT_URL_ENV = 'ECAP_PG_URL'
