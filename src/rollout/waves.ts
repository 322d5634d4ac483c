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

/** A process that died rather than answered: killed over its memory limit or by a signal, or out of memory. */
function died(r: ExecResult): boolean {
  return r.overLimit === true || r.exitCode > 128 || /^error: out of memory/m.test(r.stderr)
}

/**
 * Each host's rollout wave, from one evaluation of all of them (no system is evaluated or built). A shared
 * evaluation that fails (an error tryEval cannot catch, a process over `memoryLimit`) is split in halves and
 * tried again, so one broken host costs a few processes, not one per host. A host whose wave is not a whole
 * number, or throws, is evaluated alone for Nix's message; it then counts as wave 0 (it gates every wave above
 * it) with that message as its `error`.
 */
export async function evaluateWaves(
  nix: WaveEvaluator,
  flake: string,
  hosts: string[],
  memoryLimit?: number
): Promise<HostWave[]> {
  const result = new Map<string, HostWave>()
  const set = (host: string, value: unknown): void => {
    const w = readWave(value)
    result.set(host, 'wave' in w ? { host, wave: w.wave } : { host, wave: 0, error: w.error })
  }
  const alone = async (host: string): Promise<void> => {
    const r = await nix.evalWaves(flake, [host], memoryLimit)
    if (r.exitCode !== 0) {
      const said = tail(stripWarnings(r.stderr), 10)
      const error = died(r)
        ? `the evaluation of its wave was killed (exit code ${r.exitCode}${r.overLimit ? ', over the memory budget' : ''})`
        : said || `nix eval exited with code ${r.exitCode}`
      result.set(host, { host, wave: 0, error })
      return
    }
    try {
      set(host, JSON.parse(r.stdout))
    } catch {
      result.set(host, { host, wave: 0, error: `nix eval printed no JSON: ${r.stdout.slice(0, 200)}` })
    }
  }
  const chunk = async (part: string[]): Promise<void> => {
    if (part.length === 1) return alone(part[0])
    const r = await nix.evalWaves(flake, part, memoryLimit)
    let parsed: Record<string, unknown> | undefined
    try {
      const data: unknown = r.exitCode === 0 ? JSON.parse(r.stdout) : undefined
      if (data && typeof data === 'object' && !Array.isArray(data)) parsed = data as Record<string, unknown>
    } catch {
      parsed = undefined
    }
    if (!parsed) {
      const half = Math.ceil(part.length / 2)
      await chunk(part.slice(0, half))
      await chunk(part.slice(half))
      return
    }
    for (const host of part) {
      const v = parsed[host]
      if (typeof v === 'number') set(host, v)
      else await alone(host)
    }
  }
  if (hosts.length > 0) await chunk(hosts)
  return hosts.map(h => result.get(h) as HostWave)
}
