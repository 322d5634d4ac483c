import * as crypto from 'crypto'

/** A Nix binary-cache signing key (`name:base64` of libsodium's 64-byte Ed25519 secret key) and its public half. */
export interface SigningKey {
  name: string
  /** The whole secret key as Nix reads it from a file. */
  secret: string
  /** `name:base64` of the 32-byte public key, as `trusted-public-keys` takes it. */
  publicKey: string
}

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * Reads a secret key made by `nix-store --generate-binary-cache-key` or `nix key generate-secret`, and derives
 * its public key. The secret key holds the public key in its second half: it is checked against the one the
 * seed gives, so a truncated or edited key is refused before anything is built.
 */
export function parseSigningKey(text: string, inputName = 'push-signing-key'): SigningKey {
  const value = text.trim()
  const m = /^([^:\s]+):([A-Za-z0-9+/]+={0,2})$/.exec(value)
  const expected = `a Nix secret signing key, NAME:BASE64 (from nix-store --generate-binary-cache-key)`
  if (!m) throw new Error(`Input '${inputName}' is not ${expected}`)
  const bytes = Buffer.from(m[2], 'base64')
  if (bytes.length !== 64) {
    throw new Error(
      `Input '${inputName}' is not ${expected}: its key is ${bytes.length} bytes, an Ed25519 secret key is 64` +
        (bytes.length === 32 ? ' (is this the public key?)' : '')
    )
  }
  const seed = bytes.subarray(0, 32)
  const stated = bytes.subarray(32)
  const derived = crypto
    .createPublicKey(
      crypto.createPrivateKey({
        key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8'
      })
    )
    .export({ format: 'der', type: 'spki' })
    .subarray(-32)
  if (!derived.equals(stated)) {
    throw new Error(`Input '${inputName}' is damaged: its public half does not belong to its secret half`)
  }
  return { name: m[1], secret: value, publicKey: `${m[1]}:${stated.toString('base64')}` }
}

/** Checks a public key (`name:base64` of 32 bytes), as `trusted-public-keys` takes it. */
export function checkPublicKey(text: string, inputName = 'push-public-key'): string {
  const value = text.trim()
  const m = /^([^:\s]+):([A-Za-z0-9+/]+={0,2})$/.exec(value)
  if (!m || Buffer.from(m[2], 'base64').length !== 32) {
    throw new Error(
      `Input '${inputName}' is not a Nix public key, NAME:BASE64 of 32 bytes (e.g. cache.example.org-1:…=)`
    )
  }
  return value
}

/**
 * Stores that take a signing key in their URL (`?secret-key=`) and sign while uploading: Nix's binary caches.
 * Other stores (ssh://, ssh-ng://, a local or daemon store) get paths that are signed in the local store first.
 */
export function isBinaryCacheUrl(url: string): boolean {
  return /^(file|https?|s3):\/\//i.test(url)
}

/** Adds a query parameter to a store URL, keeping the ones it has. */
export function withParam(url: string, name: string, value: string): string {
  const hash = url.indexOf('#')
  const base = hash >= 0 ? url.slice(0, hash) : url
  return `${base}${base.includes('?') ? '&' : '?'}${name}=${value}${hash >= 0 ? url.slice(hash) : ''}`
}

/**
 * The AWS SDK's variables (keys, session token, profile, region) for the Nix processes that open an s3:// store
 * to push: no other child process gets them, since a build could read them (see src/exec.ts).
 */
export function storeCredentials(url: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  if (!/^s3:\/\//i.test(url)) return out
  for (const [name, value] of Object.entries(env))
    if (name.startsWith('AWS_') && value !== undefined) out[name] = value
  return out
}

/** The store paths that a `nix copy` reported sending (`copying path '…' to '…'`; Nix 2.8 to 2.2x, Lix). */
export function copiedPaths(stderr: string): string[] {
  const out = new Set<string>()
  for (const m of stderr.matchAll(/^copying path '(\/[^']+)' to '/gm)) out.add(m[1])
  return [...out]
}

/** The store paths that were fetched from a substituter during a build (`copying path '…' from '…'`). */
export function substitutedPaths(stderr: string): string[] {
  const out = new Set<string>()
  for (const m of stderr.matchAll(/^copying path '(\/[^']+)' from '/gm)) out.add(m[1])
  return [...out]
}
