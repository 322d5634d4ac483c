import { ExecResult, tail } from '../exec'
import { WAVE_OPTION } from '../nix/expr'
import { stripWarnings } from '../nix/stderr'
import { HostWave } from './gates'

/** What evaluates the waves: Nix.evalWaves. */
export interface WaveEvaluator {
  evalWaves(flake: string, hosts: string[], memoryLimit?: number): Promise<ExecResult>
}

/** A wave as Nix printed it for one host: a whole number, else what went wrong. */
export function readWave(value: unknown): { wave: number } | { error: string } {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return { wave: value }
  if (typeof value === 'number')
    return { error: `${WAVE_OPTION} is ${value}, not a whole number of at least 0` }
  const type =
    value && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string'
      ? (value as { type: string }).type
      : typeof value
  return { error: `${WAVE_OPTION} is a ${type}, not a whole number` }
}

/**
 * Each host's rollout wave, from one evaluation of all of them (no system is evaluated or built). A host whose
 * wave is not a whole number, or throws, or breaks the shared evaluation, is evaluated alone for Nix's message;
 * it then counts as wave 0 (it gates every wave above it) with that message as its `error`.
 */
export async function evaluateWaves(
  nix: WaveEvaluator,
  flake: string,
  hosts: string[],
  memoryLimit?: number
): Promise<HostWave[]> {
  const result = new Map<string, HostWave>()
  const alone: string[] = []
  if (hosts.length > 1) {
    const r = await nix.evalWaves(flake, hosts, memoryLimit)
    let parsed: Record<string, unknown> | undefined
    try {
      const data: unknown = r.exitCode === 0 ? JSON.parse(r.stdout) : undefined
      if (data && typeof data === 'object' && !Array.isArray(data)) parsed = data as Record<string, unknown>
    } catch {
      parsed = undefined
    }
    for (const host of hosts) {
      const v = parsed?.[host]
      if (typeof v === 'number') {
        const w = readWave(v)
        result.set(host, 'wave' in w ? { host, wave: w.wave } : { host, wave: 0, error: w.error })
      } else alone.push(host)
    }
  } else alone.push(...hosts)
  for (const host of alone) {
    const r = await nix.evalWaves(flake, [host], memoryLimit)
    let value: unknown
    let error: string | undefined
    if (r.exitCode === 0) {
      try {
        value = JSON.parse(r.stdout)
      } catch {
        error = `nix eval printed no JSON: ${r.stdout.slice(0, 200)}`
      }
    } else {
      error = tail(stripWarnings(r.stderr), 10) || `nix eval exited with code ${r.exitCode}`
    }
    if (error === undefined) {
      const w = readWave(value)
      result.set(host, 'wave' in w ? { host, wave: w.wave } : { host, wave: 0, error: w.error })
    } else result.set(host, { host, wave: 0, error })
  }
  return hosts.map(h => result.get(h) as HostWave)
}
