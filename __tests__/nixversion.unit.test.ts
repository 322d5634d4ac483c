import { execFileSync } from 'child_process'
import { nixString, nixStringList, singleToplevelExpr, toplevelsExpr } from '../src/nix/expr'
import { NixVersion, flakeUpdateArgs, maxJobsConfigured, parseNixVersion, pathInfoArgs } from '../src/nix/nix'
import {
  failedDerivations,
  startedDerivations,
  stripWarnings,
  timedOutDerivations,
  unnamedTimeOut
} from '../src/nix/stderr'

// Works as root, without a daemon, inside CI containers, and never asks a binary cache.
const nixEnv: NodeJS.ProcessEnv = {
  ...process.env,
  NIX_CONFIG:
    'experimental-features = nix-command flakes\nbuild-users-group =\nsandbox = false\nsubstituters ='
}

/** What Nix itself makes of an expression, as JSON: an argument array, never a shell. */
function nixEval(expr: string): unknown {
  const out = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '--expr', expr], {
    env: nixEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  })
  return JSON.parse(out)
}

const version = (implementation: string, major: number, minor: number, patch = 0): NixVersion => ({
  implementation,
  major,
  minor,
  patch,
  text: `${implementation} ${major}.${minor}.${patch}`
})

describe('parseNixVersion', () => {
  test.each<[string, string, number, number, number, string]>([
    ['nix (Nix) 2.8.0\n', 'Nix', 2, 8, 0, 'nix (Nix) 2.8.0'],
    ['nix (Nix) 2.26.3\n', 'Nix', 2, 26, 3, 'nix (Nix) 2.26.3'],
    ['nix (Nix) 2.18.1', 'Nix', 2, 18, 1, 'nix (Nix) 2.18.1'],
    ['nix (Lix, like Nix) 2.91.1\n', 'Lix', 2, 91, 1, 'nix (Lix, like Nix) 2.91.1'],
    ['nix (Lix, like Nix) 2.90.0-beta.1', 'Lix', 2, 90, 0, 'nix (Lix, like Nix) 2.90.0-beta.1'],
    // Determinate Nix names its own release first; the Nix it is built on comes last and is what counts.
    ['nix (Determinate Nix 3.6.2) 2.29.0\n', 'Nix', 2, 29, 0, 'nix (Determinate Nix 3.6.2) 2.29.0'],
    ['nix (Nix) 2.19.0pre20231017_dirty', 'Nix', 2, 19, 0, 'nix (Nix) 2.19.0pre20231017_dirty'],
    ['nix (Nix) 2.8', 'Nix', 2, 8, 0, 'nix (Nix) 2.8'],
    [
      '  nix (Nix) 2.24.10\nSystem type: x86_64-linux\nFeatures: gc, signed-caches\n',
      'Nix',
      2,
      24,
      10,
      'nix (Nix) 2.24.10'
    ]
  ])('%j', (text, implementation, major, minor, patch, line) => {
    expect(parseNixVersion(text)).toEqual({ implementation, major, minor, patch, text: line })
  })

  test.each(['', '\n', 'command not found: nix', 'nix (Nix)', 'error: unrecognised flag "--version"'])(
    '%j is refused',
    text => {
      expect(() => parseNixVersion(text)).toThrow(/^Cannot read the Nix version from: /)
    }
  )

  test('reads the Nix installed here', () => {
    const text = execFileSync('nix', ['--version'], { env: nixEnv, encoding: 'utf8' })
    const v = parseNixVersion(text)
    expect(v.major).toBeGreaterThanOrEqual(2)
    expect(v.text).toBe(text.trim().split('\n')[0])
  })
})

describe('pathInfoArgs', () => {
  const p = '/nix/store/xrqprdsikjqaj0x1aq1wpwlzz7a09mb4-curl-8.8.0'
  // Nix 2.33 added --json-format and warns without it (2.34.8: "'--json' without '--json-format' is deprecated");
  // older Nix and Lix reject the flag as unknown.
  test.each([
    ['Nix 2.8', version('Nix', 2, 8), false],
    ['Nix 2.26', version('Nix', 2, 26, 3), false],
    ['Nix 2.32', version('Nix', 2, 32, 4), false],
    ['Nix 2.33', version('Nix', 2, 33, 0), true],
    ['Nix 2.34', version('Nix', 2, 34, 8), true],
    ['Nix 3.0', version('Nix', 3, 0), true],
    ['Lix 2.93', version('Lix', 2, 93, 3), false]
  ])('%s', (_, v, format) => {
    expect(pathInfoArgs(v, [p])).toEqual([
      'path-info',
      '--recursive',
      '--json',
      ...(format ? ['--json-format', '1'] : []),
      p
    ])
  })

  test('from the version line of each implementation', () => {
    const args = (line: string): string[] => pathInfoArgs(parseNixVersion(line), [p])
    expect(args('nix (Nix) 2.34.8\n')).toContain('--json-format')
    expect(args('nix (Determinate Nix 3.15.1) 2.33.1')).toContain('--json-format')
    expect(args('nix (Lix, like Nix) 2.93.3')).not.toContain('--json-format')
    expect(args('nix (Nix) 2.8.0')).not.toContain('--json-format')
  })
})

describe('flakeUpdateArgs', () => {
  test.each<[string, NixVersion, string[], string[]]>([
    ['Nix 2.8, every input', version('Nix', 2, 8), [], ['flake', 'update']],
    ['Nix 2.26, every input', version('Nix', 2, 26, 3), [], ['flake', 'update']],
    ['Lix, every input', version('Lix', 2, 91, 1), [], ['flake', 'update']],
    [
      'Nix 2.8, named inputs',
      version('Nix', 2, 8),
      ['nixpkgs', 'home-manager'],
      ['flake', 'lock', '--update-input', 'nixpkgs', '--update-input', 'home-manager']
    ],
    [
      'Nix 2.18, named inputs',
      version('Nix', 2, 18, 1),
      ['nixpkgs'],
      ['flake', 'lock', '--update-input', 'nixpkgs']
    ],
    [
      'Nix 2.19, named inputs',
      version('Nix', 2, 19),
      ['nixpkgs', 'home-manager'],
      ['flake', 'update', 'nixpkgs', 'home-manager']
    ],
    ['Nix 2.26, named inputs', version('Nix', 2, 26, 3), ['nixpkgs'], ['flake', 'update', 'nixpkgs']],
    [
      'Nix 3.0, named inputs',
      version('Nix', 3, 0),
      ['nixpkgs', 'disko'],
      ['flake', 'update', 'nixpkgs', 'disko']
    ],
    ['Nix 3.1, named inputs', version('Nix', 3, 1), ['nixpkgs'], ['flake', 'update', 'nixpkgs']],
    [
      'Lix, named inputs',
      version('Lix', 2, 91, 1),
      ['nixpkgs', 'home-manager/nixpkgs'],
      ['flake', 'update', 'nixpkgs', 'home-manager/nixpkgs']
    ],
    [
      'Determinate Nix, named inputs',
      parseNixVersion('nix (Determinate Nix 3.6.2) 2.29.0'),
      ['nixpkgs'],
      ['flake', 'update', 'nixpkgs']
    ]
  ])('%s', (_label, v, inputs, args) => {
    expect(flakeUpdateArgs(v, inputs)).toEqual(args)
  })
})

describe('failedDerivations', () => {
  test.each<[string, string, string[]]>([
    [
      // nix-store --realise --keep-going, Nix 2.8 (recorded).
      'nix-store on Nix 2.8',
      [
        'these 3 derivations will be built:',
        '  /nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv',
        '  /nix/store/80id55fci8h99syfm17i6hxgl2fsb24x-zlib-1.3.1.drv',
        '  /nix/store/5z0snmcll6rszm39bjc5y8ajp7cd8q1q-system-path.drv',
        "building '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'...",
        'compiling rsync',
        'rsync.c:1: error: boom',
        "error: builder for '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv' failed with exit code 1",
        "building '/nix/store/80id55fci8h99syfm17i6hxgl2fsb24x-zlib-1.3.1.drv'...",
        "error: 1 dependencies of derivation '/nix/store/5z0snmcll6rszm39bjc5y8ajp7cd8q1q-system-path.drv' failed to build",
        ''
      ].join('\n'),
      ['/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv']
    ],
    [
      // nix build --keep-going, Nix 2.8 (recorded).
      'nix build on Nix 2.8',
      [
        "building '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'...",
        "error: builder for '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv' failed with exit code 1;",
        '       last 2 log lines:',
        '       > compiling rsync',
        '       > rsync.c:1: error: boom',
        "       For full logs, run 'nix log /nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'.",
        "error: 1 dependencies of derivation '/nix/store/5z0snmcll6rszm39bjc5y8ajp7cd8q1q-system-path.drv' failed to build"
      ].join('\n'),
      ['/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv']
    ],
    [
      'Nix 2.18 to 2.2x, two failures and their dependents',
      [
        "error: builder for '/nix/store/8ab28kwzpar1l62ydh85a33yfv4rizas-iced_core-0.12.0.drv' failed with exit code 1;",
        '       last 10 log lines:',
        "       > KeyError: 'package'",
        "       For full logs, run 'nix log /nix/store/8ab28kwzpar1l62ydh85a33yfv4rizas-iced_core-0.12.0.drv'.",
        "error: 1 dependencies of derivation '/nix/store/61rxch9q8j6c43s8r3dd2gvlz9f22brz-cargo-vendor-dir.drv' failed to build",
        "error: builder for '/nix/store/n2894yni0i8y15rpw57lgxr6j8nnyc0p-sbcl-nyxt-3.11.0.drv' failed with exit code 2;",
        '       last 10 log lines:',
        "       > rm: cannot remove '/nix/store/xdx4jf61631qxvnywixrn3r37dyl4830-sbcl-nyxt-3.11.0/nyxt'",
        "       For full logs, run 'nix log /nix/store/n2894yni0i8y15rpw57lgxr6j8nnyc0p-sbcl-nyxt-3.11.0.drv'.",
        "error: 1 dependencies of derivation '/nix/store/yn7f1djcr48a30w8nb2imjjx1p7dbbw1-nyxt-3.11.0.drv' failed to build"
      ].join('\n'),
      [
        '/nix/store/8ab28kwzpar1l62ydh85a33yfv4rizas-iced_core-0.12.0.drv',
        '/nix/store/n2894yni0i8y15rpw57lgxr6j8nnyc0p-sbcl-nyxt-3.11.0.drv'
      ]
    ],
    [
      'Lix',
      [
        "error: builder for '/nix/store/6n806wkacxvdfmf8yvzjnlwpyxzzx7s0-rust-docs-1.90.0.drv' failed with exit code 1;",
        '       last 3 log lines:',
        '       > Running phase: unpackPhase',
        "       For full logs, run 'nix log /nix/store/6n806wkacxvdfmf8yvzjnlwpyxzzx7s0-rust-docs-1.90.0.drv'."
      ].join('\n'),
      ['/nix/store/6n806wkacxvdfmf8yvzjnlwpyxzzx7s0-rust-docs-1.90.0.drv']
    ],
    [
      'a builder killed by a signal',
      "error: builder for '/nix/store/dkbyx5h1yrkqcd55lxiqlrfqrng2p4db-chromium-125.0.6422.141.drv' failed due to signal 9 (Killed)",
      ['/nix/store/dkbyx5h1yrkqcd55lxiqlrfqrng2p4db-chromium-125.0.6422.141.drv']
    ],
    [
      'a remote build',
      "error: build of '/nix/store/pmjy7fp4v6jjb1v06fasrzgs4sg2rvam-test.drv' on 'ssh://agent-2' failed: builder for '/nix/store/pmjy7fp4v6jjb1v06fasrzgs4sg2rvam-test.drv' failed with exit code 1",
      ['/nix/store/pmjy7fp4v6jjb1v06fasrzgs4sg2rvam-test.drv']
    ],
    [
      'the same derivation reported twice',
      [
        "error: builder for '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv' failed with exit code 1",
        "error: builder for '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv' failed with exit code 1"
      ].join('\n'),
      ['/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv']
    ],
    [
      // Newer Nix: one "Cannot build" block per derivation; only "builder failed" names a culprit, the
      // "dependency failed" blocks are the derivations waiting on it.
      'current Nix: Cannot build … Reason: builder failed',
      [
        "error: Cannot build '/nix/store/fa20hxbv707ghk5z5f55b5qbc5hx784q-superhtml-0.6.2.drv'.",
        '       Reason: builder failed with exit code 1.',
        '       Output paths:',
        '         /nix/store/4v2gkcnh9fgn2y8hwqq083s269skpv4q-superhtml-0.6.2',
        '       Last 5 log lines:',
        "       > ln: failed to create symbolic link '/p': Permission denied",
        '       For full logs, run:',
        '         nix log /nix/store/fa20hxbv707ghk5z5f55b5qbc5hx784q-superhtml-0.6.2.drv',
        "error: Cannot build '/nix/store/gwslc43ij17dqh0adshy5gd5g553xgfv-init.lua.drv'.",
        '       Reason: 1 dependency failed.',
        '       Output paths:',
        '         /nix/store/11lfkwrpviyfgqq97h8x0h5f68d7qf24-init.lua'
      ].join('\n'),
      ['/nix/store/fa20hxbv707ghk5z5f55b5qbc5hx784q-superhtml-0.6.2.drv']
    ],
    [
      // A build controls its own log, and Nix quotes the log's last lines (`> `) before its own error line; a
      // quoted line that names another derivation must not put the blame there.
      'a quoted log line that imitates the error',
      [
        "error: builder for '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv' failed with exit code 1;",
        '       last 2 log lines:',
        "       > error: builder for '/nix/store/80id55fci8h99syfm17i6hxgl2fsb24x-zlib-1.3.1.drv' failed with exit code 1",
        '       > rsync.c:1: error: boom',
        "       For full logs, run 'nix log /nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'."
      ].join('\n'),
      ['/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv']
    ],
    [
      'a build that only warns',
      [
        "warning: Git tree '/home/ops/fleet' is dirty",
        "building '/nix/store/80id55fci8h99syfm17i6hxgl2fsb24x-zlib-1.3.1.drv'..."
      ].join('\n'),
      []
    ],
    ['nothing at all', '', []]
  ])('%s', (_label, stderr, drvs) => {
    expect(failedDerivations(stderr)).toEqual(drvs)
  })
})

describe('time-outs', () => {
  const slow = '/nix/store/qpb1sa0d6lr3gjagavf0fn9ccab9avj1-rsync-3.2.7.drv'
  const ok = '/nix/store/ycd0pl54fjz448wsivbggvg66b3kaq7q-ok-1.0.drv'
  // `nix-store --realise --keep-going --timeout 2` of a slow and a quick derivation (recorded).
  const nix226 = [
    'these 2 derivations will be built:',
    `  ${ok}`,
    `  ${slow}`,
    `building '${ok}'...`,
    `building '${slow}'...`,
    `error: building of '${slow}^*' from .drv file timed out after 2 seconds`
  ].join('\n')
  const nix234 = [
    'these 2 derivations will be built:',
    `  ${slow}`,
    `  ${ok}`,
    `building '${ok}'...`,
    `building '${slow}'...`,
    'error: timed out after 2 seconds'
  ].join('\n')

  test('Nix 2.26 names the derivation', () => {
    expect([...timedOutDerivations(nix226)]).toEqual([slow])
    expect(failedDerivations(nix226)).toEqual([slow])
    expect(unnamedTimeOut(nix226)).toBe(false)
  })

  test('Nix 2.34 does not: the started derivations are the candidates', () => {
    expect([...timedOutDerivations(nix234)]).toEqual([])
    expect(failedDerivations(nix234)).toEqual([])
    expect(unnamedTimeOut(nix234)).toBe(true)
    expect(startedDerivations(nix234)).toEqual([ok, slow])
  })

  test('a build log line is not a time-out of Nix', () => {
    expect(unnamedTimeOut('rsync> error: timed out after 2 seconds')).toBe(false)
    expect(startedDerivations(`  building '${ok}'...`)).toEqual([])
  })
})

describe('stripWarnings', () => {
  test.each([
    [
      [
        "warning: Git tree '/home/ops/fleet' is dirty",
        "error: attribute 'web' missing",
        '',
        '       at «string»:1:41:'
      ].join('\n'),
      ["error: attribute 'web' missing", '', '       at «string»:1:41:'].join('\n')
    ],
    [
      [
        "warning: unknown setting 'eval-cores'",
        "warning: ignoring untrusted substituter 'https://nix-community.cachix.org'",
        "error: The option `services.foo' does not exist."
      ].join('\n'),
      "error: The option `services.foo' does not exist."
    ],
    ["trace: evaluating host 'web'\nerror: boom", "trace: evaluating host 'web'\nerror: boom"],
    ['error: warning: is not a warning here', 'error: warning: is not a warning here'],
    ['       warning: indented, part of a message', '       warning: indented, part of a message'],
    ["warning: Git tree '/home/ops/fleet' is dirty", ''],
    // `nix flake update` and `nix path-info --json`, Nix 2.34.8 (recorded).
    [
      [
        "warning: Git tree '/tmp/rec/fl' is dirty",
        'warning: updating lock file "/tmp/rec/fl/flake.lock":',
        "• Updated input 'dep':",
        "    'git+file:///tmp/rec/dep?ref=refs/heads/master&rev=9185aa062c0645124f13903fd50a635487917cd2' (2026-12-02)",
        "  → 'git+file:///tmp/rec/dep?ref=refs/heads/master&rev=3ebb2f2060124eb465971445fa2148a1ef46b32b' (2026-12-02)"
      ].join('\n'),
      [
        "• Updated input 'dep':",
        "    'git+file:///tmp/rec/dep?ref=refs/heads/master&rev=9185aa062c0645124f13903fd50a635487917cd2' (2026-12-02)",
        "  → 'git+file:///tmp/rec/dep?ref=refs/heads/master&rev=3ebb2f2060124eb465971445fa2148a1ef46b32b' (2026-12-02)"
      ].join('\n')
    ],
    [
      "warning: '--json' without '--json-format' is deprecated; please specify '--json-format 1' or '--json-format 2'. This will become an error in a future release.",
      ''
    ],
    // Evaluation warnings, recorded from Nix 2.34.8: `trace: warning:` (builtins.trace) and `evaluation warning:`
    // (builtins.warn) are left out of an error's tail too.
    ["trace: warning: The option `foo' has been renamed to `bar'.\nerror: boom", 'error: boom'],
    ["evaluation warning: The option `foo' has been renamed to `bar'.\nerror: boom", 'error: boom'],
    ['', '']
  ])('%j', (stderr, stripped) => {
    expect(stripWarnings(stderr)).toBe(stripped)
  })
})

// Strings a flake or an input could hand over; Nix must read each literal back as exactly the original text.
const HOSTILE = [
  '',
  'web',
  'say "hi"',
  'back\\slash',
  'trailing backslash\\',
  '\\"',
  '${builtins.abort "x"}',
  '\\${builtins.abort "x"}',
  '$${builtins.abort "x"}',
  '$',
  '${',
  'a$b',
  '$"',
  'line1\nline2',
  'crlf\r\nlf',
  'lone\rcr',
  'tab\there',
  "'' ''${x} ''\\n '''",
  'web"; x = builtins.abort "pwned"; y = "',
  'ünïcödé ✓ 中文 🚀',
  'a\u2028b\u2029c',
  '\u0001\u001b[31mred\u001b[0m\u007f'
]

describe('nixString', () => {
  test.each(HOSTILE)('Nix reads back %j', text => {
    expect(nixEval(nixString(text))).toBe(text)
  })

  test('is one literal, whatever the text', () => {
    const literal = nixString('${builtins.abort "x"}')
    expect(nixEval(`builtins.typeOf ${literal}`)).toBe('string')
  })
})

describe('nixStringList', () => {
  test('Nix reads back the whole list', () => {
    expect(nixEval(nixStringList(HOSTILE))).toEqual(HOSTILE)
  })

  test.each([[[]], [['web']], [['web', 'mail', 'db']]])('%j', list => {
    expect(nixEval(nixStringList(list))).toEqual(list)
  })
})

// The expressions that use these literals, on stand-in nixosConfigurations with hostile host names.
describe('toplevel expressions', () => {
  const hosts = ['web', 'say "hi"', '${builtins.abort "x"}', 'ünï\ncode']
  const configurations =
    '{ ' +
    hosts
      .map(
        (h, i) =>
          `${nixString(h)} = { config.system.build.toplevel = { drvPath = "/nix/store/d${i}.drv"; outPath = "/nix/store/o${i}"; }; };`
      )
      .join(' ') +
    ' broken = { config.system.build.toplevel = { drvPath = throw "evaluation failed"; outPath = "x"; }; }; }'

  test('toplevelsExpr evaluates every host and nulls the one that throws', () => {
    const expected: Record<string, unknown> = { broken: null }
    // The stand-ins carry no `system`: it is null, as for a toplevel whose derivation names none.
    hosts.forEach(
      (h, i) => (expected[h] = { drv: `/nix/store/d${i}.drv`, out: `/nix/store/o${i}`, system: null })
    )
    expect(nixEval(`(${toplevelsExpr([...hosts, 'broken'])}) ${configurations}`)).toEqual(expected)
  })

  test.each(hosts.map((h, i): [string, number] => [h, i]))('singleToplevelExpr for %j', (host, i) => {
    expect(nixEval(`(${singleToplevelExpr(host)}) ${configurations}`)).toEqual({
      drv: `/nix/store/d${i}.drv`,
      out: `/nix/store/o${i}`,
      system: null
    })
  })
})

describe('maxJobsConfigured', () => {
  const none = (): undefined => undefined
  test.each<[string, string[], NodeJS.ProcessEnv, boolean]>([
    ['nothing set', [], {}, false],
    ['--max-jobs in nix-args', ['--max-jobs', '4'], {}, true],
    ['-j in nix-args', ['-j', '0'], {}, true],
    ['-j4 in nix-args', ['-j4'], {}, true],
    ['--option max-jobs', ['--option', 'max-jobs', '2'], {}, true],
    ['NIX_CONFIG', [], { NIX_CONFIG: 'substituters =\nmax-jobs = 8' }, true],
    ['another setting only', ['--builders', 'ssh://b x86_64-linux'], { NIX_CONFIG: 'cores = 2' }, false]
  ])('%s', (_label, args, env, expected) => {
    expect(maxJobsConfigured(args, env, none)).toBe(expected)
  })

  test('a nix.conf that sets it counts; one that does not, does not', () => {
    const files: Record<string, string> = {
      '/etc/nix/nix.conf': 'sandbox = false\n',
      '/home/u/.config/nix/nix.conf': ' max-jobs = auto\n'
    }
    expect(maxJobsConfigured([], { HOME: '/home/u' }, f => files[f])).toBe(true)
    expect(maxJobsConfigured([], { HOME: '/home/v' }, f => files[f])).toBe(false)
  })
})
