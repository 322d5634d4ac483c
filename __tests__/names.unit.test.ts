import {
  compareVersions,
  mergeRenamed,
  splitPackageName,
  storePathName,
  versionComponents
} from '../src/nix/names'

// The versionComponents and compareVersions tables were read back from Nix itself (builtins.splitVersion and
// builtins.compareVersions through nix-instantiate --eval, Nix 2.8 and 2.26), so they hold Nix's answers.

describe('storePathName', () => {
  test.each([
    ['/nix/store/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14', 'openssl-3.0.14'],
    ['/nix/store/3bb1sscn09y73impz896wf9i7hfjpfvl-rsync-3.2.7.drv', 'rsync-3.2.7.drv'],
    ['/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05', 'nixos-system-web-24.05'],
    ['ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14', 'openssl-3.0.14'],
    ['/gnu/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52', 'glibc-2.39-52'],
    // `e`, `o`, `t` and `u` are not in Nix's base-32 alphabet, so this is no store path hash.
    ['/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-foo', 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-foo'],
    ['/nix/store/short-hash-foo', 'short-hash-foo'],
    ['/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcyglibc', 'v7h9g3bh0n2m4fww968qw16s7f8aavcyglibc']
  ])('%s → %s', (path, name) => {
    expect(storePathName(path)).toBe(name)
  })
})

// nvd's own answers: its parse_pname_version and merge_pnames (github:azuwis/nvd, nvd 0.2.5) run on each input.
describe('splitPackageName', () => {
  test.each([
    ['openssl-3.0.14', 'openssl', '3.0.14'],
    ['unit--.slice', 'unit--.slice', ''],
    ['unit--.mount', 'unit--.mount', ''],
    ['hello-.5', 'hello-.5', ''],
    ['foo-bar-1a', 'foo-bar', '1a'],
    ['firmware-_x', 'firmware-_x', ''],
    ['a--1', 'a-', '1'],
    ['-1', '-1', ''],
    ['a-', 'a-', ''],
    ['linux-6.6.30-modules', 'linux', '6.6.30-modules'],
    ['glibc-2.39-52-bin', 'glibc', '2.39-52-bin'],
    ['python3.11-requests-2.31.0', 'python3.11-requests', '2.31.0'],
    ['perl5.38.2-Test-Fatal-0.017', 'perl5.38.2-Test-Fatal', '0.017'],
    ['unit-systemd-fsck-.service', 'unit-systemd-fsck-.service', ''],
    ['nixos-system-web-24.05', 'nixos-system-web', '24.05'],
    ['foo-1.0.drv', 'foo', '1.0'],
    ['foo.drv', 'foo', ''],
    ['foo-1.drv.drv', 'foo', '1.drv'],
    ['etc', 'etc', ''],
    ['system-path', 'system-path', ''],
    ['x-1-2-3', 'x', '1-2-3'],
    ['a-b-c', 'a-b-c', ''],
    ['source', 'source', ''],
    ['hook-0', 'hook', '0'],
    ['kde-frameworks-5.116', 'kde-frameworks', '5.116']
  ])('%j → name %j, version %j', (full, name, version) => {
    expect(splitPackageName(full)).toEqual({ name, version })
  })
})

describe('mergeRenamed', () => {
  test.each([
    ['python3.11-requests', 'python3.12-requests', 'python3.{11->12}-requests'],
    ['gcc12', 'gcc13', 'gcc{12->13}'],
    ['lua5.3-lpeg', 'lua5.10-lpeg', 'lua5.{3->10}-lpeg'],
    ['lua5.3-lpeg', 'lua5.4-lpeg', 'lua5.{3->4}-lpeg'],
    ['libfoo', 'libbar', undefined],
    ['qt5-base', 'qt6-qtbase', undefined],
    ['foo', 'foo', undefined],
    ['foo1', 'bar1', undefined],
    ['1foo', '2foo', undefined],
    ['12', '13', undefined],
    ['python311Packages.x', 'python312Packages.x', 'python{311->312}Packages.x'],
    ['hello-.5', 'hello-.6', 'hello-.{5->6}'],
    ['linux_6_6-x', 'linux_6_7-x', 'linux_6_{6->7}-x'],
    ['foo-1a', 'foo-2b', 'foo-{1a->2b}'],
    ['abc', 'abd', undefined],
    ['ab1', 'ab', undefined],
    ['x1.2y', 'x1.3y', 'x1.{2->3}y'],
    ['node18', 'node20', 'node{18->20}'],
    ['a9b', 'a10b', 'a{9->10}b'],
    ['llvm-15', 'llvm-16', 'llvm-{15->16}'],
    ['v1-x', 'v2_x', undefined],
    ['perl5.38.2-Foo', 'perl5.40.0-Foo', 'perl5.{38.2->40.0}-Foo']
  ])('%j and %j → %j', (before, after, merged) => {
    expect(mergeRenamed(before, after)).toBe(merged)
  })
})

describe('versionComponents', () => {
  test.each([
    ['3.0.14', ['3', '0', '14']],
    ['2.39-52-bin', ['2', '39', '52', 'bin']],
    ['1.0pre3', ['1', '0', 'pre', '3']],
    ['', []],
    ['..1--a', ['1', 'a']],
    ['6.6.30-modules', ['6', '6', '30', 'modules']],
    ['2.3a', ['2', '3', 'a']],
    ['1.2.3rc4.5', ['1', '2', '3', 'rc', '4', '5']],
    ['0-unstable-2024-05-31', ['0', 'unstable', '2024', '05', '31']],
    ['5.2p26', ['5', '2', 'p', '26']],
    ['a.b', ['a', 'b']],
    ['007', ['007']]
  ])('%j → %j', (version, parts) => {
    expect(versionComponents(version)).toEqual(parts)
  })
})

describe('compareVersions', () => {
  test.each([
    ['1.0', '2.3', -1],
    ['2.1', '2.3', -1],
    ['2.3', '2.3', 0],
    ['2.5', '2.3', 1],
    ['3.1', '2.3', 1],
    ['2.3.1', '2.3', 1],
    ['2.3.1', '2.3a', 1],
    ['2.3a', '2.3.1', -1],
    ['2.3pre1', '2.3', -1],
    ['2.3pre3', '2.3pre12', -1],
    ['2.3a', '2.3c', -1],
    ['2.3pre1', '2.3c', -1],
    ['2.3pre1', '2.3q', -1],
    ['1.0pre', '1.0', -1],
    ['1.0', '1.0pre', 1],
    ['1pre', '1a', -1],
    ['pre', '', -1],
    ['', 'pre', 1],
    ['pre', 'pre', 0],
    ['1.0', '1.0.0', -1],
    ['1.0.0', '1.0', 1],
    ['1.0.0', '1.0.0.0', -1],
    ['007', '7', 0],
    ['1.01', '1.1', 0],
    ['1.010', '1.9', 1],
    ['1.2.3', '1.2.10', -1],
    ['1.2.10', '1.2.3', 1],
    ['2.39-52', '2.39-100', -1],
    ['3.0.13', '3.0.14', -1],
    ['6.6.30-modules', '6.6.31-modules', -1],
    ['0-unstable-2024-05-31', '0-unstable-2024-06-01', -1],
    ['20240531', '20240601', -1],
    ['1a', '1', 1],
    ['1', '1a', -1],
    ['1.0-rc1', '1.0', 1],
    ['1.0', '1.0-rc1', -1],
    ['alpha', 'beta', -1],
    ['1.0alpha', '1.0beta', -1],
    ['a', 'b', -1],
    ['b', 'a', 1],
    ['2.3', '2.3.', 0],
    ['1.0', '1-0', 0],
    ['0', '', 1],
    ['', '0', -1],
    ['a', '', 1],
    ['', 'a', -1],
    ['', '', 0],
    // A run of digits that does not fit a C int compares as text.
    ['1.99999999999', '1.100000000000', 1],
    ['2147483647', '2147483648', 1],
    ['2147483648', '2147483649', -1],
    ['20240531123456', '9', -1],
    ['00000000000012', '13', -1],
    ['1.2147483647', '1.2147483646', 1],
    ['1.2147483648', '1.2147483647', -1],
    ['1.02147483648', '1.2147483648', -1],
    ['1.99999999999', '1.a', -1],
    ['1.pre', '1.99999999999', -1],
    ['1.99999999999', '1', 1],
    // Characters other than `.` and `-` belong to a component (nvd drops them; Nix does not).
    ['1.0+git', '1.0.git', -1],
    ['1.0_1', '1.0.1', -1],
    ['5.2p26', '5.2-p26', 0],
    ['24.05pre-git', '24.05', -1]
  ])('compareVersions(%j, %j) = %d', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected)
  })
})
