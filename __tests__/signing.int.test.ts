import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { InputError } from '../src/errors'
import { checkSigningKey } from '../src/signing'
import { runAction } from './fixtures/action'
import { Fleet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

describe('the signing key is checked with ssh-keygen before anything is built', () => {
  let dir: string
  let plain: string
  let plainPub: string
  let protectedKey: string
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-keys-'))
    const make = (name: string, passphrase: string): string => {
      const file = path.join(dir, name)
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'bot', '-f', file])
      return file
    }
    const p = make('plain', '')
    plain = fs.readFileSync(p, 'utf8')
    plainPub = fs.readFileSync(`${p}.pub`, 'utf8').trim()
    protectedKey = fs.readFileSync(make('protected', 'correct horse'), 'utf8')
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  async function problem(key: string): Promise<string> {
    try {
      await checkSigningKey(key, dir)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error('the key was accepted')
  }

  test.each<[string, (k: string) => string]>([
    ['as ssh-keygen wrote it', k => k],
    ['with CRLF line endings (a web form)', k => k.replace(/\n/g, '\r\n')],
    ['with its lines joined by spaces', k => k.trim().split('\n').join(' ')],
    ['with literal \\n between its lines', k => k.trim().split('\n').join('\\n')],
    ['without the final newline, indented', k => `  ${k.trim()}  `]
  ])('a usable key %s is accepted and normalised', async (_label, change) => {
    const checked = await checkSigningKey(change(plain), dir)
    expect(checked.publicKey).toBe(plainPub)
    expect(checked.key).toBe(plain.trim())
    // The scratch copy is gone.
    expect(fs.readdirSync(dir).filter(n => n.startsWith('nixos-fleet-update-'))).toEqual([])
  })

  test('a passphrase-protected key is named as such', async () => {
    expect(await problem(protectedKey)).toBe(
      "Input 'signing-key' is protected by a passphrase, which nobody can type in CI: store a copy without one (ssh-keygen -p -N '' -f KEY)"
    )
  })

  test('a damaged key is named as such, without any of its text', async () => {
    const lines = plain.trim().split('\n')
    lines[2] = lines[2].replace(/[A-Za-z]/g, c => (c === 'A' ? 'B' : 'A'))
    const message = await problem(lines.join('\n'))
    expect(message).toMatch(/^Input 'signing-key' cannot be read by ssh-keygen: the key is damaged/)
    for (const l of lines.slice(1, -1)) expect(message).not.toContain(l)
    expect(message).not.toContain(dir)
  })

  test('a key with lines missing is named as damaged', async () => {
    const lines = plain.trim().split('\n')
    expect(await problem([lines[0], lines[1], lines[lines.length - 1]].join('\n'))).toMatch(/damaged/)
  })

  test('a public key pasted by mistake is named as such', async () => {
    expect(await problem(plainPub)).toMatch(/^Input 'signing-key' holds a public key/)
  })

  describe('in the action', () => {
    let fleet: Fleet
    beforeAll(() => {
      const { before } = examplePackageSets()
      fleet = createFleet(uniquePackageSet(before, `signing-${process.pid}-${Date.now()}`), [
        { name: 'web', packages: ['curl'] }
      ])
    })
    afterAll(() => fleet.remove())

    test('a key that cannot sign fails the step before any evaluation or build', async () => {
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'signing-key': protectedKey })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain("::error::Input 'signing-key' is protected by a passphrase")
      expect(r.log).not.toContain('Discover hosts')
      expect(r.log).not.toContain('Build before the update')
    })
  })
})
