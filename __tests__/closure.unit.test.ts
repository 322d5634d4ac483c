import { PathInfo, PathInfoMap, closureOf, parsePathInfo } from '../src/nix/closure'

const S = '/nix/store'

// `nix path-info --recursive --json` of a NixOS system, as Nix 2.8 printed it (one object per line here, the
// array and its field order unchanged).
const NIX_2_8_SYSTEM = `[
{"path":"/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05","narHash":"sha256-FeJoAXeDQQ/0IvsiR9N0xR8kynRsJb8ucW0yHbt4ebo=","narSize":1536,"references":["/nix/store/mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30","/nix/store/pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules","/nix/store/qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30","/nix/store/rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path","/nix/store/xsz79gzfwxx9wr0v26bq5pbgmvjh0ybf-etc"],"deriver":"/nix/store/a8d8crzqnzcqq32r2wzx79xl0d2776jx-nixos-system-web-24.05.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/5ikl4smi3kalqajw7v0xq97algd658b6-nginx-1.24.0","narHash":"sha256-5ja77kcBWbO+cw0HC1aejM7Kf8CahFq7DqPMsIkjgUM=","narSize":784,"references":["/nix/store/6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1","/nix/store/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14"],"deriver":"/nix/store/inxlx39cpqhqd20zy2ab5f4a5jl4i3r2-nginx-1.24.0.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1","narHash":"sha256-Fw0/P0FSs2VewePucFgDotmzYiuOsZoCqjhILWpqeaY=","narSize":728,"references":["/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52"],"deriver":"/nix/store/l9vppkvg1s7v30ngr4x8b0g1lgvwgf9v-zlib-1.3.1.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/b0mhfwd6ng38dsz4hwb91g35rkw59v07-htop-3.3.0","narHash":"sha256-syoQMQa+DFD+O9LwlCLzqRUTUAsZ+qt74q9Vx/h8MMQ=","narSize":728,"references":["/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52"],"deriver":"/nix/store/yv57rwh77dbmcxn17l6p2dma984p1q8r-htop-3.3.0.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/bnx701rycyghxd007jgm65mrb6w2ahgy-curl-8.7.1","narHash":"sha256-4VVrETY+WeBc5m7aexdLGU+lieH2+zFNll1DP8FnJkU=","narSize":784,"references":["/nix/store/6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1","/nix/store/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14"],"deriver":"/nix/store/yr921hhdsj0gqmyz5lfcxf1wk22rzkds-curl-8.7.1.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14","narHash":"sha256-4DvjNj2ZrPeO2KYo7sbXMufJ0C37Mrow3gJJo8CXgFU=","narSize":784,"references":["/nix/store/6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1","/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52"],"deriver":"/nix/store/q9cs01q6bdbd1h5qwbfdg12rcfl832ql-openssl-3.0.14.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30","narHash":"sha256-ktXjR4CbLxKdG8QcslEHng1UT0CdarEF4aSu5jCKb+8=","narSize":480,"references":[],"deriver":"/nix/store/mn9gcha7b66lq7wxx35ygkzzg3s7fv0c-linux-6.6.30.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules","narHash":"sha256-izqXnI5CitusddcHeG9PSuFvcDK88xSBg9wZQzyJyAE=","narSize":856,"references":["/nix/store/mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30"],"deriver":"/nix/store/n71s9fvgv60wbpi6m189yl4naa0x770l-linux-6.6.30-modules.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30","narHash":"sha256-qrTUa7D9QDoZx2tpYcleZrvBjyhq0KrQ9JQhTVkqRRM=","narSize":352,"references":["/nix/store/pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules"],"deriver":"/nix/store/48y6df3gzfqdk0dbk1c2qwmpkbxir7sj-initrd-linux-6.6.30.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path","narHash":"sha256-Y45/p3LtHUWAaPCakx5Y4/I+BweoE4olCKL2QlPc1rs=","narSize":656,"references":["/nix/store/b0mhfwd6ng38dsz4hwb91g35rkw59v07-htop-3.3.0","/nix/store/bnx701rycyghxd007jgm65mrb6w2ahgy-curl-8.7.1"],"deriver":"/nix/store/g0h3gkhj7fyhn1vpra4bsqqj98326jb0-system-path.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52","narHash":"sha256-jzyC5p9pdh++y1q4VcheyRIbdRmiJ1YEn1CUW88gc0Q=","narSize":480,"references":[],"deriver":"/nix/store/gia6mvc9szjvq619ksaqkglc4yfnvnb0-glibc-2.39-52.drv","registrationTime":1795675102,"ultimate":true},
{"path":"/nix/store/xsz79gzfwxx9wr0v26bq5pbgmvjh0ybf-etc","narHash":"sha256-73SrjWQcCjIUmT0b5Yvuh9Or6WiSDLcCATPIJClQKCI=","narSize":568,"references":["/nix/store/5ikl4smi3kalqajw7v0xq97algd658b6-nginx-1.24.0"],"deriver":"/nix/store/64akprmrrg3snlw5id1v06hihn0ivgl2-etc.drv","registrationTime":1795675102,"ultimate":true}
]`

// Nix 2.8 with a path that is not in the store: an entry with `valid: false` and nothing else (recorded).
const NIX_2_8_WITH_INVALID =
  '[{"path":"/nix/store/00000000000000000000000000000000-nope","valid":false},' +
  '{"path":"/nix/store/474y3f4nvl30ivqifdbjvjslkhdvkns9-bash-5.2p26","narHash":"sha256-D0u2WptPP0RQIsyotu56EVi7946ebsZLK8sBhiPcXLY=","narSize":728,"references":["/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52"],"deriver":"/nix/store/y27d2ch4k2hd36yxmryf6lxxjp6f2xzp-bash-5.2p26.drv","registrationTime":1795675102,"ultimate":true}]'

// Nix 2.19 and later: an object keyed by store path, keys sorted, `ca` always present, `null` for a path that is
// not valid, and references that include the path itself.
const NIX_2_19_HELLO = `{
  "/nix/store/0000000000000000000000000000000a-missing": null,
  "/nix/store/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1": {
    "ca": null,
    "deriver": "/nix/store/qmqvzrg4cckqjdk9fk42l3dgl6p9hjq6-hello-2.12.1.drv",
    "narHash": "sha256-FnxoRhQCEMJR5mfYnBvhE4tD1aTgGA2ruMPn4yqvy5Y=",
    "narSize": 226552,
    "references": [
      "/nix/store/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1",
      "/nix/store/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77"
    ],
    "registrationTime": 1718700000,
    "signatures": ["cache.nixos.org-1:kKzIYwMlSm4tKXDhqy6LHNT1hS2wwfWR6ij5MvZz3NoVUcc8xVb1aqwsyvaXrT7TvVmHvDOKZqVhyQCGEQVrBg=="],
    "ultimate": false
  },
  "/nix/store/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77": {
    "ca": null,
    "deriver": "/nix/store/6c0yb06z9vpqi2mmkhbsqb1nx2s6x8w8-glibc-2.38-77.drv",
    "narHash": "sha256-SbsTuA4mZlSL5DTbJBfvdtYp/ZLrmKA4AJ6F8SHHLvs=",
    "narSize": 29088200,
    "references": [
      "/nix/store/2gjd34kw3nn7d2dzwfah4rr9wzaq3qgw-xgcc-13.2.0-libgcc",
      "/nix/store/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77",
      "/nix/store/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7"
    ],
    "registrationTime": 1718699990,
    "signatures": [],
    "ultimate": false
  },
  "/nix/store/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7": {
    "ca": null,
    "deriver": null,
    "narHash": "sha256-v1P8a7sbvAoFbDcH4m0vArPu8qMK4XX2PRrdbY52f4k=",
    "narSize": 359520,
    "references": [
      "/nix/store/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7",
      "/nix/store/x1ggwsv6jsqk5hbaqvpgxbf5m6wbspb2-libunistring-1.1"
    ],
    "registrationTime": null,
    "signatures": [],
    "ultimate": false
  }
}`

const info = (narSize: number, references: string[]): PathInfo => ({ narSize, references })

describe('parsePathInfo', () => {
  test('reads the Nix 2.8 / Lix array shape', () => {
    const map = parsePathInfo(NIX_2_8_SYSTEM)
    expect(map.size).toBe(12)
    expect(map.get(`${S}/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05`)).toEqual(
      info(1536, [
        `${S}/mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30`,
        `${S}/pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules`,
        `${S}/qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30`,
        `${S}/rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path`,
        `${S}/xsz79gzfwxx9wr0v26bq5pbgmvjh0ybf-etc`
      ])
    )
    expect(map.get(`${S}/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14`)).toEqual(
      info(784, [
        `${S}/6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1`,
        `${S}/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52`
      ])
    )
    expect(map.get(`${S}/mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30`)).toEqual(info(480, []))
    let total = 0
    for (const v of map.values()) total += v.narSize
    expect(total).toBe(1536 + 784 + 728 + 728 + 784 + 784 + 480 + 856 + 352 + 656 + 480 + 568)
  })

  test('leaves out the `valid: false` entries of Nix 2.8', () => {
    const map = parsePathInfo(NIX_2_8_WITH_INVALID)
    expect([...map.keys()]).toEqual([`${S}/474y3f4nvl30ivqifdbjvjslkhdvkns9-bash-5.2p26`])
    expect(map.get(`${S}/474y3f4nvl30ivqifdbjvjslkhdvkns9-bash-5.2p26`)).toEqual(
      info(728, [`${S}/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52`])
    )
  })

  test('reads the Nix ≥ 2.19 object shape and skips null (invalid) paths', () => {
    const map = parsePathInfo(NIX_2_19_HELLO)
    expect([...map.keys()].sort()).toEqual([
      `${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`,
      `${S}/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77`,
      `${S}/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7`
    ])
    expect(map.get(`${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`)).toEqual(
      info(226552, [
        `${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`,
        `${S}/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77`
      ])
    )
    expect(map.get(`${S}/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7`)).toEqual(
      info(359520, [
        `${S}/r5fsq0swbalrxgd0k5a0clv6m9x0z36a-libidn2-2.3.7`,
        `${S}/x1ggwsv6jsqk5hbaqvpgxbf5m6wbspb2-libunistring-1.1`
      ])
    )
  })

  test('both shapes of the same store give the same map', () => {
    const asObject: Record<string, unknown> = {}
    for (const e of JSON.parse(NIX_2_8_SYSTEM) as { path: string }[]) {
      const { path, ...rest } = e
      asObject[path] = { ca: null, signatures: [], ...rest }
    }
    expect(parsePathInfo(JSON.stringify(asObject))).toEqual(parsePathInfo(NIX_2_8_SYSTEM))
  })

  // Newer Nix prints references as base names (store dir left out); they must come back as full paths, or no
  // reference would ever be found in the map.
  test('turns base-name references into full paths under the store dir of the key', () => {
    const json = JSON.stringify({
      '/nix/store/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1': {
        narSize: 226552,
        references: [
          '1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1',
          'j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77'
        ]
      }
    })
    expect(parsePathInfo(json).get(`${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`)).toEqual(
      info(226552, [
        `${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`,
        `${S}/j0bzxly2rvcym1zkhn393adiqcwn8np6-glibc-2.38-77`
      ])
    )
  })

  test.each([
    ['missing narSize and references', { '/nix/store/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1': {} }],
    [
      'non-number narSize and non-string references',
      {
        '/nix/store/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1': {
          narSize: '226552',
          references: [1, null]
        }
      }
    ]
  ])('tolerates %s', (_label, data) => {
    expect(parsePathInfo(JSON.stringify(data))).toEqual(
      new Map([[`${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`, info(0, [])]])
    )
  })

  test.each(['1e999', '-8', '1.5'])('a narSize of %s counts as 0 bytes', narSize => {
    const json = `{"${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1":{"narSize":${narSize},"references":[]}}`
    expect(parsePathInfo(json).get(`${S}/1q8w6gl1ll0mwfkqc3c2yx005s6wwfrl-hello-2.12.1`)).toEqual(info(0, []))
  })

  test.each([
    ['[]', 0],
    ['{}', 0]
  ])('%s gives an empty map', (json, size) => {
    expect(parsePathInfo(json).size).toBe(size)
  })

  test.each(['42', '"text"', 'null', 'true'])('rejects %s', json => {
    expect(() => parsePathInfo(json)).toThrow('nix path-info --json printed neither an array nor an object')
  })

  test('rejects text that is not JSON', () => {
    expect(() => parsePathInfo('error: experimental Nix feature')).toThrow(SyntaxError)
  })
})

describe('closureOf', () => {
  const shared = parsePathInfo(NIX_2_8_SYSTEM)
  const p = (name: string): string => `${S}/${name}`

  test.each([
    [
      'the whole system',
      '4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05',
      [
        '4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05',
        '5ikl4smi3kalqajw7v0xq97algd658b6-nginx-1.24.0',
        '6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1',
        'b0mhfwd6ng38dsz4hwb91g35rkw59v07-htop-3.3.0',
        'bnx701rycyghxd007jgm65mrb6w2ahgy-curl-8.7.1',
        'ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14',
        'mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30',
        'pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules',
        'qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30',
        'rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path',
        'v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52',
        'xsz79gzfwxx9wr0v26bq5pbgmvjh0ybf-etc'
      ]
    ],
    [
      'a package set',
      'rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path',
      [
        '6z0lihsk72xrkwffwl0i936yn1x199mj-zlib-1.3.1',
        'b0mhfwd6ng38dsz4hwb91g35rkw59v07-htop-3.3.0',
        'bnx701rycyghxd007jgm65mrb6w2ahgy-curl-8.7.1',
        'ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14',
        'rb5f1lc0bm6zwjh5f73d6wv836xl083i-system-path',
        'v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52'
      ]
    ],
    [
      'the boot chain',
      'qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30',
      [
        'mx2nbgrbg6g9qs8fglnbcaq83w7s7ar0-linux-6.6.30',
        'pnsacpa7xdr49m6jw1j5cwyifbk280lr-linux-6.6.30-modules',
        'qkh81a54zsnkxm4yw5pga7q29bxp8y1w-initrd-linux-6.6.30'
      ]
    ],
    [
      'a leaf',
      'v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52',
      ['v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52']
    ],
    [
      'a root the map does not know',
      'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-unknown-1.0',
      ['zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-unknown-1.0']
    ]
  ])('%s, from one shared map', (_label, root, expected) => {
    expect([...closureOf(p(root), shared)].sort()).toEqual(expected.map(p).sort())
  })

  test('does not change the shared map', () => {
    const before = JSON.stringify([...shared])
    closureOf(p('4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05'), shared)
    expect(JSON.stringify([...shared])).toBe(before)
  })

  test('ends on cycles and self-references', () => {
    const a = p('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a-1.0')
    const b = p('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b-1.0')
    const c = p('cccccccccccccccccccccccccccccccc-c-1.0')
    const cyclic: PathInfoMap = new Map([
      [a, info(1, [a, b])],
      [b, info(2, [c, b])],
      [c, info(3, [a])]
    ])
    expect([...closureOf(a, cyclic)].sort()).toEqual([a, b, c])
    expect([...closureOf(c, cyclic)].sort()).toEqual([a, b, c])
  })

  // A reference the query did not return is still part of the closure; there is only nothing to follow from it.
  test('keeps a missing reference and stops there', () => {
    const a = p('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a-1.0')
    const gone = p('dddddddddddddddddddddddddddddddd-gone-2.0')
    const partial: PathInfoMap = new Map([[a, info(1, [gone])]])
    expect([...closureOf(a, partial)].sort()).toEqual([a, gone])
  })
})

describe('parsePathInfo on output recorded from Nix 2.26.3 (Debian trixie)', () => {
  // `nix path-info -r --json` of a two-path closure, and of a path that is not in the store, exactly as printed.
  const recorded =
    '{"/nix/store/9xwwxlycpk06s8938v5rbxk4hsmhpxx4-zlib-1.3.1":{"ca":null,"deriver":"/nix/store/f8cwjgczfjax3c4p6dj7cnfr3lf7b900-zlib-1.3.1.drv","narHash":"sha256-ck5L7amiXR6BM/vV6Hz2VZuCbSLvUtK6H+gXTbmvQ0M=","narSize":120,"references":[],"registrationTime":1795679347,"signatures":[],"ultimate":true},"/nix/store/fgrq032hy897vbl1wsk92krng39mivpa-curl-8.8.0":{"ca":null,"deriver":"/nix/store/4l11nwnvs955xm458ga29k3hr5fzimqw-curl-8.8.0.drv","narHash":"sha256-oV6BvQIWUgjCkNY9EuRwKIQZYv77P2ltEfQv6GyiHEk=","narSize":168,"references":["/nix/store/9xwwxlycpk06s8938v5rbxk4hsmhpxx4-zlib-1.3.1"],"registrationTime":1795679347,"signatures":[],"ultimate":true}}'
  const missing = '{"/nix/store/00000000000000000000000000000000-missing":null}'

  test('paths, sizes and references', () => {
    const map = parsePathInfo(recorded)
    expect([...map.keys()].sort()).toEqual([
      '/nix/store/9xwwxlycpk06s8938v5rbxk4hsmhpxx4-zlib-1.3.1',
      '/nix/store/fgrq032hy897vbl1wsk92krng39mivpa-curl-8.8.0'
    ])
    expect(map.get('/nix/store/fgrq032hy897vbl1wsk92krng39mivpa-curl-8.8.0')).toEqual({
      narSize: 168,
      references: ['/nix/store/9xwwxlycpk06s8938v5rbxk4hsmhpxx4-zlib-1.3.1']
    })
    expect(closureOf('/nix/store/fgrq032hy897vbl1wsk92krng39mivpa-curl-8.8.0', map).size).toBe(2)
  })

  test('a path that is not valid is left out', () => {
    expect(parsePathInfo(missing).size).toBe(0)
  })
})

describe('parsePathInfo on output recorded from Nix 2.34.8 (Debian sid)', () => {
  const zlib = '/nix/store/nzp9w55gpivzf8dfw37w33wmlcxyxcwp-zlib-1.3.1'
  const curl = '/nix/store/xrqprdsikjqaj0x1aq1wpwlzz7a09mb4-curl-8.8.0'
  // `nix path-info -rsS --json --json-format 1` (the same as without the flag, which 2.34 deprecates).
  const format1 =
    '{"/nix/store/nzp9w55gpivzf8dfw37w33wmlcxyxcwp-zlib-1.3.1":{"ca":null,"closureSize":128,"deriver":"/nix/store/vmnkf5dzi03k34fkl73bpd50r16fsdzb-zlib-1.3.1.drv","narHash":"sha256-KkWPm4AaXv8pR58j9dcdDv4L34jio/YB1F7Ur0kDcLs=","narSize":128,"references":[],"registrationTime":1796199762,"signatures":[],"storeDir":"/nix/store","ultimate":true,"version":1},"/nix/store/xrqprdsikjqaj0x1aq1wpwlzz7a09mb4-curl-8.8.0":{"ca":null,"closureSize":312,"deriver":"/nix/store/ng5fi66r5xr1lr4g2p3qpwqqfxf1gxzq-curl-8.8.0.drv","narHash":"sha256-ebIguDpo5zaGWkbd5R34/+7md4snd51HBI0FhaW3akw=","narSize":184,"references":["/nix/store/nzp9w55gpivzf8dfw37w33wmlcxyxcwp-zlib-1.3.1"],"registrationTime":1796199762,"signatures":[],"storeDir":"/nix/store","ultimate":true,"version":1}}'
  // `nix path-info -rsS --json --json-format 2`: wrapped, keyed by base name, base-name references.
  const format2 =
    '{"info":{"nzp9w55gpivzf8dfw37w33wmlcxyxcwp-zlib-1.3.1":{"ca":null,"closureSize":128,"deriver":"vmnkf5dzi03k34fkl73bpd50r16fsdzb-zlib-1.3.1.drv","narHash":"sha256-KkWPm4AaXv8pR58j9dcdDv4L34jio/YB1F7Ur0kDcLs=","narSize":128,"references":[],"registrationTime":1796199762,"signatures":[],"storeDir":"/nix/store","ultimate":true,"version":2},"xrqprdsikjqaj0x1aq1wpwlzz7a09mb4-curl-8.8.0":{"ca":null,"closureSize":312,"deriver":"ng5fi66r5xr1lr4g2p3qpwqqfxf1gxzq-curl-8.8.0.drv","narHash":"sha256-ebIguDpo5zaGWkbd5R34/+7md4snd51HBI0FhaW3akw=","narSize":184,"references":["nzp9w55gpivzf8dfw37w33wmlcxyxcwp-zlib-1.3.1"],"registrationTime":1796199762,"signatures":[],"storeDir":"/nix/store","ultimate":true,"version":2}},"storeDir":"/nix/store","version":2}'
  const missing2 =
    '{"info":{"00000000000000000000000000000000-missing":null},"storeDir":"/nix/store","version":2}'

  test.each([
    ['format 1', format1],
    ['format 2', format2]
  ])('%s: full paths, sizes and references', (_, json) => {
    const map = parsePathInfo(json)
    expect([...map.keys()].sort()).toEqual([zlib, curl])
    expect(map.get(curl)).toEqual({ narSize: 184, references: [zlib] })
    expect(map.get(zlib)).toEqual({ narSize: 128, references: [] })
    expect(closureOf(curl, map).size).toBe(2)
  })

  test('format 2: a path that is not valid is left out', () => {
    expect(parsePathInfo(missing2).size).toBe(0)
  })

  test('format 2 with a store directory of its own', () => {
    const map = parsePathInfo(format2.replace(/"storeDir":"\/nix\/store"/g, '"storeDir":"/gnu/store"'))
    expect([...map.keys()].sort()).toEqual([zlib, curl].map(p => p.replace('/nix/store', '/gnu/store')))
  })
})
