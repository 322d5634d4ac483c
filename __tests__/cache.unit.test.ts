import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import {
  checkPublicKey,
  copiedPaths,
  isBinaryCacheUrl,
  parseSigningKey,
  storeCredentials,
  substitutedPaths,
  withParam
} from '../src/nix/cache'
import { redactUrl, scrub, urlSecrets } from '../src/redact'
import { PushReport } from '../src/pipeline/push'
import { renderReport } from '../src/report/markdown'
import { FleetReport } from '../src/report/model'
import { InputError, getSettings } from '../src/settings'
import { MemoryLog } from '../src/log/log'

// Made by `nix-store --generate-binary-cache-key test-1 sec pub` (Nix 2.8).
const SECRET =
  'test-1:XgFa3nHsOuKy+InVPluuJPpZwybrdu2ZSFDSyF873Q6NakEkcc1Vw4D5Yw6INtxAfpHsvUw65w9FRS2wrtBHVA=='
const PUBLIC = 'test-1:jWpBJHHNVcOA+WMOiDbcQH6R7L1MOucPRUUtsK7QR1Q='

describe('parseSigningKey', () => {
  test('derives the public key that Nix wrote next to the secret one', () => {
    expect(parseSigningKey(SECRET)).toEqual({ name: 'test-1', secret: SECRET, publicKey: PUBLIC })
    // As read from a file or a secret with a trailing newline.
    expect(parseSigningKey(`${SECRET}\n`).publicKey).toBe(PUBLIC)
  })

  test.each([
    ['empty', '', 'is not a Nix secret signing key'],
    ['no name', SECRET.slice('test-1:'.length), 'is not a Nix secret signing key'],
    ['not base64', 'test-1:@@@@', 'is not a Nix secret signing key'],
    ['the public key', PUBLIC, 'is this the public key?'],
    ['cut short', SECRET.slice(0, 60), 'is not a Nix secret signing key'],
    [
      'an OpenSSH key',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END',
      'is not a Nix secret signing key'
    ]
  ])('%s is refused', (_label, key, message) => {
    expect(() => parseSigningKey(key)).toThrow(message)
  })

  test('a key whose halves do not belong together is refused', () => {
    const bytes = Buffer.from(SECRET.split(':')[1], 'base64')
    bytes[40] ^= 0x80
    expect(() => parseSigningKey(`test-1:${bytes.toString('base64')}`)).toThrow(
      "Input 'push-signing-key' is damaged"
    )
  })

  test('checkPublicKey takes public keys only', () => {
    expect(checkPublicKey(` ${PUBLIC}\n`)).toBe(PUBLIC)
    expect(() => checkPublicKey(SECRET)).toThrow("Input 'push-public-key' is not a Nix public key")
    expect(() => checkPublicKey('cache.nixos.org-1')).toThrow('is not a Nix public key')
  })
})

describe('store URLs', () => {
  test.each([
    ['file:///var/cache/nix', true],
    ['s3://fleet-cache?region=eu-central-1&endpoint=minio.example:9000', true],
    ['https://cache.example.org', true],
    ['ssh-ng://nix@cache.example.org', false],
    ['ssh://nix@cache.example.org', false],
    ['/srv/nix-store', false],
    ['daemon', false]
  ])('%s signs while uploading: %s', (url, binary) => {
    expect(isBinaryCacheUrl(url)).toBe(binary)
  })

  test.each([
    ['file:///var/cache/nix', []],
    ['ssh-ng://deploy@cache.example.org', []],
    ['ssh-ng://deploy:hunter22@cache.example.org', ['hunter22', 'deploy:hunter22']],
    [
      'https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@cache.example.org',
      ['ghp_abcdefghijklmnopqrstuvwxyz0123456789']
    ],
    ['https://ci@cache.example.org/x', ['ci']],
    ['s3://bucket?region=x&session-token=abc123&profile=ci', ['abc123']],
    ['s3://bucket?region=x&secret-key=/run/key', ['/run/key']]
  ])('the credentials of %s', (url, secrets) => {
    expect(urlSecrets(url).sort()).toEqual([...secrets].sort())
  })

  test('redactUrl and scrub replace every credential, the whole user:password first', () => {
    const url = 'https://ci:s3cr3t-pw@cache.example.org/fleet?auth-token=t0k3n'
    expect(redactUrl(url)).toBe('https://***@cache.example.org/fleet?auth-token=***')
    expect(scrub(`error: cannot upload to '${url}': s3cr3t-pw t0k3n`, url)).toBe(
      "error: cannot upload to 'https://***@cache.example.org/fleet?auth-token=***': *** ***"
    )
  })

  test('withParam adds to the query the URL has', () => {
    expect(withParam('file:///c', 'secret-key', '/k')).toBe('file:///c?secret-key=/k')
    expect(withParam('s3://b?region=x', 'secret-key', '/k')).toBe('s3://b?region=x&secret-key=/k')
  })
})

describe("nix copy's output", () => {
  // Nix 2.8 and 2.26 print the same lines (measured); -v adds the size lines, which name no store URL.
  const copy = [
    'copying 2 paths...',
    "copying path '/nix/store/2mb8cm933xmj0qg2mc1rw3qafccb1p4n-a-1' to 'file:///tmp/cache'...",
    "copying path '/nix/store/2mb8cm933xmj0qg2mc1rw3qafccb1p4n-a-1' (288 bytes, compressed 43.1% in 0 ms) to binary cache",
    "copying path '/nix/store/k36fihfjqpbkgbybd6s0w3gd6prnyx7w-b-1' to 'ssh-ng://deploy@cache'...",
    ''
  ].join('\n')

  test('copiedPaths lists each path sent once', () => {
    expect(copiedPaths(copy)).toEqual([
      '/nix/store/2mb8cm933xmj0qg2mc1rw3qafccb1p4n-a-1',
      '/nix/store/k36fihfjqpbkgbybd6s0w3gd6prnyx7w-b-1'
    ])
    expect(copiedPaths('copying 0 paths...\n')).toEqual([])
  })

  test('substitutedPaths lists what a build fetched, not what it sent', () => {
    const build = [
      "copying path '/nix/store/2mb8cm933xmj0qg2mc1rw3qafccb1p4n-a-1' from 'file:///tmp/cache'...",
      "building '/nix/store/yp6sj7k6f0m87bvfaccl1jxl3012w2ff-c-1.drv'..."
    ].join('\n')
    expect(substitutedPaths(build)).toEqual(['/nix/store/2mb8cm933xmj0qg2mc1rw3qafccb1p4n-a-1'])
    expect(substitutedPaths(copy)).toEqual([])
  })
})

describe('the push inputs', () => {
  const savedEnv = process.env
  let workspace: string

  beforeAll(() => {
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-push-settings-'))
    fs.writeFileSync(path.join(workspace, 'flake.nix'), '{ outputs = _: { }; }\n')
  })
  afterAll(() => fs.rmSync(workspace, { recursive: true, force: true }))
  beforeEach(() => {
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(savedEnv)) if (!/^(INPUT_|GITHUB_)/.test(k)) env[k] = v
    process.env = { ...env, GITHUB_WORKSPACE: workspace }
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
  })
  afterEach(() => {
    jest.restoreAllMocks()
    process.env = savedEnv
  })

  function push(inputs: Record<string, string>): ReturnType<typeof getSettings>['push'] {
    for (const [name, value] of Object.entries(inputs)) process.env[`INPUT_${name.toUpperCase()}`] = value
    return getSettings({ env: process.env, log: new MemoryLog(), now: new Date('2026-01-01T00:00:00Z') }).push
  }

  function error(inputs: Record<string, string>): string {
    try {
      push(inputs)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error(`no error for ${JSON.stringify(inputs)}`)
  }

  test('none by default', () => {
    expect(push({})).toBeUndefined()
  })

  test('push-to with a signing key: the builds trust the derived public key', () => {
    expect(push({ 'push-to': 'file:///var/cache/fleet', 'push-signing-key': SECRET })).toEqual({
      url: 'file:///var/cache/fleet',
      key: { name: 'test-1', secret: SECRET, publicKey: PUBLIC },
      publicKey: PUBLIC,
      required: false
    })
  })

  test('push-public-key may add older keys, but must hold the signing key', () => {
    const old = 'test-0:rXnkKJgW4FhPOTgq7pp9OvSqtJXuVnPKbtQlnK1Cxb8='
    expect(
      push({ 'push-to': '/srv/cache', 'push-signing-key': SECRET, 'push-public-key': `${old} ${PUBLIC}` })
        ?.publicKey
    ).toBe(`${old} ${PUBLIC}`)
    expect(error({ 'push-to': '/srv/cache', 'push-signing-key': SECRET, 'push-public-key': old })).toContain(
      `does not hold the public key of 'push-signing-key' (${PUBLIC})`
    )
  })

  test.each([
    [{ 'push-to': 'file:///c' }, "Input 'push-signing-key' is required with 'push-to'"],
    [{ 'push-signing-key': SECRET }, "need 'push-to'"],
    [{ 'push-required': 'true' }, "need 'push-to'"],
    [
      { 'push-to': 'cache.example.org', 'push-signing-key': SECRET },
      "Input 'push-to' must be a Nix store URL"
    ],
    [{ 'push-to': 'file:///c d', 'push-signing-key': SECRET }, "Input 'push-to' must be a Nix store URL"],
    [{ 'push-to': 'file:///c?secret-key=/k', 'push-signing-key': SECRET }, 'must not carry secret-key='],
    [
      { 'push-to': 'file:///c', 'push-signing-key': SECRET, 'push-required': 'yes' },
      "Input 'push-required' must be true or false"
    ]
  ])('%j is refused: %s', (inputs, message) => {
    expect(error(inputs)).toContain(message)
  })

  test('a URL that is refused is quoted without its credentials', () => {
    const message = error({ 'push-to': 'cache://ci:pw-123@x y', 'push-signing-key': SECRET })
    expect(message).not.toContain('pw-123')
  })
})

describe('storeCredentials', () => {
  const env = { AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 'sec', AWS_PROFILE: 'ci', HOME: '/root' }

  test('an s3:// store gets the AWS variables, and nothing else', () => {
    expect(storeCredentials('s3://bucket?region=x', env)).toEqual({
      AWS_ACCESS_KEY_ID: 'AKIA1',
      AWS_SECRET_ACCESS_KEY: 'sec',
      AWS_PROFILE: 'ci'
    })
  })

  test('other stores get none', () => {
    for (const url of ['file:///c', 'ssh-ng://h', 'https://cache.example.org'])
      expect(storeCredentials(url, env)).toEqual({})
  })
})

describe('the push in the report', () => {
  const report = (push: PushReport): FleetReport => ({
    flake: '/fleet',
    nixVersion: 'nix (Nix) 2.8.0',
    changed: true,
    built: true,
    dryRun: false,
    hosts: [],
    excluded: [],
    lockChanges: [],
    timings: [],
    push
  })
  const pushed: PushReport = {
    to: 'https://***@cache.example.org',
    status: 'pushed',
    hosts: ['mail', 'web'],
    paths: 12,
    bytes: 3 * 1024 * 1024,
    closurePaths: 40
  }

  test('the job summary has the counts; the pull request body, which must not change between runs, has not', () => {
    expect(renderReport(report(pushed))).toContain(
      'The new systems of 2 hosts are in the binary cache `https://***@cache.example.org` (12 new paths, 3.0MiB, of 40 in their closures).'
    )
    expect(renderReport(report(pushed), { timings: false })).toContain(
      'The new systems of 2 hosts are in the binary cache `https://***@cache.example.org`.'
    )
  })

  test('a failed push is shown with its reason, in a code block', () => {
    const md = renderReport(
      report({ ...pushed, status: 'failed', error: 'nix copy failed: `Read-only file system`' })
    )
    expect(md).toContain(
      '⚠️ **Pushing the new systems to the binary cache `https://***@cache.example.org` failed**'
    )
    expect(md).toContain('```text\nnix copy failed: `Read-only file system`\n```')
  })
})
