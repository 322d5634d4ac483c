import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { readEvent } from '../src/modes/event'
import { parseMode, parseModeSettings, selectMode } from '../src/modes/mode'
import { reviewCommits } from '../src/modes/review'

const A = 'a'.repeat(40)
const B = 'b'.repeat(40)

describe('the mode input', () => {
  test.each([
    ['', undefined],
    ['update', 'update'],
    [' Review ', 'review'],
    ['cache', 'cache']
  ])('%j is %j', (raw, mode) => expect(parseMode(raw)).toBe(mode))

  test('anything else names the input and the values', () => {
    expect(() => parseMode('rebuild')).toThrow(
      `Input 'mode' must be update, review, cache, rollout or empty (chosen from the event), got "rebuild"`
    )
  })

  test('review-base and review-head: one commit each, both or neither, never an option', () => {
    expect(parseModeSettings('review', 'main', B)).toEqual({
      mode: 'review',
      reviewBase: 'main',
      reviewHead: B
    })
    expect(() => parseModeSettings('', '--upload-pack=x', B)).toThrow(
      `Input 'review-base' must name one commit (a sha, a branch or a tag), got "--upload-pack=x"`
    )
    expect(() => parseModeSettings('', 'main..topic', B)).toThrow("Input 'review-base' must name one commit")
    expect(() => parseModeSettings('', '', B)).toThrow(
      "Inputs 'review-base' and 'review-head' go together: give both, or neither"
    )
  })
})

describe('the mode chosen from the event', () => {
  const pull = { number: 3, baseSha: A, headSha: B, baseRef: 'main', fork: false }
  const options = { baseBranch: 'main', pushTo: true }
  test.each([
    ['an input wins', 'update' as const, { name: 'pull_request', pull }, 'update'],
    ['a pull request is reviewed', undefined, { name: 'pull_request', pull }, 'review'],
    [
      'a push to the base with push-to fills the cache',
      undefined,
      { name: 'push', push: { ref: 'refs/heads/main', after: A } },
      'cache'
    ],
    [
      'a push to another branch updates',
      undefined,
      { name: 'push', push: { ref: 'refs/heads/topic', after: A } },
      'update'
    ],
    ['a schedule updates', undefined, { name: 'schedule' }, 'update']
  ])('%s', (_, given, event, mode) => expect(selectMode(given, event, options)).toBe(mode))

  test('a push without push-to updates', () => {
    expect(
      selectMode(
        undefined,
        { name: 'push', push: { ref: 'refs/heads/main', after: A } },
        { ...options, pushTo: false }
      )
    ).toBe('update')
  })
})

describe('the event payload', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-event-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const write = (payload: unknown): string => {
    const file = path.join(dir, `${Math.random()}.json`)
    fs.writeFileSync(file, JSON.stringify(payload))
    return file
  }
  const pr = (headRepo: unknown) => ({
    number: 12,
    pull_request: {
      number: 12,
      base: { ref: 'main', sha: A, repo: { full_name: 'Infra/fleet' } },
      head: { ref: 'topic', sha: B, repo: headRepo }
    }
  })

  test('a pull request from the same repository', () => {
    const env = {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: write(pr({ full_name: 'infra/fleet' }))
    }
    expect(readEvent(env)).toEqual({
      name: 'pull_request',
      pull: { number: 12, baseSha: A, headSha: B, baseRef: 'main', fork: false }
    })
  })

  test('from a fork, or from a deleted fork', () => {
    const fork = {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: write(pr({ full_name: 'someone/fleet' }))
    }
    expect(readEvent(fork).pull?.fork).toBe(true)
    const gone = { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: write(pr(null)) }
    expect(readEvent(gone).pull?.fork).toBe(true)
  })

  test('pull_request_target is not a pull request to build', () => {
    const env = {
      GITHUB_EVENT_NAME: 'pull_request_target',
      GITHUB_EVENT_PATH: write(pr({ full_name: 'x/y' }))
    }
    expect(readEvent(env).pull).toBeUndefined()
  })

  test('a push; an unreadable payload is named, not thrown', () => {
    const push = { GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: write({ ref: 'refs/heads/main', after: A }) }
    expect(readEvent(push).push).toEqual({ ref: 'refs/heads/main', after: A })
    const missing = readEvent({ GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: path.join(dir, 'none.json') })
    expect(missing.problem).toMatch(/the event payload .*none\.json cannot be read/)
  })

  test('a review without a pull request or commits says what it needs', () => {
    expect(() => reviewCommits({}, { name: 'schedule' })).toThrow(
      "Mode 'review' needs the commits to compare: run it on a pull_request event, or set 'review-base' and 'review-head'"
    )
    expect(reviewCommits({ reviewBase: 'main', reviewHead: 'topic' }, { name: '' })).toEqual({
      base: 'main',
      head: 'topic',
      pull: undefined,
      fork: false
    })
  })
})
