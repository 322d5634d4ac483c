import { childEnv, runProcess } from '../src/exec'

/** A node child that writes `parts` one at a time, pausing between them so each arrives as its own chunk. */
function writer(stream: 'stdout' | 'stderr', parts: Buffer[]): string[] {
  const hex = JSON.stringify(parts.map(p => p.toString('hex')))
  return [
    '-e',
    `const parts = ${hex}.map(h => Buffer.from(h, 'hex'));
     const next = i => { if (i < parts.length) process.${stream}.write(parts[i], () => setTimeout(() => next(i + 1), 150)) };
     next(0)`
  ]
}

describe('child output decoding', () => {
  // `ü` is two bytes in UTF-8; here its first byte ends the first 4096-byte chunk and its second starts the next.
  const text = `${'x'.repeat(4093)}"z\u00fcrich"]\n`
  const bytes = Buffer.from(text)
  const split = 4096

  test.each<'stdout' | 'stderr'>(['stdout', 'stderr'])(
    'a character split across chunks of %s is decoded whole',
    async stream => {
      expect(bytes.subarray(split - 1, split + 1).toString()).toBe('\u00fc')
      const r = await runProcess(
        process.execPath,
        writer(stream, [bytes.subarray(0, split), bytes.subarray(split)])
      )
      expect(r.exitCode).toBe(0)
      expect(r[stream]).toBe(text)
      expect(r[stream]).not.toContain('\ufffd')
    }
  )

  test('a four-byte character split over three chunks, and a truncated one at the end', async () => {
    const emoji = Buffer.from('a\u{1f600}b')
    const parts = [emoji.subarray(0, 2), emoji.subarray(2, 4), emoji.subarray(4), Buffer.from([0xc3])]
    const r = await runProcess(process.execPath, writer('stdout', parts))
    // The incomplete sequence at the very end is still reported, as one replacement character.
    expect(r.stdout).toBe('a\u{1f600}b\ufffd')
  })
})

describe('child process environment', () => {
  const secrets: Record<string, string> = {
    INPUT_TOKEN: 'input-token-value',
    'INPUT_SIGNING-KEY': 'signing-key-value',
    ACTIONS_RUNTIME_TOKEN: 'runtime-token-value',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'id-token-value',
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.invalid/',
    GITHUB_TOKEN: 'github-token-value',
    NIX_ACCESS_TOKEN: 'nix-token-value',
    GIT_DIR: '/elsewhere/.git',
    GIT_CONFIG_COUNT: '1'
  }
  const kept: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/runner',
    TMPDIR: '/tmp/x',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    NIX_CONFIG: 'sandbox = false',
    NIX_SSHOPTS: '-F /x',
    SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt',
    NIX_SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt',
    SSH_AUTH_SOCK: '/tmp/agent.sock',
    https_proxy: 'http://proxy:3128'
  }

  test('is built from the allow-list; the caller adds its own variables on top', () => {
    const env = childEnv(
      { ...secrets, ...kept, RUNNER_TEMP: '/r', GITHUB_REPOSITORY: 'o/r' },
      {
        GIT_TERMINAL_PROMPT: '0'
      }
    )
    expect(env).toEqual({ ...kept, GIT_TERMINAL_PROMPT: '0' })
  })

  test('a real child process sees none of the runner secrets', async () => {
    const saved = { ...process.env }
    Object.assign(process.env, secrets)
    try {
      const r = await runProcess(
        process.execPath,
        ['-e', 'process.stdout.write(JSON.stringify(process.env))'],
        {
          env: { GIT_TERMINAL_PROMPT: '0' }
        }
      )
      const seen = JSON.parse(r.stdout) as Record<string, string>
      for (const name of Object.keys(secrets)) expect(seen[name]).toBeUndefined()
      for (const value of Object.values(secrets)) expect(r.stdout).not.toContain(value)
      expect(seen.PATH).toBe(process.env.PATH)
      expect(seen.GIT_TERMINAL_PROMPT).toBe('0')
    } finally {
      for (const k of Object.keys(secrets)) if (!(k in saved)) delete process.env[k]
      Object.assign(process.env, saved)
    }
  })
})
