/**
 * GitHub's side of the test forge: the REST subset the action uses and the auto-merge GraphQL mutation.
 * Sources: docs.github.com/rest/pulls/pulls, docs.github.com/rest/issues/labels, GitHub's OpenAPI description
 * (@octokit/openapi-types) and GraphQL schema (@octokit/graphql-schema), and the error bodies GitHub is seen to
 * send (Validation Failed with resource/field/code errors).
 */
import * as fs from 'fs'
import * as http from 'http'
import * as os from 'os'
import * as path from 'path'
import { URL } from 'url'
import { FaultResponse } from './faults'
import { basicUser } from './githttp'
import {
  Ctx,
  ForgeApi,
  ForgeProfile,
  ForgeState,
  Json,
  Page,
  Reply,
  TestComment,
  TestPull,
  authScheme,
  intParam,
  isObj,
  now,
  sameName,
  str,
  strings
} from './repository'

export const githubProfile: ForgeProfile = {
  repoId: 700001,
  ownerId: 5000001,
  firstLabelId: 208045946,
  pullId: n => 1900000000 + n,
  userJson: owner => ({ login: owner, id: 5000001, node_id: 'U_5000001', type: 'User', site_admin: false }),
  mergeMessage: (owner, p) => `Merge pull request #${p.number} from ${owner}/${p.head}\n\n${p.title}`
}

/** GitHub serves its REST API at the root of its API host. */
export const githubApiPath = ''

/**
 * GitHub's primary rate limit as it answers it: 403 (or 429) with `x-ratelimit-remaining: 0` and the reset time
 * (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
 */
export function githubRateLimited(resetInSeconds: number, status = 403): FaultResponse {
  return {
    status,
    headers: {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-used': '5000',
      'x-ratelimit-resource': 'core',
      'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000 + resetInSeconds))
    },
    body: {
      message: `API rate limit exceeded for user ID ${githubProfile.ownerId}.`,
      documentation_url:
        'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit',
      status: String(status)
    }
  }
}

/** GitHub's secondary rate limit: 403 with Retry-After. */
export function githubSecondaryRateLimited(retryAfterSeconds: number): FaultResponse {
  return {
    status: 403,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: {
      message:
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.',
      documentation_url:
        'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
      status: '403'
    }
  }
}

/**
 * A secondary rate limit that names no time: 403 (or 429) without Retry-After, requests remaining. GitHub then
 * asks clients to wait at least one minute (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
 * "Handle rate limit errors appropriately").
 */
export function githubSecondaryRateLimitedUntimed(status = 403): FaultResponse {
  return {
    status,
    headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4990', 'x-ratelimit-resource': 'core' },
    body: {
      message:
        'You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later. If you reach out to GitHub Support for help, please include the request ID.',
      documentation_url:
        'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
      status: String(status)
    }
  }
}

/** A permission refusal: 403 without rate-limit headers, final. */
export const githubForbidden: FaultResponse = {
  status: 403,
  body: {
    message: 'Resource not accessible by integration',
    documentation_url: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
    status: '403'
  }
}

export function githubApi(s: ForgeState): ForgeApi {
  const { git, pulls, labels, owner, repo, fullName, repoId, serverUrl, apiUrl, userJson } = s
  const { token } = s.options
  const autoMergeAllowed = s.options.autoMergeAllowed ?? true
  const gitUrl = s.gitUrl
  const defaultBranch = s.defaultBranch

  function ghLabelJson(name: string): Json {
    const l = s.labelByName(name) ?? { id: 0, name }
    return {
      id: l.id,
      node_id: `LA_${Buffer.from(String(l.id)).toString('base64url')}`,
      url: `${apiUrl}/repos/${fullName}/labels/${encodeURIComponent(l.name)}`,
      name: l.name,
      color: 'ededed',
      default: false,
      description: null
    }
  }

  function ghRepoJson(): Json {
    return {
      id: repoId,
      node_id: `R_kgDO${Buffer.from(String(repoId)).toString('base64url')}`,
      name: repo,
      full_name: fullName,
      private: true,
      owner: userJson,
      html_url: `${serverUrl}/${fullName}`,
      url: `${apiUrl}/repos/${fullName}`,
      clone_url: gitUrl,
      default_branch: defaultBranch,
      // Tokens without admin rights do not see the merge settings.
      ...(s.options.hideMergeSettings
        ? {}
        : {
            allow_auto_merge: autoMergeAllowed,
            allow_merge_commit: s.mergeStyles.includes('merge'),
            allow_squash_merge: s.mergeStyles.includes('squash'),
            allow_rebase_merge: s.mergeStyles.includes('rebase')
          }),
      delete_branch_on_merge: false,
      archived: false,
      disabled: false,
      visibility: 'private',
      permissions: { admin: true, maintain: true, push: true, triage: true, pull: true }
    }
  }

  function ghPullJson(p: TestPull): Json {
    const m = s.metaOf(p)
    const base = `${apiUrl}/repos/${fullName}`
    const repoJson = ghRepoJson()
    return {
      url: `${base}/pulls/${p.number}`,
      id: m.id,
      node_id: m.nodeId,
      html_url: `${serverUrl}/${fullName}/pull/${p.number}`,
      diff_url: `${serverUrl}/${fullName}/pull/${p.number}.diff`,
      patch_url: `${serverUrl}/${fullName}/pull/${p.number}.patch`,
      issue_url: `${base}/issues/${p.number}`,
      commits_url: `${base}/pulls/${p.number}/commits`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: userJson,
      body: p.body === '' ? null : p.body,
      labels: p.labels.map(ghLabelJson),
      milestone: null,
      active_lock_reason: null,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      closed_at: m.closedAt,
      merged_at: m.mergedAt,
      merge_commit_sha: m.mergeCommitSha,
      assignee: p.assignees.length ? { ...userJson, login: p.assignees[0] } : null,
      assignees: p.assignees.map(login => ({ ...userJson, login })),
      requested_reviewers: p.reviewers.map(login => ({ ...userJson, login })),
      requested_teams: [],
      head: { label: `${owner}:${p.head}`, ref: p.head, sha: p.headSha, user: userJson, repo: repoJson },
      base: {
        label: `${owner}:${p.base}`,
        ref: p.base,
        sha: git.branch(p.base) ?? '',
        user: userJson,
        repo: repoJson
      },
      author_association: 'OWNER',
      auto_merge: p.autoMerge
        ? {
            enabled_by: userJson,
            merge_method: p.autoMergeMethod ?? 'merge',
            commit_title: '',
            commit_message: ''
          }
        : null,
      draft: p.draft,
      merged: p.merged,
      mergeable: p.state === 'open' ? true : null,
      mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
      merged_by: p.merged ? userJson : null,
      maintainer_can_modify: false
    }
  }

  const ghDoc = 'https://docs.github.com/rest'
  const ghNotFound = (doc = ghDoc): Reply => ({
    status: 404,
    body: { message: 'Not Found', documentation_url: doc, status: '404' }
  })
  const ghValidation = (error: Json, doc: string): Reply => ({
    status: 422,
    body: {
      message: 'Validation Failed',
      errors: [{ resource: 'PullRequest', ...error }],
      documentation_url: doc,
      status: '422'
    }
  })

  function ghPage<T>(ctx: Ctx, items: T[], listPath: string): Page<T> {
    const perPage = Math.min(Math.max(intParam(ctx.url.searchParams.get('per_page'), 30), 1), 100)
    const page = Math.max(intParam(ctx.url.searchParams.get('page'), 1), 1)
    const last = Math.max(Math.ceil(items.length / perPage), 1)
    const link = (n: number, rel: string): string => {
      const q = new URLSearchParams(ctx.url.searchParams)
      q.set('page', String(n))
      return `<${apiUrl}/repositories/${repoId}/${listPath}?${q.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page > 1) links.push(link(page - 1, 'prev'))
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
    if (page > 1) links.push(link(1, 'first'))
    return {
      page: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length ? { Link: links.join(', ') } : {}
    }
  }

  const ghCreateDoc = 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request'

  function ghListPulls(ctx: Ctx): Reply {
    const q = ctx.url.searchParams
    const state = q.get('state') ?? 'open'
    let list = pulls.filter(p => state === 'all' || p.state === state)
    // GitHub silently ignores a head filter without the `owner:` part.
    const head = q.get('head')
    if (head && head.includes(':')) {
      const [o, ...rest] = head.split(':')
      const branch = rest.join(':')
      list = sameName(o, owner) ? list.filter(p => p.head === branch) : []
    }
    const base = q.get('base')
    if (base) list = list.filter(p => p.base === base)
    const asc =
      (q.get('direction') ?? (q.get('sort') && q.get('sort') !== 'created' ? 'asc' : 'desc')) === 'asc'
    const byUpdated = q.get('sort') === 'updated'
    list = [...list].sort((a, b) => {
      const ka = byUpdated ? s.metaOf(a).updatedAt : String(a.number).padStart(10, '0')
      const kb = byUpdated ? s.metaOf(b).updatedAt : String(b.number).padStart(10, '0')
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * (asc ? 1 : -1)
    })
    const { page, headers } = ghPage(ctx, list, 'pulls')
    return { status: 200, body: page.map(ghPullJson), headers }
  }

  function ghCreatePull(ctx: Ctx): Reply {
    const b = ctx.body
    if (!isObj(b))
      return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: ghCreateDoc } }
    const headIn = str(b.head)
    const base = str(b.base)
    if (!headIn) return ghValidation({ field: 'head', code: 'missing_field' }, ghCreateDoc)
    if (!base) return ghValidation({ field: 'base', code: 'missing_field' }, ghCreateDoc)
    const title = str(b.title)
    if (title === undefined && b.issue === undefined) {
      return ghValidation({ field: 'title', code: 'missing_field' }, ghCreateDoc)
    }
    let head = headIn
    const colon = headIn.indexOf(':')
    if (colon >= 0) {
      if (!sameName(headIn.slice(0, colon), owner))
        return ghValidation({ field: 'head', code: 'invalid' }, ghCreateDoc)
      head = headIn.slice(colon + 1)
    }
    const baseSha = git.branch(base)
    if (!baseSha) return ghValidation({ field: 'base', code: 'invalid' }, ghCreateDoc)
    const headSha = git.branch(head)
    if (!headSha) return ghValidation({ field: 'head', code: 'invalid' }, ghCreateDoc)
    if (s.openPullFor(head, base)) {
      return ghValidation(
        { code: 'custom', message: `A pull request already exists for ${owner}:${head}.` },
        ghCreateDoc
      )
    }
    if (git.countBetween(baseSha, headSha) === 0) {
      return ghValidation({ code: 'custom', message: `No commits between ${base} and ${head}` }, ghCreateDoc)
    }
    const p = s.createPull({
      title: title ?? '',
      body: str(b.body) ?? '',
      head,
      base,
      draft: b.draft === true,
      labels: [],
      assignees: []
    })
    const json = ghPullJson(p)
    return { status: 201, body: json, headers: { Location: String(json.url) } }
  }

  function ghUpdatePull(ctx: Ctx, p: TestPull): Reply {
    const doc = 'https://docs.github.com/rest/pulls/pulls#update-a-pull-request'
    const b = ctx.body
    if (!isObj(b)) return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: doc } }
    const base = str(b.base)
    if (base !== undefined && base !== p.base) {
      if (!git.branch(base)) return ghValidation({ field: 'base', code: 'invalid' }, doc)
    }
    const state = str(b.state)
    if (state !== undefined && state !== 'open' && state !== 'closed') {
      return ghValidation({ field: 'state', code: 'invalid' }, doc)
    }
    if (state === 'open' && p.state === 'closed' && !p.merged) {
      if (s.openPullFor(p.head, base ?? p.base)) {
        return ghValidation(
          { code: 'custom', message: `A pull request already exists for ${owner}:${p.head}.` },
          doc
        )
      }
    }
    const title = str(b.title)
    if (title !== undefined) p.title = title
    if (b.body !== undefined) p.body = str(b.body) ?? ''
    if (base !== undefined) p.base = base
    if ((state === 'open' || state === 'closed') && !p.merged) s.setState(p, state)
    s.metaOf(p).updatedAt = now()
    return { status: 200, body: ghPullJson(p) }
  }

  function ghAddLabels(ctx: Ctx, p: TestPull, replace: boolean): Reply {
    const b = ctx.body
    let raw: unknown[]
    if (Array.isArray(b)) raw = b
    else if (isObj(b) && Array.isArray(b.labels)) raw = b.labels
    else {
      return {
        status: 422,
        body: {
          message: 'Invalid request.',
          documentation_url: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
          status: '422'
        }
      }
    }
    const names: string[] = []
    for (const v of raw) {
      const name = typeof v === 'string' ? v : isObj(v) ? str(v.name) : undefined
      if (name) names.push(name)
    }
    if (replace) p.labels = []
    for (const name of names) {
      // GitHub creates labels that the repository does not have yet.
      const l = s.labelByName(name) ?? s.addLabel(name)
      if (!p.labels.some(x => sameName(x, l.name))) p.labels.push(l.name)
    }
    s.metaOf(p).updatedAt = now()
    return { status: 200, body: p.labels.map(ghLabelJson) }
  }

  /**
   * docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request: 201 with the pull request;
   * 422 for the whole request when one name may not review, without naming it. The messages as GitHub sends them
   * (quoted in peter-evans/create-pull-request#4138 and denog/routing-guide#118).
   */
  function ghRequestReviewers(ctx: Ctx, p: TestPull): Reply {
    const doc = 'https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request'
    const b = ctx.body
    const reviewers = isObj(b) ? strings(b.reviewers) : []
    const refuse = (message: string): Reply => ({
      status: 422,
      body: { message, documentation_url: doc, status: '422' }
    })
    if (reviewers.some(r => sameName(r, owner)))
      return refuse('Review cannot be requested from pull request author.')
    if (reviewers.some(r => !s.collaborator(r))) {
      return refuse(
        `Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the ${fullName} repository.`
      )
    }
    for (const r of reviewers) {
      const login = s.collaborator(r) as string
      if (!p.reviewers.includes(login)) p.reviewers.push(login)
    }
    s.metaOf(p).updatedAt = now()
    return { status: 201, body: ghPullJson(p) }
  }

  /**
   * docs.github.com/rest/issues/assignees#add-assignees-to-an-issue: adds (never replaces) and answers 201 with
   * the issue; names that cannot be assigned are silently ignored (the OpenAPI description's note on
   * `assignees`), so only the answer's list tells.
   */
  function ghAddAssignees(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    for (const name of isObj(b) ? strings(b.assignees) : []) {
      const login = s.collaborator(name)
      if (login && !p.assignees.includes(login)) p.assignees.push(login)
    }
    s.metaOf(p).updatedAt = now()
    const pr = ghPullJson(p)
    return {
      status: 201,
      body: {
        url: pr.issue_url,
        html_url: pr.html_url,
        number: p.number,
        state: p.state,
        title: p.title,
        body: pr.body,
        user: userJson,
        labels: pr.labels,
        assignee: pr.assignee,
        assignees: pr.assignees,
        pull_request: { url: pr.url, html_url: pr.html_url }
      }
    }
  }

  /**
   * GraphQL createCommitOnBranch (docs.github.com/graphql/reference/mutations#createcommitonbranch and the input
   * objects CreateCommitOnBranchInput, CommittableBranch, CommitMessage, FileChanges, FileAddition): the input
   * through the `$input` variable, contents in base64, `expectedHeadOid` required and compared with the branch's
   * tip. GitHub commits as the token's account with itself as committer, and signs; the double records the
   * committer (it has no key to sign with). Error wordings here are the double's own.
   */
  function ghCreateCommitOnBranch(variables: Record<string, unknown>): Reply {
    const gqlError = (type: string, message: string): Reply => ({
      status: 200,
      body: {
        data: { createCommitOnBranch: null },
        errors: [{ type, path: ['createCommitOnBranch'], message }]
      }
    })
    const input = isObj(variables.input) ? variables.input : undefined
    const branchIn = input && isObj(input.branch) ? input.branch : undefined
    const message = input && isObj(input.message) ? input.message : undefined
    const changes = input && isObj(input.fileChanges) ? input.fileChanges : undefined
    const expected = input ? str(input.expectedHeadOid) : undefined
    const headline = message ? str(message.headline) : undefined
    if (!branchIn || !headline || !expected) {
      return gqlError(
        'INVALID',
        'Variable $input of type CreateCommitOnBranchInput! was provided invalid value'
      )
    }
    if (!sameName(str(branchIn.repositoryNameWithOwner) ?? '', fullName)) {
      return gqlError(
        'NOT_FOUND',
        `Could not resolve to a Repository with the name '${str(branchIn.repositoryNameWithOwner)}'.`
      )
    }
    const name = str(branchIn.branchName) ?? ''
    const tip = git.branch(name)
    if (!tip) return gqlError('NOT_FOUND', `A ref named "refs/heads/${name}" does not exist.`)
    if (tip !== expected) {
      return gqlError(
        'STALE_DATA',
        `Expected branch to point to "${expected}" but it did not (expectedHeadOid)`
      )
    }
    const additions = changes && Array.isArray(changes.additions) ? changes.additions : []
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forge-commit-'))
    try {
      const index = { GIT_INDEX_FILE: path.join(scratch, 'index') }
      git.git(['read-tree', tip], index)
      for (const [i, a] of additions.entries()) {
        const file = isObj(a) ? str(a.path) : undefined
        const contents = isObj(a) ? str(a.contents) : undefined
        if (!file || contents === undefined)
          return gqlError('INVALID', `fileChanges.additions[${i}] is invalid`)
        const blobFile = path.join(scratch, `blob-${i}`)
        fs.writeFileSync(blobFile, Buffer.from(contents, 'base64'))
        const blob = git.git(['hash-object', '-w', blobFile])
        git.git(['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], index)
      }
      const tree = git.git(['write-tree'], index)
      const body = message ? (str(message.body) ?? '') : ''
      const oid = git.git(
        ['commit-tree', tree, '-p', tip, '-m', body ? `${headline}\n\n${body}` : headline],
        {
          GIT_AUTHOR_NAME: owner,
          GIT_AUTHOR_EMAIL: `${githubProfile.ownerId}+${owner}@users.noreply.github.com`,
          GIT_COMMITTER_NAME: 'GitHub',
          GIT_COMMITTER_EMAIL: 'noreply@github.com'
        }
      )
      git.git(['update-ref', `refs/heads/${name}`, oid, tip])
      return {
        status: 200,
        body: {
          data: { createCommitOnBranch: { commit: { oid, url: `${serverUrl}/${fullName}/commit/${oid}` } } }
        }
      }
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true })
    }
  }

  /**
   * REST git references (docs.github.com/rest/git/refs): create answers 201, 422 "Reference already exists";
   * delete answers 204, 422 "Reference does not exist".
   */
  function ghRefs(ctx: Ctx, rest: string[]): Reply {
    const doc = 'https://docs.github.com/rest/git/refs'
    const refuse = (message: string): Reply => ({
      status: 422,
      body: { message, documentation_url: doc, status: '422' }
    })
    if (ctx.method === 'POST' && rest.length === 2) {
      const b = ctx.body
      const ref = isObj(b) ? str(b.ref) : undefined
      const sha = isObj(b) ? str(b.sha) : undefined
      if (!ref || !/^refs\/[^/]+\/.+/.test(ref)) {
        return refuse("Reference name must start with 'refs/' and have at least two slashes.")
      }
      if (!sha || !git.revParse(sha)) return refuse('Object does not exist')
      if (git.revParse(ref)) return refuse('Reference already exists')
      git.git(['update-ref', ref, sha, ''])
      return {
        status: 201,
        body: { ref, url: `${apiUrl}/repos/${fullName}/git/${ref}`, object: { type: 'commit', sha } }
      }
    }
    if (ctx.method === 'DELETE' && rest[2] === 'heads' && rest.length > 3) {
      const ref = `refs/heads/${rest.slice(3).join('/')}`
      if (!git.revParse(ref)) return refuse('Reference does not exist')
      git.git(['update-ref', '-d', ref])
      return { status: 204 }
    }
    return ghNotFound(doc)
  }

  function ghGraphql(ctx: Ctx): Reply {
    const b = ctx.body
    if (ctx.method !== 'POST') return ghNotFound('https://docs.github.com/graphql')
    if (!isObj(b) || typeof b.query !== 'string') {
      return {
        status: 200,
        body: { errors: [{ message: 'A query attribute must be specified and must be a string.' }] }
      }
    }
    const query = b.query
    const variables = isObj(b.variables) ? b.variables : {}
    if (/\bcreateCommitOnBranch\b/.test(query)) return ghCreateCommitOnBranch(variables)
    const field = /\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\b/.exec(query)
    if (!field) {
      return {
        status: 200,
        body: {
          errors: [
            {
              message:
                'The test forge only answers enablePullRequestAutoMerge and disablePullRequestAutoMerge.'
            }
          ]
        }
      }
    }
    const mutation = field[1]
    const before = query.slice(0, field.index)
    const location = { line: before.split('\n').length, column: field.index - before.lastIndexOf('\n') }
    const candidates: string[] = []
    const collect = (v: unknown): void => {
      if (typeof v === 'string') candidates.push(v)
      else if (Array.isArray(v)) v.forEach(collect)
      else if (isObj(v)) Object.values(v).forEach(collect)
    }
    collect(variables)
    const inline = /pullRequestId\s*:\s*"([^"]+)"/.exec(query)
    if (inline) candidates.unshift(inline[1])
    const p = pulls.find(x => candidates.includes(s.metaOf(x).nodeId))
    const gqlError = (type: string, message: string): Reply => ({
      status: 200,
      body: {
        data: { [mutation]: null },
        errors: [{ type, path: [mutation], locations: [location], message }]
      }
    })
    if (!p) {
      const id = candidates[0] ?? ''
      return gqlError('NOT_FOUND', `Could not resolve to a node with the global id of '${id}'`)
    }
    // mergeMethod is optional and defaults to MERGE; given inline or through a variable.
    const methodMatch = /mergeMethod\s*:\s*([A-Z_]+)/.exec(query)
    const varMethod = Object.values(variables).find(v => v === 'MERGE' || v === 'SQUASH' || v === 'REBASE')
    const mergeMethod = methodMatch?.[1] ?? str(varMethod) ?? 'MERGE'
    if (mutation === 'enablePullRequestAutoMerge') {
      if (!autoMergeAllowed) return gqlError('UNPROCESSABLE', 'Auto merge is not allowed for this repository')
      if (p.state !== 'open')
        return gqlError('UNPROCESSABLE', `Pull request is in ${p.merged ? 'merged' : 'closed'} state`)
      const style = mergeMethod.toLowerCase()
      if (!s.mergeStyles.includes(style)) {
        const what = style === 'merge' ? 'merge commits' : `${style} merges`
        return gqlError('UNPROCESSABLE', `Merge method ${what} are not allowed on this repository`)
      }
      if (s.options.branchProtection === false)
        return gqlError('UNPROCESSABLE', 'Protected branch rules not configured for this branch')
      // Without a required check pending the pull request is mergeable now, and GitHub refuses auto-merge.
      if (s.options.requiredChecks === false)
        return gqlError('UNPROCESSABLE', 'Pull request Pull request is in clean status')
      p.autoMerge = true
      p.autoMergeMethod = style
    } else {
      p.autoMerge = false
    }
    s.metaOf(p).updatedAt = now()
    return {
      status: 200,
      body: {
        data: {
          [mutation]: {
            clientMutationId: null,
            pullRequest: {
              id: s.metaOf(p).nodeId,
              number: p.number,
              url: `${serverUrl}/${fullName}/pull/${p.number}`,
              autoMergeRequest: p.autoMerge ? { enabledAt: now(), mergeMethod } : null
            }
          }
        }
      }
    }
  }

  const commentsDoc = 'https://docs.github.com/rest/issues/comments'
  // Issue comments (docs.github.com/rest/issues/comments; the IssueComment schema of @octokit/openapi-types): a pull
  // request's conversation. Lists are oldest first, `per_page` up to 100 with Link headers; a body is at most
  // 65,536 characters (422 Validation Failed beyond).
  function ghCommentJson(c: TestComment): Json {
    return {
      id: c.id,
      node_id: `IC_kwDO${Buffer.from(String(c.id)).toString('base64url')}`,
      url: `${apiUrl}/repos/${fullName}/issues/comments/${c.id}`,
      html_url: `${serverUrl}/${fullName}/pull/${c.issue}#issuecomment-${c.id}`,
      body: c.body,
      user: { ...userJson, login: c.poster },
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      issue_url: `${apiUrl}/repos/${fullName}/issues/${c.issue}`,
      author_association: 'OWNER',
      performed_via_github_app: null
    }
  }

  function ghCommentBody(ctx: Ctx, doc: string): string | Reply {
    const b = ctx.body
    const body = isObj(b) ? str(b.body) : undefined
    if (body === undefined) {
      return {
        status: 422,
        body: {
          message: 'Invalid request.\n\n"body" wasn\'t supplied.',
          documentation_url: doc,
          status: '422'
        }
      }
    }
    if (body.length > 65536) {
      return {
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'IssueComment',
              code: 'custom',
              field: 'body',
              message: 'body is too long (maximum is 65536 characters)'
            }
          ],
          documentation_url: doc,
          status: '422'
        }
      }
    }
    return body
  }

  function github(ctx: Ctx): Reply {
    if (ctx.pathname === '/graphql') return ghGraphql(ctx)
    let segs = ctx.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    // Link headers name the repository by id; clients follow them verbatim.
    if (segs[0] === 'repositories' && segs[1] === String(repoId))
      segs = ['repos', owner, repo, ...segs.slice(2)]
    if (segs[0] !== 'repos' || segs.length < 3 || !sameName(segs[1], owner) || !sameName(segs[2], repo)) {
      return ghNotFound()
    }
    const rest = segs.slice(3)
    const m = ctx.method
    if (rest.length === 0) return m === 'GET' ? { status: 200, body: ghRepoJson() } : ghNotFound()
    if (rest[0] === 'git' && rest[1] === 'refs') return ghRefs(ctx, rest)
    if (rest[0] === 'labels' && rest.length === 1 && m === 'GET') {
      const { page, headers } = ghPage(ctx, labels, 'labels')
      return { status: 200, body: page.map(l => ghLabelJson(l.name)), headers }
    }
    if (rest[0] === 'pulls' && rest.length === 1) {
      if (m === 'GET') return ghListPulls(ctx)
      if (m === 'POST') return ghCreatePull(ctx)
      return ghNotFound()
    }
    if (rest[0] === 'issues' && rest[1] === 'comments' && /^\d+$/.test(rest[2] ?? '') && rest.length === 3) {
      const c = s.comments.find(x => x.id === parseInt(rest[2], 10))
      if (!c) return ghNotFound(`${commentsDoc}#get-an-issue-comment`)
      if (m === 'GET') return { status: 200, body: ghCommentJson(c) }
      if (m === 'PATCH') {
        const body = ghCommentBody(ctx, `${commentsDoc}#update-an-issue-comment`)
        if (typeof body !== 'string') return body
        c.body = body
        c.updatedAt = now()
        return { status: 200, body: ghCommentJson(c) }
      }
      return ghNotFound()
    }
    if ((rest[0] === 'pulls' || rest[0] === 'issues') && /^\d+$/.test(rest[1] ?? '')) {
      const p = s.pullByNumber(parseInt(rest[1], 10))
      const getDoc = 'https://docs.github.com/rest/pulls/pulls#get-a-pull-request'
      if (!p) return ghNotFound(getDoc)
      const tail = rest.slice(2)
      if (rest[0] === 'pulls' && tail.length === 0) {
        if (m === 'GET') return { status: 200, body: ghPullJson(p) }
        if (m === 'PATCH') return ghUpdatePull(ctx, p)
        return ghNotFound()
      }
      if (rest[0] === 'pulls' && tail[0] === 'merge' && tail.length === 1) {
        if (m === 'GET') return p.merged ? { status: 204 } : ghNotFound()
        if (m === 'PUT') {
          if (p.state !== 'open') {
            return {
              status: 405,
              body: { message: 'Pull Request is not mergeable', documentation_url: ghDoc }
            }
          }
          s.mergePull(p.number)
          return {
            status: 200,
            body: {
              sha: s.metaOf(p).mergeCommitSha,
              merged: true,
              message: 'Pull Request successfully merged'
            }
          }
        }
        return ghNotFound()
      }
      if (rest[0] === 'pulls' && tail[0] === 'requested_reviewers' && tail.length === 1 && m === 'POST') {
        return ghRequestReviewers(ctx, p)
      }
      if (rest[0] === 'issues' && tail[0] === 'assignees' && tail.length === 1 && m === 'POST') {
        return ghAddAssignees(ctx, p)
      }
      if (rest[0] === 'issues' && tail[0] === 'comments' && tail.length === 1) {
        if (m === 'GET') {
          const all = s.comments.filter(c => c.issue === p.number)
          const { page, headers } = ghPage(ctx, all, `issues/${p.number}/comments`)
          return { status: 200, body: page.map(ghCommentJson), headers }
        }
        if (m === 'POST') {
          const body = ghCommentBody(ctx, `${commentsDoc}#create-an-issue-comment`)
          if (typeof body !== 'string') return body
          const c = s.addComment(p.number, body, owner, 1200000000)
          const json = ghCommentJson(c)
          return { status: 201, body: json, headers: { Location: String(json.url) } }
        }
      }
      if (rest[0] === 'issues' && tail[0] === 'labels' && tail.length === 1) {
        if (m === 'GET') return { status: 200, body: p.labels.map(ghLabelJson) }
        if (m === 'POST') return ghAddLabels(ctx, p, false)
        if (m === 'PUT') return ghAddLabels(ctx, p, true)
      }
    }
    return ghNotFound()
  }

  function authorize(req: http.IncomingMessage, url: URL): Reply | undefined {
    const header = req.headers.authorization
    let presented: string | undefined
    if (header) {
      const a = authScheme(header)
      if (!a) presented = ''
      else if (a.scheme.toLowerCase() === 'bearer' || a.scheme.toLowerCase() === 'token')
        presented = a.credential
      else if (a.scheme.toLowerCase() === 'basic') presented = basicUser(header, token) ? token : a.credential
      // GitHub rejects a header it cannot parse.
      else presented = ''
    }
    const method = (req.method ?? 'GET').toUpperCase()
    // A pull_request run from a fork gets a GITHUB_TOKEN with read access only, whatever the workflow's
    // `permissions:` asks (docs.github.com/actions/security-for-github-actions/security-guides/automatic-token-authentication):
    // writes answer 403 "Resource not accessible by integration".
    if (presented === token && s.options.forkPullRequestToken && method !== 'GET' && method !== 'HEAD') {
      return { status: 403, body: githubForbidden.body }
    }
    if (presented === token) return undefined
    const doc = url.pathname === '/graphql' ? 'https://docs.github.com/graphql' : ghDoc
    return presented === undefined
      ? { status: 401, body: { message: 'Requires authentication', documentation_url: doc, status: '401' } }
      : { status: 401, body: { message: 'Bad credentials', documentation_url: doc, status: '401' } }
  }

  function handle(ctx: Ctx): Reply {
    if (ctx.bodyError) {
      return {
        status: 400,
        body: { message: 'Problems parsing JSON', documentation_url: ghDoc, status: '400' }
      }
    }
    return github(ctx)
  }

  return { authorize, handle }
}
