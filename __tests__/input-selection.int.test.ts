import { spawnSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { InputError } from '../src/errors'
import { Nix } from '../src/nix/nix'
import { updateLock } from '../src/pipeline/update'
import { git } from '../testkit/fleet'

/** A flake with three `git+file` inputs (a, b, c), locked and committed; `bump` commits a new version of one. */
function threeInputs(): {
  dir: string
  lock: () => string
  bump: (name: string) => void
  remove: () => void
} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-inputs-'))
  const names = ['a', 'b', 'c']
  for (const name of names) {
    const repo = path.join(root, name)
    fs.mkdirSync(repo)
    fs.writeFileSync(path.join(repo, 'README'), `${name} 1\n`)
    git(repo, ['init', '-q', '-b', 'main'])
    git(repo, ['add', '-A'])
    git(repo, ['commit', '-qm', `${name} 1`])
  }
  const dir = path.join(root, 'flake')
  fs.mkdirSync(dir)
  const inputs = names.map(
    n => `  inputs.${n} = { url = "git+file://${path.join(root, n)}"; flake = false; };`
  )
  fs.writeFileSync(
    path.join(dir, 'flake.nix'),
    `{\n${inputs.join('\n')}\n  outputs = { self, ... }: { };\n}\n`
  )
  git(dir, ['init', '-q', '-b', 'main'])
  git(dir, ['add', '-A'])
  const nix = (args: string[]): void => {
    const r = spawnSync('nix', args, { cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`nix ${args.join(' ')}: ${r.stderr}`)
  }
  nix(['flake', 'lock'])
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-qm', 'flake'])
  let version = 1
  return {
    dir,
    lock: () => fs.readFileSync(path.join(dir, 'flake.lock'), 'utf8'),
    bump: (name: string) => {
      version += 1
      fs.writeFileSync(path.join(root, name, 'README'), `${name} ${version}\n`)
      git(path.join(root, name), ['commit', '-qam', `${name} ${version}`])
    },
    remove: () => fs.rmSync(root, { recursive: true, force: true })
  }
}

describe("update-inputs with '!' entries, with the Nix in use", () => {
  let nix: Nix
  let flake: ReturnType<typeof threeInputs>
  let committed: string

  beforeAll(async () => {
    nix = await Nix.create()
    flake = threeInputs()
    committed = flake.lock()
    for (const name of ['a', 'b', 'c']) flake.bump(name)
  })
  afterAll(() => flake.remove())
  afterEach(() => fs.writeFileSync(path.join(flake.dir, 'flake.lock'), committed))

  test('!b updates every other input and keeps b as locked', async () => {
    const r = await updateLock(nix, flake.dir, ['!b'], committed)
    expect(r.updatedInputs).toEqual(['a', 'c'])
    const rev = (lock: string, n: string): string =>
      (JSON.parse(lock) as { nodes: Record<string, { locked: { rev: string } }> }).nodes[n].locked.rev
    expect(rev(r.newLock, 'b')).toBe(rev(committed, 'b'))
    expect(rev(r.newLock, 'a')).not.toBe(rev(committed, 'a'))
  })

  test('several exclusions', async () => {
    const r = await updateLock(nix, flake.dir, ['!a', '!c'], committed)
    expect(r.updatedInputs).toEqual(['b'])
  })

  test('names alone still update just those', async () => {
    const r = await updateLock(nix, flake.dir, ['c'], committed)
    expect(r.updatedInputs).toEqual(['c'])
  })

  test('an unknown excluded name is an error naming it, and the lock file is untouched', async () => {
    await expect(updateLock(nix, flake.dir, ['!nixpkgs'], committed)).rejects.toThrow(
      /Input 'update-inputs' names "nixpkgs", not an input of .*flake\.lock \(it has: a, b, c\)/
    )
    expect(flake.lock()).toBe(committed)
  })

  test('leaving out every input is an error', async () => {
    const e = updateLock(nix, flake.dir, ['!a', '!b', '!c'], committed)
    await expect(e).rejects.toBeInstanceOf(InputError)
    await expect(e).rejects.toThrow(/leaves out every input/)
    expect(flake.lock()).toBe(committed)
  })
})
