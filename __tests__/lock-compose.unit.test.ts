import { compareLocks, lockedInputs } from '../src/nix/lock'
import {
  holdBackArgs,
  holdBackInputs,
  holdBackProblem,
  lockedRef,
  revisionArgs
} from '../src/nix/lock-compose'

const gh = (repo: string, rev: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  locked: { lastModified: 1, narHash: `sha256-${rev}`, owner: 'o', repo, rev, type: 'github', ...extra },
  original: { owner: 'o', repo, type: 'github' }
})

// home-manager has its own nixpkgs (nixpkgs_2) and a utils input that follows the root's; `nixpkgs` is shared
// by name with the old lock's node key while holding another revision.
const OLD = JSON.stringify({
  nodes: {
    'home-manager': { ...gh('home-manager', 'hm1'), inputs: { nixpkgs: 'nixpkgs_2', utils: ['utils'] } },
    nixpkgs: gh('nixpkgs', 'np1'),
    nixpkgs_2: gh('nixpkgs', 'hmnp1'),
    utils: gh('utils', 'u1'),
    tools: {
      flake: false,
      locked: {
        lastModified: 1,
        narHash: 'sha256-t1',
        ref: 'main',
        rev: 't1',
        revCount: 3,
        type: 'git',
        url: 'file:///src/tools'
      },
      original: { type: 'git', url: 'file:///src/tools' }
    },
    root: { inputs: { 'home-manager': 'home-manager', nixpkgs: 'nixpkgs', tools: 'tools', utils: 'utils' } }
  },
  root: 'root',
  version: 7
})

const NEW = JSON.stringify({
  nodes: {
    'home-manager': { ...gh('home-manager', 'hm2'), inputs: { nixpkgs: 'nixpkgs_2', utils: ['utils'] } },
    nixpkgs: gh('nixpkgs', 'np2'),
    nixpkgs_2: gh('nixpkgs', 'hmnp2'),
    utils: gh('utils', 'u2'),
    tools: {
      flake: false,
      locked: {
        lastModified: 2,
        narHash: 'sha256-t2',
        ref: 'main',
        rev: 't2',
        revCount: 4,
        type: 'git',
        url: 'file:///src/tools'
      },
      original: { type: 'git', url: 'file:///src/tools' }
    },
    disko: gh('disko', 'd1'),
    root: {
      inputs: {
        disko: 'disko',
        'home-manager': 'home-manager',
        nixpkgs: 'nixpkgs',
        tools: 'tools',
        utils: 'utils'
      }
    }
  },
  root: 'root',
  version: 7
})

const revs = (lock: string): Record<string, string | undefined> =>
  Object.fromEntries([...lockedInputs(lock)].map(([k, v]) => [k, v.rev]))

describe('holdBackInputs', () => {
  test('one input back at its old node, the rest new', () => {
    const composed = holdBackInputs(OLD, NEW, ['nixpkgs'])
    expect(revs(composed)).toEqual({
      disko: 'd1',
      'home-manager': 'hm2',
      'home-manager/nixpkgs': 'hmnp2',
      nixpkgs: 'np1',
      tools: 't2',
      utils: 'u2'
    })
    expect(compareLocks(OLD, composed).map(c => c.input)).toEqual([
      'disko',
      'home-manager',
      'home-manager/nixpkgs',
      'tools',
      'utils'
    ])
    expect(composed.endsWith('}\n')).toBe(true)
    expect(composed).toContain('\n  "nodes": {\n')
  })

  test('an input with its own inputs comes back with them; its follows still name the root input', () => {
    const composed = holdBackInputs(OLD, NEW, ['home-manager'])
    const data = JSON.parse(composed) as { nodes: Record<string, { inputs?: Record<string, unknown> }> }
    expect(revs(composed)).toMatchObject({
      'home-manager': 'hm1',
      'home-manager/nixpkgs': 'hmnp1',
      utils: 'u2'
    })
    // The new lock's home-manager/nixpkgs node is unreferenced now and dropped; its key held another node,
    // so the old one came back under a new key.
    const hm = data.nodes[(data.nodes.root.inputs as Record<string, string>)['home-manager']]
    expect(hm.inputs?.utils).toEqual(['utils'])
    expect(Object.keys(data.nodes).sort()).toEqual(
      ['disko', 'home-manager_2', 'nixpkgs', 'nixpkgs_2_2', 'root', 'tools', 'utils'].sort()
    )
  })

  test('holding back every changed input but the new one leaves only it changed', () => {
    const composed = holdBackInputs(OLD, NEW, ['home-manager', 'nixpkgs', 'tools', 'utils'])
    expect(compareLocks(OLD, composed).map(c => c.input)).toEqual(['disko'])
    expect(revs(holdBackInputs(OLD, NEW, []))).toEqual(revs(NEW))
  })

  test('an input the old lock lacks cannot be held back', () => {
    expect(holdBackProblem(OLD, NEW, 'disko')).toMatch(/not locked in the old flake.lock/)
    expect(holdBackProblem(OLD, NEW, 'nixpkgs')).toBeUndefined()
    expect(() => holdBackInputs(OLD, NEW, ['disko'])).toThrow(/Cannot hold back disko/)
  })
})

describe('flake references of lock entries', () => {
  test.each([
    [
      {
        type: 'git',
        url: 'file:///src/tools',
        rev: 'abc',
        ref: 'main',
        narHash: 'sha256-x',
        revCount: 4,
        lastModified: 9
      },
      'git+file:///src/tools?ref=main&rev=abc'
    ],
    [
      { type: 'git', url: 'https://h/r.git', rev: 'abc', submodules: true },
      'git+https://h/r.git?rev=abc&submodules=1'
    ],
    [
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev: 'abc', narHash: 'sha256-x' },
      'github:NixOS/nixpkgs/abc'
    ],
    [
      { type: 'gitlab', owner: 'o', repo: 'r', rev: 'abc', host: 'gl.example' },
      'gitlab:o/r/abc?host=gl.example'
    ],
    [{ type: 'sourcehut', owner: '~o', repo: 'r', rev: 'abc' }, 'sourcehut:~o/r/abc'],
    [
      { type: 'path', path: '/p', narHash: 'sha256-x', lastModified: 5 },
      'path:/p?lastModified=5&narHash=sha256-x'
    ],
    [
      { type: 'tarball', url: 'https://h/a.tar.gz', narHash: 'sha256-x' },
      'tarball+https://h/a.tar.gz?narHash=sha256-x'
    ],
    [{ type: 'tarball', url: 'https://h/a?x=1', narHash: 'sha256-x' }, undefined],
    [{ type: 'github', owner: 'o', repo: 'r' }, undefined],
    [{ type: 'indirect', id: 'nixpkgs' }, undefined]
  ])('%j → %s', (locked, ref) => {
    expect(lockedRef(locked)).toBe(ref)
  })

  test('--override-input arguments of an input and its own inputs, follows left to flake.nix', () => {
    expect(holdBackArgs(OLD, 'tools')).toEqual([
      '--override-input',
      'tools',
      'git+file:///src/tools?ref=main&rev=t1'
    ])
    expect(holdBackArgs(OLD, 'home-manager')).toEqual([
      '--override-input',
      'home-manager',
      'github:o/home-manager/hm1',
      '--override-input',
      'home-manager/nixpkgs',
      'github:o/nixpkgs/hmnp1'
    ])
    expect(holdBackArgs(OLD, 'disko')).toBeUndefined()
  })

  test('a revision of a git input keeps its URL and ref, not the locked revision’s hash', () => {
    expect(revisionArgs(NEW, 'tools', 'mid')).toEqual([
      '--override-input',
      'tools',
      'git+file:///src/tools?ref=main&rev=mid'
    ])
    expect(revisionArgs(NEW, 'nixpkgs', 'mid')).toEqual([
      '--override-input',
      'nixpkgs',
      'github:o/nixpkgs/mid'
    ])
  })
})
