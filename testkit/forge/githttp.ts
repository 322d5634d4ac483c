import { spawn } from 'child_process'
import * as http from 'http'
import * as path from 'path'

export interface GitHttpOptions {
  // The bare repository on disk; its directory name is the REPO.git the URL names.
  bareRepo: string
  token: string
  // URL path after /OWNER/, e.g. `/r.git/info/refs`; already stripped of the owner by the router.
  pathInfo: string
  query: string
}

const BACKEND = process.env.GIT_HTTP_BACKEND ?? '/usr/lib/git-core/git-http-backend'

// Both forges accept the token as the Basic password under any user name, and also as the user name when
// the password is empty or `x-oauth-basic` (the form many older tools write into remote URLs).
export function basicUser(header: string | undefined, token: string): string | undefined {
  if (!header) return undefined
  const m = /^Basic\s+(\S+)$/i.exec(header)
  if (!m) return undefined
  const decoded = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon < 0 ? decoded : decoded.slice(0, colon)
  const pass = colon < 0 ? '' : decoded.slice(colon + 1)
  if (pass === token) return user || 'token'
  if (user === token && (pass === '' || pass === 'x-oauth-basic')) return 'token'
  return undefined
}

function parseCgiHeaders(block: string): { status: number; headers: [string, string][] } {
  let status = 200
  const headers: [string, string][] = []
  for (const line of block.split(/\r?\n/)) {
    if (!line) continue
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    if (name.toLowerCase() === 'status') {
      const code = parseInt(value, 10)
      if (Number.isFinite(code)) status = code
    } else {
      headers.push([name, value])
    }
  }
  return { status, headers }
}

function findHeaderEnd(buf: Buffer): { end: number; sep: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n')
  const lf = buf.indexOf('\n\n')
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf, sep: 4 }
  if (lf >= 0) return { end: lf, sep: 2 }
  return undefined
}

/** Serves one smart-HTTP request through git-http-backend (CGI), streaming both bodies. */
export function serveGit(req: http.IncomingMessage, res: http.ServerResponse, opts: GitHttpOptions): void {
  const user = basicUser(req.headers.authorization, opts.token)
  if (user === undefined) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"', 'Content-Type': 'text/plain' })
    res.end('Unauthorized\n')
    return
  }

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: path.dirname(opts.bareRepo),
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
    GIT_CONFIG_NOSYSTEM: '1',
    PATH_INFO: opts.pathInfo,
    QUERY_STRING: opts.query,
    REQUEST_METHOD: req.method ?? 'GET',
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    GATEWAY_INTERFACE: 'CGI/1.1'
  }
  if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type']
  // Chunked uploads (large pushes) carry no length; http-backend then reads to EOF.
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length']
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding']
  const proto = req.headers['git-protocol']
  if (typeof proto === 'string') env.HTTP_GIT_PROTOCOL = proto

  const child = spawn(BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.on('error', err => {
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end(`git-http-backend failed: ${err.message}\n`)
    } else {
      res.destroy(err)
    }
  })
  // A client that gives up mid-request must not leave the CGI process blocked on a pipe.
  child.stdin.on('error', () => undefined)
  req.pipe(child.stdin)

  let pending: Buffer = Buffer.alloc(0)
  let headersDone = false
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk)
      return
    }
    pending = Buffer.concat([pending, chunk])
    const found = findHeaderEnd(pending)
    if (!found) return
    headersDone = true
    const { status, headers } = parseCgiHeaders(pending.subarray(0, found.end).toString('latin1'))
    res.statusCode = status
    for (const [name, value] of headers) res.setHeader(name, value)
    const rest = pending.subarray(found.end + found.sep)
    pending = Buffer.alloc(0)
    if (rest.length) res.write(rest)
  })
  child.stdout.on('end', () => {
    if (!headersDone) {
      res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end(`git-http-backend sent no headers: ${stderr}\n`)
      return
    }
    res.end()
  })
}
