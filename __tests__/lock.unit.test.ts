import {
  LockedInput,
  compareLocks,
  compareUrl,
  lockDate,
  lockedInputs,
  rootInputNames
} from '../src/nix/lock'
import { TRAILER } from '../src/git/git'
import { commitMessage } from '../src/pipeline/publish'
import * as fs from 'fs'
import * as path from 'path'

/** A flake.lock of __tests__/fixtures/locks/, byte for byte. */
const readLock = (name: string): string =>
  fs.readFileSync(path.join(__dirname, 'fixtures', 'locks', name), 'utf8')

// flake.lock files as `nix flake lock` writes them (version 7): node keys and attributes sorted, `follows` as
// arrays of input names, a second nixpkgs under its own node key `nixpkgs_2`.
const OLD_LOCK = readLock('old.flake.lock')

// The same flake after `nix flake update` and an edit: flake-utils dropped, disko added (its nixpkgs follows
// home-manager's), home-manager and its nixpkgs untouched, everything else moved on.
const NEW_LOCK = readLock('new.flake.lock')

const github = (
  owner: string,
  repo: string,
  rev: string,
  narHash: string,
  lastModified: number
): LockedInput => ({
  type: 'github',
  owner,
  repo,
  rev,
  narHash,
  lastModified
})

const HOME_MANAGER = github(
  'nix-community',
  'home-manager',
  '154c5b014549d0d5e31385c3b7bc72a569d2ca12',
  'sha256-STCReiHjnrf6CI7PLDgsirKXWKdTq5XFjTTtC87D/o4=',
  1716457508
)
const HM_NIXPKGS = github(
  'NixOS',
  'nixpkgs',
  'a988309bcdfbcbee18205e9c71b78219af4950fe',
  'sha256-SQy52yNvOl1w8ifnvPTfsbkVtP0IQoh4XJIG6XotOIw=',
  1716330097
)

describe('lockedInputs', () => {
  test('walks nested inputs by path and skips follows', () => {
    const inputs = lockedInputs(OLD_LOCK)
    expect([...inputs.keys()].sort()).toEqual([
      'flake-utils',
      'flake-utils/systems',
      'home-manager',
      'home-manager/nixpkgs',
      'nixos-channel',
      'nixpkgs',
      'secrets',
      'sops-nix',
      'sops-nix/nixpkgs-stable'
    ])
    expect(inputs.get('home-manager')).toEqual(HOME_MANAGER)
    expect(inputs.get('home-manager/nixpkgs')).toEqual(HM_NIXPKGS)
    expect(inputs.get('sops-nix/nixpkgs-stable')).toEqual(
      github(
        'NixOS',
        'nixpkgs',
        '1b53f1024a7b3a7f17f4ff6807ec9dd0f43c854f',
        'sha256-4L+Ysjo6Zv/tprycWmfrqfrNMrg0vYIniDceRvtS/9E=',
        1716633019
      )
    )
    expect(inputs.get('nixos-channel')).toEqual({
      type: 'tarball',
      narHash: 'sha256-z5Q67ZLZzhQyg3tCuc+i0bkxwxdOQC//W9Lg+kjwe40=',
      url: 'https://releases.nixos.org/nixos/24.05/nixos-24.05.420.878abb208577/nixexprs.tar.xz'
    })
    expect(inputs.get('secrets')).toEqual({
      type: 'git',
      rev: 'f0a75f2cf0813d6ab21cdea3fe673a383ca02e57',
      narHash: 'sha256-wDmxHGLRtj02wgrQHx9GB26e/JrGH86eQaT8b2MHc5g=',
      lastModified: 1715000000,
      url: 'file:///srv/ops/secrets'
    })
  })

  test('an input whose nixpkgs follows a nested path has no entry of its own for it', () => {
    const inputs = lockedInputs(NEW_LOCK)
    expect([...inputs.keys()].sort()).toEqual([
      'disko',
      'home-manager',
      'home-manager/nixpkgs',
      'nixos-channel',
      'nixpkgs',
      'secrets',
      'sops-nix',
      'sops-nix/nixpkgs-stable'
    ])
  })

  test('a lock without inputs', () => {
    expect(lockedInputs('{"nodes":{"root":{}},"root":"root","version":7}').size).toBe(0)
  })

  test('a lock whose nodes point back at an ancestor ends', () => {
    const cyclic = JSON.stringify({
      nodes: {
        root: { inputs: { a: 'a' } },
        a: { inputs: { b: 'b' }, locked: { type: 'github', owner: 'o', repo: 'a', rev: '1' } },
        b: { inputs: { a: 'a' }, locked: { type: 'github', owner: 'o', repo: 'b', rev: '2' } }
      },
      root: 'root',
      version: 7
    })
    expect([...lockedInputs(cyclic).keys()]).toEqual(['a', 'a/b'])
  })

  test.each([
    ['not JSON', 'the old flake.lock', /^the old flake\.lock is not valid JSON: /],
    ['{"version": 7}', 'the new flake.lock', /^the new flake\.lock has no "nodes" and "root"/],
    ['[]', 'flake.lock', /^flake\.lock has no "nodes" and "root"/],
    ['null', 'flake.lock', /^flake\.lock has no "nodes" and "root"/]
  ])('rejects %s, naming %s', (text, label, message) => {
    expect(() => lockedInputs(text, label)).toThrow(message)
  })
})

describe('rootInputNames', () => {
  test.each([
    [OLD_LOCK, ['flake-utils', 'home-manager', 'nixos-channel', 'nixpkgs', 'secrets', 'sops-nix']],
    [NEW_LOCK, ['disko', 'home-manager', 'nixos-channel', 'nixpkgs', 'secrets', 'sops-nix']],
    ['{"nodes":{"root":{}},"root":"root","version":7}', []]
  ])('lists the top-level inputs', (text, names) => {
    expect(rootInputNames(text)).toEqual(names)
  })

  test('names the file it cannot read', () => {
    expect(() => rootInputNames('{', 'flake.lock')).toThrow(/^flake\.lock is not valid JSON/)
  })
})

describe('compareLocks', () => {
  test('every kind of change between two locks, sorted by input path', () => {
    const changes = compareLocks(OLD_LOCK, NEW_LOCK)
    expect(changes.map(c => c.input)).toEqual([
      'disko',
      'flake-utils',
      'flake-utils/systems',
      'nixos-channel',
      'nixpkgs',
      'secrets',
      'sops-nix',
      'sops-nix/nixpkgs-stable'
    ])
    const byInput = new Map(changes.map(c => [c.input, c]))
    expect(byInput.get('disko')).toEqual({
      input: 'disko',
      old: undefined,
      new: github(
        'nix-community',
        'disko',
        '20927c4aee9ae3797303941f8584cdcff32e8103',
        'sha256-fAUgu2tsj6Ktf23xaKzlN+RqHuo53/ncune/oOUStn0=',
        1717177033
      ),
      compareUrl: undefined
    })
    expect(byInput.get('flake-utils')).toMatchObject({
      old: { rev: 'ddbc4e272b36cab2e52d82c3ed5ea6b0b437b68f' },
      new: undefined,
      compareUrl: undefined
    })
    expect(byInput.get('nixpkgs')).toEqual({
      input: 'nixpkgs',
      old: github(
        'NixOS',
        'nixpkgs',
        'e637e908dbc0f08e0fae8c96fe7b8b373e217f78',
        'sha256-5/VC03zjzmNcaj2+I2hmeDnVHFXQStpcGl0feP1gNgg=',
        1716736760
      ),
      new: github(
        'NixOS',
        'nixpkgs',
        'bb36f33536f3a2ff97a5b80e796d41d9b4c02309',
        'sha256-cNmXLTfqQnjlsD4V3DMITbmiUZfJb+tCPEJOh1WHxhA=',
        1717113600
      ),
      compareUrl:
        'https://github.com/NixOS/nixpkgs/compare/e637e908dbc0f08e0fae8c96fe7b8b373e217f78...bb36f33536f3a2ff97a5b80e796d41d9b4c02309'
    })
    expect(byInput.get('sops-nix')?.compareUrl).toBe(
      'https://github.com/Mic92/sops-nix/compare/79b33725b212ed855aa9a566b0a66727f8328a6c...0d5b58c0b0e09149d80d198e8dae33865d6ca065'
    )
    expect(byInput.get('sops-nix/nixpkgs-stable')?.compareUrl).toBe(
      'https://github.com/NixOS/nixpkgs/compare/1b53f1024a7b3a7f17f4ff6807ec9dd0f43c854f...6eac723b2158df8cca2a7b233884113e4faaaaba'
    )
    // A channel tarball has no revision: its content hash is what changed, and there is nothing to link to.
    expect(byInput.get('nixos-channel')).toMatchObject({
      old: { type: 'tarball', narHash: 'sha256-z5Q67ZLZzhQyg3tCuc+i0bkxwxdOQC//W9Lg+kjwe40=' },
      new: { type: 'tarball', narHash: 'sha256-WzMIqnRjmymeZ/9aZ5JcZvLaaolzoWhY+XMm1O6oSyc=' },
      compareUrl: undefined
    })
    expect(byInput.get('secrets')).toMatchObject({
      old: { rev: 'f0a75f2cf0813d6ab21cdea3fe673a383ca02e57' },
      new: { rev: 'fe29f14ff4fafc6fe80f131c3c05578b9d276743' },
      compareUrl: undefined
    })
  })

  test('no changes between a lock and itself', () => {
    expect(compareLocks(OLD_LOCK, OLD_LOCK)).toEqual([])
  })

  test('the same revision with a different lastModified is no change', () => {
    const touched = OLD_LOCK.replace('"lastModified": 1716736760', '"lastModified": 1716736761')
    expect(touched).not.toBe(OLD_LOCK)
    expect(compareLocks(OLD_LOCK, touched)).toEqual([])
  })

  test.each([
    ['changed', 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 1],
    ['unchanged', 'sha256-z5Q67ZLZzhQyg3tCuc+i0bkxwxdOQC//W9Lg+kjwe40=', 0]
  ])('an input with only a narHash: %s', (_label, narHash, count) => {
    const edited = OLD_LOCK.replace('sha256-z5Q67ZLZzhQyg3tCuc+i0bkxwxdOQC//W9Lg+kjwe40=', narHash)
    const changes = compareLocks(OLD_LOCK, edited)
    expect(changes.map(c => c.input)).toEqual(count ? ['nixos-channel'] : [])
  })

  test('an unreadable new lock is named as such', () => {
    expect(() => compareLocks(OLD_LOCK, '<<<<<<< HEAD')).toThrow(/^the new flake\.lock is not valid JSON/)
  })
})

describe('compareUrl', () => {
  const A = '1b53f1024a7b3a7f17f4ff6807ec9dd0f43c854f'
  const B = '6eac723b2158df8cca2a7b233884113e4faaaaba'
  const pair = (fields: Omit<LockedInput, 'rev'>): [LockedInput, LockedInput] => [
    { ...fields, rev: A },
    { ...fields, rev: B }
  ]

  test.each<[string, Omit<LockedInput, 'rev'>, string | undefined]>([
    [
      'github',
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs' },
      `https://github.com/NixOS/nixpkgs/compare/${A}...${B}`
    ],
    [
      'github enterprise host',
      { type: 'github', owner: 'infra', repo: 'fleet', host: 'github.example.com' },
      `https://github.example.com/infra/fleet/compare/${A}...${B}`
    ],
    [
      'gitlab',
      { type: 'gitlab', owner: 'veloren', repo: 'veloren' },
      `https://gitlab.com/veloren/veloren/-/compare/${A}...${B}`
    ],
    [
      'gitlab on a custom host',
      { type: 'gitlab', owner: 'mesa', repo: 'mesa', host: 'gitlab.freedesktop.org' },
      `https://gitlab.freedesktop.org/mesa/mesa/-/compare/${A}...${B}`
    ],
    [
      'sourcehut (no compare view: the log from the new revision)',
      { type: 'sourcehut', owner: '~sircmpwn', repo: 'hare' },
      `https://git.sr.ht/~sircmpwn/hare/log/${B}`
    ],
    [
      'git+https on codeberg.org',
      { type: 'git', url: 'https://codeberg.org/forgejo/forgejo' },
      `https://codeberg.org/forgejo/forgejo/compare/${A}...${B}`
    ],
    [
      'git+https on codeberg.org with .git',
      { type: 'git', url: 'https://codeberg.org/lix-project/lix.git' },
      `https://codeberg.org/lix-project/lix/compare/${A}...${B}`
    ],
    [
      'git+https on a Forgejo host',
      { type: 'git', url: 'https://forgejo.example.com/infra/nixos-config.git' },
      `https://forgejo.example.com/infra/nixos-config/compare/${A}...${B}`
    ],
    [
      'git+https on a Gitea host',
      { type: 'git', url: 'https://gitea.example.com/ops/flake' },
      `https://gitea.example.com/ops/flake/compare/${A}...${B}`
    ],
    [
      'git+https on github.com',
      { type: 'git', url: 'https://github.com/NixOS/nixpkgs.git' },
      `https://github.com/NixOS/nixpkgs/compare/${A}...${B}`
    ],
    [
      'git+https on gitlab.com with a subgroup',
      { type: 'git', url: 'https://gitlab.com/group/subgroup/repo.git' },
      `https://gitlab.com/group/subgroup/repo/-/compare/${A}...${B}`
    ],
    [
      'git+https on a self-hosted GitLab',
      { type: 'git', url: 'https://gitlab.gnome.org/GNOME/gtk.git' },
      `https://gitlab.gnome.org/GNOME/gtk/-/compare/${A}...${B}`
    ],
    [
      'git+https on git.sr.ht',
      { type: 'git', url: 'https://git.sr.ht/~sircmpwn/hare' },
      `https://git.sr.ht/~sircmpwn/hare/log/${B}`
    ],
    [
      'git+ssh on github.com',
      { type: 'git', url: 'ssh://git@github.com/owner/private-config.git' },
      `https://github.com/owner/private-config/compare/${A}...${B}`
    ],
    [
      'a url that still carries git+',
      { type: 'git', url: 'git+https://codeberg.org/forgejo/forgejo' },
      `https://codeberg.org/forgejo/forgejo/compare/${A}...${B}`
    ],
    ['git+file', { type: 'git', url: 'file:///srv/ops/secrets' }, undefined],
    ['git+https on an unknown host', { type: 'git', url: 'https://git.example.org/ops/flake' }, undefined],
    ['git+https without owner and repo', { type: 'git', url: 'https://codeberg.org/forgejo' }, undefined],
    ['git with an unparsable url', { type: 'git', url: 'not a url' }, undefined],
    [
      'a FlakeHub tarball',
      {
        type: 'tarball',
        url: 'https://api.flakehub.com/f/pinned/NixOS/nixpkgs/0.2405.632482/018fa10d-94b7-74ee-9e70-ef39e6a1b1e1/source.tar.gz'
      },
      undefined
    ],
    ['github without owner', { type: 'github', repo: 'nixpkgs' }, undefined],
    ['a path input', { type: 'path' }, undefined],
    ['a mercurial input', { type: 'hg', url: 'https://hg.example.org/repo' }, undefined]
  ])('%s', (_label, fields, expected) => {
    const [o, n] = pair(fields)
    expect(compareUrl(o, n)).toBe(expected)
  })

  test.each<[string, LockedInput, LockedInput]>([
    [
      'no old revision',
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs' },
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev: B }
    ],
    [
      'no new revision',
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev: A },
      { type: 'github', owner: 'NixOS', repo: 'nixpkgs' }
    ],
    [
      'a channel tarball (content hash only)',
      {
        type: 'tarball',
        url: 'https://releases.nixos.org/nixos/24.05/nixos-24.05.420.878abb208577/nixexprs.tar.xz'
      },
      {
        type: 'tarball',
        url: 'https://releases.nixos.org/nixos/24.05/nixos-24.05.702.73f6fd54aa19/nixexprs.tar.xz'
      }
    ]
  ])('nothing to link for %s', (_label, o, n) => {
    expect(compareUrl(o, n)).toBeUndefined()
  })
})

describe('lockDate', () => {
  test.each<[number | undefined, string | undefined]>([
    [undefined, undefined],
    [0, '1970-01-01'],
    [1716736760, '2024-05-26'],
    [1717113600, '2024-05-31'],
    [1717199999, '2024-05-31'],
    [1717200000, '2024-06-01']
  ])('%s → %s', (lastModified, date) => {
    expect(lockDate(lastModified)).toBe(date)
  })
})

describe('commitMessage', () => {
  test('changed, added and removed inputs, each marked', () => {
    const changes = compareLocks(OLD_LOCK, NEW_LOCK).filter(c =>
      ['disko', 'flake-utils', 'nixpkgs'].includes(c.input)
    )
    expect(commitMessage('chore: update flake inputs', changes)).toBe(
      [
        'chore: update flake inputs',
        '',
        'Updated inputs:',
        '- disko (new): 20927c4aee9a (2024-05-31)',
        '- flake-utils (removed): was ddbc4e272b36 (2024-03-11)',
        '- nixpkgs: e637e908dbc0 → bb36f33536f3 (2024-05-26 → 2024-05-31)',
        '',
        TRAILER,
        ''
      ].join('\n')
    )
  })

  test('a created lock file says so', () => {
    const changes = compareLocks('{"nodes":{"root":{}},"root":"root","version":7}', NEW_LOCK)
    const message = commitMessage('chore: lock flake inputs', changes, { created: true })
    expect(message).toContain('\n\nLock file created; locked inputs:\n- disko (new): 20927c4aee9a')
    expect(message).toContain('- nixpkgs (new): bb36f33536f3 (2024-05-31)')
    expect(message).not.toContain('→')
  })
})
