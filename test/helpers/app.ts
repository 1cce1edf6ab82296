import type { FastifyInstance } from 'fastify'
import { type AppDeps, buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from './collector.js'
import { hasPostgres, postgresSchema } from './stores.js'

/** Where a test's store lives: its URL, and what removes it afterwards. */
export interface StoreTarget {
  url: string
  drop: () => Promise<void>
}

/** A store kind to run a test file on, by name; `target` makes a fresh one. */
export interface NamedTarget {
  name: string
  target: () => StoreTarget
}

/** A store that lives as long as its connection: nothing to drop. */
export const SQLITE_IN_MEMORY: StoreTarget = { url: 'sqlite::memory:', drop: async () => {} }

/** SQLite in memory, and a fresh schema of the test PostgreSQL (named `prefix_…`) where it answers. */
export async function storeTargets(prefix: string): Promise<NamedTarget[]> {
  const targets: NamedTarget[] = [{ name: 'sqlite', target: () => SQLITE_IN_MEMORY }]
  if (await hasPostgres()) targets.push({ name: 'postgres', target: () => postgresSchema(prefix) })
  return targets
}

/** A collector app over a real store, and what ends both. */
export interface AppOnStore {
  store: Store
  app: FastifyInstance
  /** Closes the app, then the store, then drops the store's target. */
  close: () => Promise<void>
}

/**
 * A collector app over `store` (no listening socket: requests go through `app.inject`), with the
 * enrolment secret and admin token of every collector test, 256 KiB bodies, 5 reports kept per
 * host and default fleet rules; `deps` adds or overrides.
 */
export function testApp(store: Store, deps: Partial<AppDeps> = {}): FastifyInstance {
  return buildApp({
    store,
    judge: makeJudge(FleetRulesSchema.parse({})),
    enrollSecret: ENROLL_SECRET,
    adminTokens: [ADMIN_TOKEN],
    bodyLimit: 256 * 1024,
    reportHistory: 5,
    ...deps,
  })
}

/**
 * A real store opened at `target` with a ready testApp over it. `deps` is given the store, for
 * what is built on it (a scheduler).
 */
export async function appOnStore(
  target: StoreTarget,
  deps: (store: Store) => Partial<AppDeps> = () => ({}),
): Promise<AppOnStore> {
  const store = await openStore(target.url)
  const app = testApp(store, deps(store))
  await app.ready()
  return {
    store,
    app,
    close: async () => {
      await app.close()
      await store.close()
      await target.drop()
    },
  }
}
