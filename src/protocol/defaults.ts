// Kept apart from the wire schemas (api.ts): the CLI's help needs these without loading zod.

/** Where the fleet commands look for the collector when neither --collector nor DRIFTWATCH_COLLECTOR says. */
export const DEFAULT_COLLECTOR = 'http://127.0.0.1:8080'

/** Hosts per page of `GET /v1/hosts` when `limit` is not given, and the most a page holds. */
export const HOSTS_PAGE_DEFAULT = 100
export const HOSTS_PAGE_MAX = 1000
