import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { InputError } from '../src/errors'
import { Git } from '../src/git/git'
import { isOpenPgpKey, openPgpHome } from '../src/openpgp'
import { git } from '../testkit/fleet'

/** A key made with gpg in a keyring of the test's own; exported armored, as a user puts it in a secret. */
function makeKey(
  dir: string,
  name: string,
  passphrase: string,
  spec = 'ed25519'
): { armored: string; fpr: string } {
  const home = path.join(dir, `${name}-home`)
  fs.mkdirSync(home, { mode: 0o700 })
  const gpg = (args: string[], input?: string): string =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe']
    })
  gpg(
    ['--passphrase-fd', '0', '--quick-gen-key', `${name} <${name}@example.org>`, spec, 'sign', 'never'],
    passphrase
  )
  const fpr = gpg(['--list-secret-keys', '--with-colons'])
    .split('\n')
    .find(l => l.startsWith('fpr:'))
    ?.split(':')[9] as string
  const armored = gpg(['--passphrase-fd', '0', '--armor', '--export-secret-keys', fpr], passphrase)
  execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'])
  return { armored, fpr }
}

describe('OpenPGP signing keys, with the gpg in use', () => {
  let dir: string
  let plain: { armored: string; fpr: string }
  let protectedKey: { armored: string; fpr: string }
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-pgp-'))
    plain = makeKey(dir, 'plain', '')
    protectedKey = makeKey(dir, 'locked', 'correct horse battery')
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  async function problem(armored: string, passphrase: string): Promise<string> {
    try {
      await openPgpHome(armored, passphrase, path.join(dir, `check-${Math.random().toString(16).slice(2)}`))
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error('the key was accepted')
  }

  test('recognised by its armor', () => {
    expect(isOpenPgpKey(plain.armored)).toBe(true)
    expect(isOpenPgpKey('-----BEGIN OPENSSH PRIVATE KEY-----\n')).toBe(false)
  })

  test('a protected key with its passphrase signs a commit that verifies; the keyring is its own and goes away', async () => {
    const repo = path.join(dir, 'repo')
    fs.mkdirSync(repo)
    git(repo, ['init', '-q', '-b', 'main'])
    fs.writeFileSync(path.join(repo, 'flake.lock'), '{}\n')
    git(repo, ['add', '-A'])
    git(repo, ['commit', '-qm', 'base'])
    const parent = git(repo, ['rev-parse', 'HEAD']).trim()
    const home = path.join(dir, 'work', 'gnupg')
    const keyring = await openPgpHome(protectedKey.armored, 'correct horse battery', home)
    expect(keyring.signingKey).toBe(`${protectedKey.fpr}!`)
    const g = await Git.create(repo)
    const commit = await g.commitFiles({
      parent,
      files: [{ path: 'flake.lock', content: '{"nodes":{}}\n' }],
      message: 'update\n',
      identity: { name: 'locked', email: 'locked@example.org' },
      openPgp: keyring,
      indexFile: path.join(dir, 'index')
    })
    const verified = execFileSync('git', ['verify-commit', '--raw', commit], {
      cwd: repo,
      env: { ...process.env, GNUPGHOME: home },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    expect(verified).toBe('')
    const status = execFileSync('git', ['log', '-1', '--format=%G?|%GF', commit], {
      cwd: repo,
      env: { ...process.env, GNUPGHOME: home },
      encoding: 'utf8'
    }).trim()
    // A good signature by that key (U: good, the imported key carries no trust of its own in that keyring).
    expect(status).toMatch(new RegExp(`^[GU]\\|${protectedKey.fpr}$`))
    // The passphrase reached gpg only through standard input: it is in no file of the keyring.
    for (const f of fs.readdirSync(home, { recursive: true }) as string[]) {
      const file = path.join(home, f)
      if (fs.statSync(file).isFile()) expect(fs.readFileSync(file, 'utf8')).not.toContain('correct horse')
    }
    await keyring.close()
    expect(fs.existsSync(home)).toBe(false)
  })

  test('a key without passphrase needs none', async () => {
    const keyring = await openPgpHome(plain.armored, '', path.join(dir, 'plain-check'))
    expect(keyring.signingKey).toBe(`${plain.fpr}!`)
    await keyring.close()
  })

  test('a protected key without its passphrase, or with a wrong one, is named as such', async () => {
    expect(await problem(protectedKey.armored, '')).toBe(
      "Input 'signing-key' is an OpenPGP key protected by a passphrase: put it in 'signing-key-passphrase'"
    )
    expect(await problem(protectedKey.armored, 'wrong')).toMatch(
      /^Input 'signing-key': the key does not sign with the passphrase of 'signing-key-passphrase' \(is it the right one\?\)/
    )
  })

  test('a public key or a damaged block is refused naming the input', async () => {
    const pub = execFileSync(
      'gpg',
      ['--homedir', path.join(dir, 'plain-home'), '--armor', '--export', plain.fpr],
      {
        encoding: 'utf8'
      }
    )
    expect(await problem(pub, '')).toMatch(/^Input 'signing-key' holds no OpenPGP secret key that can sign/)
    const lines = plain.armored.trim().split('\n')
    const damaged = [...lines.slice(0, 3), ...lines.slice(8)].join('\n')
    expect(await problem(damaged, '')).toMatch(
      /^Input 'signing-key' (is not an OpenPGP key gpg can import|holds no OpenPGP secret key)/
    )
  })
})
