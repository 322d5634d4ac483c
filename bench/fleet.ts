/**
 * Fleets for the benchmark, built on the fixture package set (examples/pkgs/flake.nix): every host's system has
 * about 300 store paths, most of them a library graph all hosts share, a few packages of its own, and a little
 * evaluation work. The package set's "after" version bumps about 20 packages, the kernel among them.
 */
import { execFileSync } from 'child_process'
import * as crypto from 'crypto'
import * as fs from 'fs'
import * as path from 'path'

import { PackageSet, PackageSpec } from '../testkit/package-set'

export type { PackageSet, PackageSpec }

/** Shared packages, glibc and the kernel included: with the per-host ones and the system's own, ~300 paths. */
export const SHARED_PACKAGES = 290
/** Packages whose version the update changes (their dependents are rebuilt too, as with a real update). */
export const BUMPED_PACKAGES = 20
/** Each host's own packages: the first is a service (in /etc), the others are in its package set. */
const HOST_PACKAGES = ['svc', 'app', 'cfg', 'tool']
/** Evaluation work per host (see mkSystem's `work`): visible in the evaluation time, yet small. */
export const EVAL_WORK = 2000
/** Left out by every variant (exclude-hosts `.*-minimal`), so that the filter has something to do. */
export const EXCLUDED_HOST = 'installer-minimal'

/** A small deterministic generator: every run gets the same graph, only the salt differs. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function pick<T>(rnd: () => number, items: T[]): T {
  return items[Math.floor(rnd() * items.length)]
}

interface SharedGraph {
  packages: PackageSpec[]
  /** Packages nothing else depends on: every host selects these, so its closure holds the whole graph. */
  roots: string[]
  bumped: Set<string>
}

function sharedGraph(): SharedGraph {
  const rnd = random(20240501)
  const packages: PackageSpec[] = [
    { name: 'glibc', version: '2.39-52' },
    { name: 'linux', version: '6.6.30' }
  ]
  for (let i = 2; i < SHARED_PACKAGES; i++) {
    const deps = new Set(['glibc'])
    // Dependencies among the 40 packages defined just before: a graph a few dozen levels deep, like library stacks.
    const window = packages.slice(Math.max(2, i - 40), i).map(p => p.name)
    const count = Math.floor(rnd() * 3)
    for (let k = 0; k < count && window.length > 0; k++) deps.add(pick(rnd, window))
    packages.push({
      name: `lib${String(i).padStart(3, '0')}`,
      version: `${1 + (i % 4)}.${i % 10}.${i % 7}`,
      deps: [...deps]
    })
  }
  const dependents = new Map<string, Set<string>>(packages.map(p => [p.name, new Set<string>()]))
  for (const p of packages) for (const d of p.deps ?? []) dependents.get(d)?.add(p.name)
  const roots = packages
    .filter(p => p.name !== 'linux' && dependents.get(p.name)?.size === 0)
    .map(p => p.name)

  // Packages with few dependents, as most updates are: the after-build rebuilds a few dozen shared paths, not all.
  const transitive = (name: string): number => {
    const seen = new Set<string>()
    const stack = [name]
    while (stack.length > 0) {
      for (const d of dependents.get(stack.pop() as string) ?? []) {
        if (!seen.has(d)) {
          seen.add(d)
          stack.push(d)
        }
      }
    }
    return seen.size
  }
  const bumped = new Set(['linux'])
  for (const p of packages) {
    if (bumped.size >= BUMPED_PACKAGES) break
    if (p.name !== 'glibc' && p.name !== 'linux' && rnd() < 0.25 && transitive(p.name) <= 3)
      bumped.add(p.name)
  }
  return { packages, roots, bumped }
}

function bumpVersion(version: string): string {
  const parts = version.split('.')
  const minor = Number(parts[1] ?? 0) + 1
  return [parts[0], String(minor), ...parts.slice(2).map(() => '0')].join('.')
}

export function hostNames(size: number): string[] {
  const width = Math.max(3, String(size).length)
  return Array.from({ length: size }, (_, i) => `host${String(i + 1).padStart(width, '0')}`)
}

/** The package sets before and after the update, for these hosts, with one salt for both. */
export function packageSets(hosts: string[], salt: string): { before: PackageSet; after: PackageSet } {
  const graph = sharedGraph()
  const shared = graph.packages.map(p => p.name).filter(n => n !== 'linux')
  const own: PackageSpec[] = hosts.flatMap((host, i) => {
    const rnd = random(1000 + i)
    return HOST_PACKAGES.map(kind => ({
      name: `${kind}-${host}`,
      version: '1.0',
      deps: [...new Set([pick(rnd, shared), pick(rnd, shared)])]
    }))
  })
  const before: PackageSet = { release: '24.05', salt, failing: [], packages: [...graph.packages, ...own] }
  const after: PackageSet = {
    ...before,
    packages: before.packages.map(p =>
      graph.bumped.has(p.name) ? { ...p, version: bumpVersion(p.version) } : p
    )
  }
  return { before, after }
}

/**
 * Options per host in the eval-heavy fleets: an attribute set this large, kept alive by the host's config and
 * hashed into its system, makes one host take about 110 MB and 0.3 s to evaluate alone (Nix 2.8), and the
 * memory of one process grow with every host it evaluates, as NixOS configurations do.
 */
export const HEAVY_OPTIONS = 100000

/** The fleet's flake.nix, in the shape of __tests__/fixtures/fleet.ts's fleetFlake, with the shared list once. */
export function fleetFlake(pkgsDir: string, hosts: string[], heavy = 0): string {
  const roots = sharedGraph().roots
  const list = (xs: string[]): string => `[ ${xs.map(x => JSON.stringify(x)).join(' ')} ]`
  const host = (h: string): string => {
    const [service, ...own] = HOST_PACKAGES.map(kind => `${kind}-${h}`)
    return `        ${JSON.stringify(h)} = mk { hostName = ${JSON.stringify(h)}; packages = common ++ ${list(own)}; services = ${list([service])}; work = ${EVAL_WORK};${heavy > 0 ? ` heavy = ${heavy};` : ''} };`
  }
  return `{
  inputs.pkgs.url = "git+file://${pkgsDir}";

  outputs = { self, pkgs }:
    let
      mk = pkgs.lib.mkSystem;
      common = ${list(roots)};
    in {
      nixosConfigurations = {
${hosts.map(host).join('\n')}
        ${JSON.stringify(EXCLUDED_HOST)} = mk { hostName = ${JSON.stringify(EXCLUDED_HOST)}; packages = [ "glibc" ]; };
      };
    };
}
`
}

export interface Fleet {
  root: string
  pkgsDir: string
  fleetDir: string
  hosts: string[]
  salt: string
}

function git(cwd: string, args: string[]): void {
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe']
  })
}

/**
 * A fleet in a directory of its own: the package repository with the "before" and, committed on top, the
 * "after" package set, and the fleet repository locked to the "before" commit. `nix` is the real binary: the
 * lock made here is not part of any measurement.
 */
export function createFleet(
  repo: string,
  parent: string,
  size: number,
  label: string,
  nix: string,
  heavy = 0
): Fleet {
  const root = fs.mkdtempSync(path.join(parent, `fleet-${size}-${label}-`))
  const pkgsDir = path.join(root, 'pkgs')
  const fleetDir = path.join(root, 'fleet')
  const hosts = hostNames(size)
  // A salt of its own changes every store hash: no variant finds another's (or an earlier run's) builds.
  const salt = `bench-${size}-${label}-${Date.now()}-${crypto.randomBytes(6).toString('hex')}`
  const sets = packageSets(hosts, salt)

  fs.mkdirSync(pkgsDir)
  fs.copyFileSync(path.join(repo, 'examples/pkgs/flake.nix'), path.join(pkgsDir, 'flake.nix'))
  fs.writeFileSync(path.join(pkgsDir, 'packages.json'), JSON.stringify(sets.before, null, 1))
  git(pkgsDir, ['init', '-q', '-b', 'main'])
  git(pkgsDir, ['add', '-A'])
  git(pkgsDir, ['commit', '-qm', 'package set 1'])

  fs.mkdirSync(fleetDir)
  fs.writeFileSync(path.join(fleetDir, 'flake.nix'), fleetFlake(pkgsDir, hosts, heavy))
  git(fleetDir, ['init', '-q', '-b', 'main'])
  git(fleetDir, ['add', '-A'])
  execFileSync(nix, ['flake', 'lock'], { cwd: fleetDir, stdio: ['ignore', 'pipe', 'pipe'] })
  git(fleetDir, ['add', '-A'])
  git(fleetDir, ['commit', '-qm', 'fleet'])

  fs.writeFileSync(path.join(pkgsDir, 'packages.json'), JSON.stringify(sets.after, null, 1))
  git(pkgsDir, ['commit', '-qam', 'package set 2'])
  return { root, pkgsDir, fleetDir, hosts, salt }
}
