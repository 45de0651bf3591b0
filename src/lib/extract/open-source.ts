import type {ResolvedConfig} from '../config/resolve.js'
import {UsageError} from '../errors.js'
import {EXTRACT_ENGINES, type ExtractEngineName, type ExtractSource} from '../shop/extract-source.js'
import {TrinoClient} from '../trino/client.js'
import {trinoSettingsFromConfig} from '../trino/settings.js'
import {TrinoExtractSource} from './trino-source.js'

/** The `engine` setting, checked: a value from an env var or config file gets no help from the flag parser. */
export function extractEngineOf(config: ResolvedConfig): ExtractEngineName {
  const value = config.engine.value.trim().toLowerCase()
  if ((EXTRACT_ENGINES as readonly string[]).includes(value)) return value as ExtractEngineName
  throw new UsageError('ENGINE_INVALID', `The engine "${config.engine.value}" is not one ecap runs analyses on.`, {
    hints: [`--engine ${EXTRACT_ENGINES.join(' or --engine ')}`, 'ECAP_ENGINE=trino'],
  })
}

/**
 * The extract source the `engine` setting asks for: none for duckdb (the analyses read the lake in process), a Trino
 * session (settings from config and TRINO_USER/TRINO_PASSWORD) for trino. An abort of `signal` cancels its queries.
 */
export function openExtractSource(
  config: ResolvedConfig,
  signal?: AbortSignal,
  env: NodeJS.ProcessEnv = process.env,
): ExtractSource | undefined {
  const engine = extractEngineOf(config)
  if (engine === 'duckdb') return undefined
  return new TrinoExtractSource(new TrinoClient(trinoSettingsFromConfig(config, env), signal))
}
