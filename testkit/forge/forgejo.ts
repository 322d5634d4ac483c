/**
 * Forgejo's side of the test forge: the /api/v1 subset the action uses, with Forgejo's status codes, JSON
 * shapes and error bodies. Sources (Forgejo server, late 2024): routers/api/v1/repo/pull.go,
 * routers/api/v1/repo/issue_label.go, services/context/api.go, models/issues/pull.go, models/pull/automerge.go,
 * services/auth/oauth2.go, routers/api/shared/middleware.go; and Forgejo's swagger.
 */
import * as http from 'http'
import { URL } from 'url'
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
  TestLabel,
  TestPull,
  authScheme,
  intParam,
  isObj,
  now,
  sameName,
  str,
  strings
} from './repository'

export const forgejoProfile: ForgeProfile = {
  repoId: 7,
  ownerId: 3,
  firstLabelId: 1,
  pullId: n => 1000 + n,
  userJson: owner => ({
    id: 3,
    login: owner,
    login_name: '',
    full_name: '',
    email: `${owner}@example.invalid`,
    username: owner
  }),
  mergeMessage: (_owner, p) => `Merge pull request '${p.title}' (#${p.number}) from ${p.head} into ${p.base}`
}

export const forgejoApiPath = '/api/v1'

export function forgejoApi(s: ForgeState): ForgeApi {
  const { git, pulls, labels, owner, repo, fullName, repoId, serverUrl, apiUrl, userJson } = s
  const { token } = s.options
  const mergeableAfter = s.options.mergeableAfter ?? 0
  const gitUrl = s.gitUrl
  const defaultBranch = s.defaultBranch
  const swaggerUrl = `${serverUrl}/api/swagger`
  // An organisation's labels: listed apart from the repository's, with IDs of their own.
  const orgLabels: TestLabel[] = (s.options.orgLabels ?? []).map((name, i) => ({ id: 1001 + i, name }))
  const isOrg = s.options.orgLabels !== undefined
  const anyLabel = (name: string): TestLabel | undefined =>
    s.labelByName(name) ?? orgLabels.find(l => sameName(l.name, name))

  function fjLabelJson(name: string): Json {
    const l = anyLabel(name) ?? { id: 0, name }
    return {
      id: l.id,
      name: l.name,
      exclusive: false,
      is_archived: false,
      color: 'ededed',
      description: '',
      url: `${apiUrl}/repos/${fullName}/labels/${l.id}`
    }
  }

  function fjRepoJson(): Json {
    return {
      id: repoId,
      owner: userJson,
      name: repo,
      full_name: fullName,
      description: '',
      empty: false,
      private: true,
      fork: false,
      template: false,
      parent: null,
      mirror: false,
      html_url: `${serverUrl}/${fullName}`,
      url: `${apiUrl}/repos/${fullName}`,
      ssh_url: '',
      clone_url: gitUrl,
      default_branch: defaultBranch,
      archived: false,
      has_pull_requests: true,
      has_issues: true,
      allow_merge_commits: s.mergeStyles.includes('merge'),
      allow_rebase: s.mergeStyles.includes('rebase'),
      allow_rebase_explicit: s.mergeStyles.includes('rebase-merge'),
      allow_squash_merge: s.mergeStyles.includes('squash'),
      allow_fast_forward_only_merge: s.mergeStyles.includes('fast-forward-only'),
      allow_rebase_update: true,
      default_merge_style: s.options.defaultMergeStyle ?? 'merge',
      default_allow_maintainer_edit: false,
      permissions: { admin: true, push: true, pull: true }
    }
  }

  function isWip(title: string): boolean {
    const t = title.toUpperCase()
    return t.startsWith('WIP:') || t.startsWith('[WIP]')
  }

  function fjPullJson(p: TestPull): Json {
    const m = s.metaOf(p)
    const html = `${serverUrl}/${fullName}/pulls/${p.number}`
    const repoJson = fjRepoJson()
    const headExists = git.branch(p.head) !== undefined
    return {
      id: m.id,
      // Forgejo fills `url` with the web address, not the API one.
      url: html,
      number: p.number,
      user: userJson,
      title: p.title,
      body: p.body,
      labels: p.labels.map(fjLabelJson),
      milestone: null,
      assignee: p.assignees.length ? { ...userJson, login: p.assignees[0], username: p.assignees[0] } : null,
      assignees: p.assignees.map(login => ({ ...userJson, login, username: login })),
      requested_reviewers: p.reviewers.map(login => ({ ...userJson, login, username: login })),
      requested_reviewers_teams: [],
      state: p.state,
      draft: isWip(p.title),
      is_locked: false,
      comments: 0,
      review_comments: 0,
      additions: 0,
      deletions: 0,
      changed_files: 0,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      mergeable: p.state === 'open',
      merged: p.merged,
      merged_at: m.mergedAt,
      merge_commit_sha: m.mergeCommitSha,
      merged_by: p.merged ? userJson : null,
      allow_maintainer_edit: false,
      base: { label: p.base, ref: p.base, sha: git.branch(p.base) ?? '', repo_id: repoId, repo: repoJson },
      // With its branch deleted, Forgejo reports the pull ref instead of the branch name.
      head: {
        label: p.head,
        ref: headExists ? p.head : `refs/pull/${p.number}/head`,
        sha: p.headSha,
        repo_id: repoId,
        repo: repoJson
      },
      merge_base: m.mergeBase,
      due_date: null,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      closed_at: m.closedAt,
      pin_order: 0
    }
  }

  const fjError = (status: number, message: string): Reply => ({
    status,
    body: { message, url: swaggerUrl }
  })
  const fjNotFound = (...errors: string[]): Reply => ({
    status: 404,
    body: { message: "The target couldn't be found.", url: swaggerUrl, errors }
  })

  function fjPage<T>(ctx: Ctx, items: T[]): Page<T> {
    let limit = intParam(ctx.url.searchParams.get('limit'), 0)
    if (limit <= 0) limit = 30
    if (limit > 50) limit = 50
    const page = Math.max(intParam(ctx.url.searchParams.get('page'), 1), 1)
    const last = Math.max(Math.ceil(items.length / limit), 1)
    const link = (n: number, rel: string): string => {
      const q = new URLSearchParams(ctx.url.searchParams)
      q.set('page', String(n))
      q.sort()
      return `<${serverUrl}${ctx.pathname}?${q.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page < last) links.push(link(page + 1, 'next'))
    if (page !== last) links.push(link(last, 'last'))
    if (page !== 1) links.push(link(1, 'first'))
    if (page > 1) links.push(link(page - 1, 'prev'))
    const headers: Record<string, string> = { 'X-Total-Count': String(items.length) }
    if (links.length) headers.Link = links.join(',')
    return { page: items.slice((page - 1) * limit, page * limit), headers }
  }

  function fjValidateRequired(b: Json, fields: [string, string][]): Reply | undefined {
    for (const [key, label] of fields) {
      const v = b[key]
      if (v === undefined || v === null || v === '') return fjError(422, `[${label}]: Required`)
    }
    return undefined
  }

  function fjIds(v: unknown): number[] {
    return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []
  }

  // Forgejo looks label IDs up and keeps the ones that exist: unknown IDs are dropped without an error.
  // Repository and organisation labels are both accepted.
  function fjLabelNames(ids: number[]): string[] {
    return [...labels, ...orgLabels].filter(l => ids.includes(l.id)).map(l => l.name)
  }

  function fjSplitHead(head: string): { owner?: string; branch: string } {
    const colon = head.indexOf(':')
    if (colon < 0) return { branch: head }
    let o = head.slice(0, colon)
    if (o.includes('/')) o = o.split('/')[0]
    return { owner: o, branch: head.slice(colon + 1) }
  }

  function fjCreatePull(ctx: Ctx): Reply {
    // parseCompareInfo: the automatic token's permissions fail CanReadIssuesOrPulls/CanRead(TypeCode) here.
    if (s.options.automaticToken) {
      return {
        status: 404,
        body: { message: "Can't read pulls or can't read UnitTypeCode", url: swaggerUrl, errors: null }
      }
    }
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const missing = fjValidateRequired(b, [
      ['head', 'Head'],
      ['base', 'Base'],
      ['title', 'Title']
    ])
    if (missing) return missing
    const headIn = str(b.head) ?? ''
    const base = str(b.base) ?? ''
    if (headIn === base) {
      return fjError(422, 'Invalid PullRequest: There are no changes between the head and the base')
    }
    const parts = headIn.split(':')
    if (parts.length > 2) {
      return fjNotFound(
        `the head part of {basehead} ${headIn} must contain zero or one colon (:) but contains ${parts.length - 1}`
      )
    }
    const { owner: headOwner, branch: head } = fjSplitHead(headIn)
    if (headOwner !== undefined && !sameName(headOwner, owner)) {
      return fjNotFound(`the owner ${headOwner} does not exist`)
    }
    if (!git.anyRef(base)) {
      return fjNotFound(
        `could not find '${base}' to be a commit, branch or tag in the base repository ${fullName}`
      )
    }
    if (!git.anyRef(head)) {
      return fjNotFound(
        `could not find '${head}' to be a commit, branch or tag in the head repository ${fullName}`
      )
    }
    const existing = s.openPullFor(head, base)
    if (existing) {
      const m = s.metaOf(existing)
      return fjError(
        409,
        `pull request already exists for these targets [id: ${m.id}, issue_id: ${existing.number}, head_repo_id: ${repoId}, base_repo_id: ${repoId}, head_branch: ${existing.head}, base_branch: ${existing.base}]`
      )
    }
    const assignees = strings(b.assignees)
    const single = str(b.assignee)
    if (single && !assignees.includes(single)) assignees.unshift(single)
    const p = s.createPull({
      title: str(b.title) ?? '',
      body: str(b.body) ?? '',
      head,
      base,
      draft: false,
      labels: fjLabelNames(fjIds(b.labels)),
      assignees
    })
    p.draft = isWip(p.title)
    return { status: 201, body: fjPullJson(p) }
  }

  function fjEditPull(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const title = str(b.title)
    if (title) {
      p.title = title
      p.draft = isWip(title)
    }
    if (typeof b.body === 'string') p.body = b.body
    if (Array.isArray(b.assignees)) p.assignees = strings(b.assignees)
    if (Array.isArray(b.labels)) p.labels = fjLabelNames(fjIds(b.labels))
    const state = str(b.state)
    if (state !== undefined) {
      if (p.merged) return fjError(412, 'cannot change state of this pull request, it was already merged')
      s.setState(p, state === 'closed' ? 'closed' : 'open')
    }
    const base = str(b.base)
    if (!p.merged && base && base !== p.base) {
      if (!git.branch(base)) return fjError(404, `new base '${base}' not exist`)
      p.base = base
    }
    s.metaOf(p).updatedAt = now()
    // Forgejo answers an edit with 201 (a long-standing TODO in its source says it should be 200).
    return { status: 201, body: fjPullJson(p) }
  }

  function fjMerge(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    // Go's JSON decoder matches the untagged `Do` field case-insensitively.
    const doKey = Object.keys(b).find(k => k.toLowerCase() === 'do')
    const action = doKey ? str(b[doKey]) : undefined
    if (!action) return fjError(422, '[Do]: Required')
    if (
      !['merge', 'rebase', 'rebase-merge', 'squash', 'fast-forward-only', 'manually-merged'].includes(action)
    ) {
      return fjError(422, '[Do]: In')
    }
    // CheckPullMergeable's order: merged, closed, may the user merge, work in progress, mergeable state.
    if (p.merged) return fjError(405, '')
    if (p.state === 'closed') return fjNotFound()
    if (s.options.mergeRefusal !== undefined) return fjError(405, s.options.mergeRefusal)
    if (isWip(p.title)) return fjError(405, 'Work in progress PRs cannot be merged')
    const m = s.metaOf(p)
    m.mergeCalls++
    if (m.mergeCalls <= mergeableAfter) return fjError(405, 'Please try again later')
    if (b.merge_when_checks_succeed === true) {
      if (p.autoMerge) {
        return fjError(
          409,
          `pull request is already scheduled to auto merge when checks succeed [pull_id: ${m.id}]`
        )
      }
      // Scheduling does not check the style against the repository: the later merge fails in the log only.
      p.autoMerge = true
      p.autoMergeMethod = action
      m.updatedAt = now()
      return { status: 201 }
    }
    if (!s.mergeStyles.includes(action)) {
      return fjError(405, `${action} is not an allowed merge style for this repository`)
    }
    s.mergePull(p.number)
    return { status: 200 }
  }

  function fjIssueLabels(ctx: Ctx, p: TestPull, replace: boolean): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const raw: unknown[] = Array.isArray(b.labels) ? b.labels : []
    const ids = raw.filter((v): v is number => typeof v === 'number')
    const names = strings(raw)
    if (ids.length && names.length) return fjError(400, 'labels should be an array of strings or integers')
    const found = names.length
      ? labels.filter(l => names.some(n => sameName(n, l.name))).map(l => l.name)
      : fjLabelNames(ids)
    if (replace) p.labels = []
    for (const name of found) if (!p.labels.includes(name)) p.labels.push(name)
    s.metaOf(p).updatedAt = now()
    return { status: 200, body: p.labels.map(fjLabelJson) }
  }

  /**
   * Token scopes per route group (routers/api/v1/api.go, tokenRequiresScopes): the repository group holds the
   * repository and its pull requests; labels and issues are in the issue group; /orgs in the organization
   * group. GET needs read:, anything else write:; write: includes read:. The automatic token is not scoped.
   */
  /**
   * POST /pulls/{index}/requested_reviewers (routers/api/v1/repo/pull_review.go, apiReviewRequest, and
   * services/issue/assignee.go, IsValidReviewRequest): every name is checked before any is requested. An unknown
   * name: ctx.NotFound("UserNotExist", "User 'x' not exist"), whose last string becomes the message; one who may
   * not review: 422 with ErrNotValidReviewRequest's text. 201 with the new review requests.
   */
  function fjRequestReviewers(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    const reviewers = isObj(b) ? strings(b.reviewers) : []
    for (const r of reviewers) {
      if (!s.user(r))
        return { status: 404, body: { message: `User '${r}' not exist`, url: swaggerUrl, errors: null } }
      const reason = !s.collaborator(r)
        ? "Reviewer can't read"
        : sameName(r, owner)
          ? "poster of pr can't be reviewer"
          : ''
      if (reason) return fjError(422, `${reason} [user_id: ${forgejoProfile.ownerId}, repo_id: ${repoId}]`)
    }
    const logins = reviewers.map(r => s.collaborator(r) as string)
    for (const login of logins) if (!p.reviewers.includes(login)) p.reviewers.push(login)
    s.metaOf(p).updatedAt = now()
    return {
      status: 201,
      body: logins.map((login, i) => ({
        id: 5000 + i,
        user: { ...userJson, login, username: login },
        state: 'REQUEST_REVIEW',
        pull_request_url: `${serverUrl}/${fullName}/pulls/${p.number}`
      }))
    }
  }

  /** An issue as GET/PATCH /issues/{index} answer it for a pull request (structs.Issue). */
  function fjIssueJson(p: TestPull): Json {
    const pr = fjPullJson(p)
    return {
      id: pr.id,
      url: `${apiUrl}/repos/${fullName}/issues/${p.number}`,
      html_url: pr.html_url,
      number: p.number,
      user: userJson,
      title: p.title,
      body: p.body,
      labels: pr.labels,
      assignee: pr.assignee,
      assignees: pr.assignees,
      state: p.state,
      pull_request: { merged: p.merged, draft: pr.draft, html_url: pr.html_url }
    }
  }

  /**
   * PATCH /issues/{index} (routers/api/v1/repo/issue.go, EditIssue): `assignees` replaces the whole list
   * (services/issue UpdateAssignees). An unknown or unassignable name fails it with 500 "UpdateAssignees", whose
   * message a production instance does not show to a non-admin; nothing is changed then. 201 with the issue.
   */
  function fjEditIssue(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    if (Array.isArray(b.assignees)) {
      const names = strings(b.assignees)
      if (names.some(n => !s.collaborator(n))) return { status: 500, body: { message: '', url: swaggerUrl } }
      p.assignees = [...new Set(names.map(n => s.collaborator(n) as string))]
    }
    const title = str(b.title)
    if (title) p.title = title
    if (typeof b.body === 'string') p.body = b.body
    s.metaOf(p).updatedAt = now()
    return { status: 201, body: fjIssueJson(p) }
  }

  function scopeRefusal(segs: string[], method: string): Reply | undefined {
    const scopes = s.options.tokenScopes
    if (scopes === undefined || s.options.automaticToken) return undefined
    let category: string | undefined
    if (segs[0] === 'orgs') category = 'organization'
    else if (segs[0] === 'repos' && segs.length >= 3) {
      category = ['issues', 'labels', 'milestones'].includes(segs[3] ?? '') ? 'issue' : 'repository'
    }
    if (category === undefined) return undefined
    const level = method === 'GET' || method === 'HEAD' ? 'read' : 'write'
    const held =
      scopes.includes('all') ||
      scopes.includes(`write:${category}`) ||
      (level === 'read' && scopes.includes(`read:${category}`))
    if (held) return undefined
    return fjError(403, `token does not have at least one of required scope(s): [${level}:${category}]`)
  }

  /**
   * The workflow token of a pull request from a fork: Forgejo gives the task read access to every unit of the
   * repository (repoAssignment in routers/api/v1/api.go: `task.IsForkPullRequest` → AccessModeRead). Routes that
   * require writing (reqRepoWriter, e.g. POST /statuses/{sha}) answer 403; CreateIssueComment checks only that the
   * doer can read the pull request (routers/api/v1/repo/issue_comment.go), so commenting works, and editing works
   * for the comments the token's own account (forgejo-actions) posted.
   */
  const forkToken = s.options.forkPullRequestToken === true
  const poster = forkToken ? 'forgejo-actions' : owner

  function fjCommentJson(c: TestComment): Json {
    const pull = `${serverUrl}/${fullName}/pulls/${c.issue}`
    return {
      id: c.id,
      html_url: `${pull}#issuecomment-${c.id}`,
      // convert.ToAPIComment: a pull request's comment has pull_request_url and an empty issue_url.
      pull_request_url: pull,
      issue_url: '',
      user: { ...userJson, login: c.poster, username: c.poster },
      original_author: '',
      original_author_id: 0,
      body: c.body,
      assets: [],
      created_at: c.createdAt,
      updated_at: c.updatedAt
    }
  }

  /**
   * Issue comments (routers/api/v1/repo/issue_comment.go): ListIssueComments takes `since`/`before` only and
   * answers every comment, oldest first, with X-Total-Count; CreateIssueComment answers 201; editIssueComment 200,
   * or 403 with an empty body when the doer is not the poster and may not write.
   */
  function fjComments(ctx: Ctx, rest: string[]): Reply | undefined {
    const m = ctx.method
    if (rest[0] !== 'issues') return undefined
    if (rest.length === 3 && rest[2] === 'comments' && /^\d+$/.test(rest[1])) {
      const p = s.pullByNumber(parseInt(rest[1], 10))
      if (!p) return fjNotFound()
      if (m === 'GET') {
        const all = s.comments.filter(c => c.issue === p.number)
        return { status: 200, body: all.map(fjCommentJson), headers: { 'X-Total-Count': String(all.length) } }
      }
      if (m === 'POST') {
        const b = ctx.body
        if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
        const body = str(b.body)
        if (!body) return fjError(422, '[Body]: Required')
        return { status: 201, body: fjCommentJson(s.addComment(p.number, body, poster, 100)) }
      }
      return fjError(405, 'Method Not Allowed')
    }
    if (rest.length === 3 && rest[1] === 'comments' && /^\d+$/.test(rest[2])) {
      const c = s.comments.find(x => x.id === parseInt(rest[2], 10))
      if (!c) return fjNotFound()
      if (m === 'GET') return { status: 200, body: fjCommentJson(c) }
      if (m === 'PATCH') {
        if (c.poster !== poster && forkToken) return { status: 403 }
        const b = ctx.body
        if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
        const body = str(b.body)
        if (!body) return fjError(422, '[Body]: Required')
        c.body = body
        c.updatedAt = now()
        return { status: 200, body: fjCommentJson(c) }
      }
      return fjError(405, 'Method Not Allowed')
    }
    return undefined
  }

  function forgejo(ctx: Ctx): Reply {
    const prefix = '/api/v1'
    if (ctx.pathname !== prefix && !ctx.pathname.startsWith(`${prefix}/`))
      return { status: 404, body: { message: 'Not Found' } }
    const segs = ctx.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent)
    const m = ctx.method
    if (segs.length === 1 && segs[0] === 'version' && m === 'GET') {
      return { status: 200, body: { version: '11.0.0+gitea-1.22.0' } }
    }
    if (segs[0] === 'orgs' && segs.length === 3 && segs[2] === 'labels') {
      if (!isOrg || !sameName(segs[1], owner)) {
        return {
          status: 404,
          body: {
            message: 'GetOrgByName',
            url: swaggerUrl,
            errors: [`org does not exist [id: 0, name: ${segs[1].toLowerCase()}]`]
          }
        }
      }
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      const { page, headers } = fjPage(ctx, orgLabels)
      return { status: 200, body: page.map(l => fjLabelJson(l.name)), headers }
    }
    if (segs[0] !== 'repos' || segs.length < 3) return { status: 404, body: { message: 'Not Found' } }
    if (!sameName(segs[1], owner) || !sameName(segs[2], repo)) return fjNotFound()
    const rest = segs.slice(3)
    if (rest.length === 0)
      return m === 'GET' ? { status: 200, body: fjRepoJson() } : fjError(405, 'Method Not Allowed')
    // Forgejo's git data API is read-only; nothing here can write commits or refs.
    if (rest[0] === 'git') return m === 'GET' ? fjNotFound() : fjError(405, 'Method Not Allowed')
    if (rest[0] === 'labels' && rest.length === 1) {
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      const { page, headers } = fjPage(ctx, labels)
      return { status: 200, body: page.map(l => fjLabelJson(l.name)), headers }
    }
    if (rest[0] === 'pulls' && rest.length === 1) {
      if (m === 'GET') {
        const q = ctx.url.searchParams
        const state = q.get('state') ?? ''
        // Forgejo's list ignores `head` and `base`; without `state` it lists every state.
        let list = pulls.filter(p => (state === 'open' || state === 'closed' ? p.state === state : true))
        list = [...list].sort((a, c) =>
          q.get('sort') === 'oldest' ? a.number - c.number : c.number - a.number
        )
        const { page, headers } = fjPage(ctx, list)
        // A pull request that fails to load is listed as null (the swagger documents it).
        return {
          status: 200,
          body: page.map(p => (s.unloadable.has(p.number) ? null : fjPullJson(p))),
          headers
        }
      }
      if (m === 'POST') return fjCreatePull(ctx)
      return fjError(405, 'Method Not Allowed')
    }
    if (rest[0] === 'pulls' && rest.length >= 2) {
      const known = ['merge', 'requested_reviewers']
      const isIndex = /^\d+$/.test(rest[1])
      if (rest.length === 2 || (isIndex && rest.length === 3 && known.includes(rest[2]))) {
        const p = isIndex ? s.pullByNumber(parseInt(rest[1], 10)) : undefined
        if (!p) return fjNotFound()
        if (rest.length === 2) {
          if (m === 'GET') return { status: 200, body: fjPullJson(p) }
          if (m === 'PATCH') return fjEditPull(ctx, p)
          return fjError(405, 'Method Not Allowed')
        }
        if (rest[2] === 'merge') {
          if (m === 'GET') return p.merged ? { status: 204 } : fjNotFound()
          if (m === 'POST') return fjMerge(ctx, p)
          if (m === 'DELETE') {
            if (!p.autoMerge) return fjNotFound()
            p.autoMerge = false
            return { status: 204 }
          }
          return fjError(405, 'Method Not Allowed')
        }
        if (m === 'POST') return fjRequestReviewers(ctx, p)
        return fjError(405, 'Method Not Allowed')
      }
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      // GET /pulls/{base}/{head}: an unordered lookup that in practice yields the oldest pull request for
      // the pair, closed and merged ones included.
      const base = rest[1]
      const { owner: headOwner, branch } = fjSplitHead(rest.slice(2).join('/'))
      if (headOwner !== undefined && !sameName(headOwner, owner)) return fjNotFound()
      const first = pulls.find(p => p.base === base && p.head === branch)
      return first ? { status: 200, body: fjPullJson(first) } : fjNotFound()
    }
    if (rest[0] === 'assignees' && rest.length === 1) {
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      const writers = [owner, ...(s.options.collaborators ?? [])]
      return { status: 200, body: writers.map(login => ({ ...userJson, login, username: login })) }
    }
    if (rest[0] === 'issues' && rest.length === 2 && /^\d+$/.test(rest[1])) {
      const p = s.pullByNumber(parseInt(rest[1], 10))
      if (!p) return fjNotFound()
      if (m === 'GET') return { status: 200, body: fjIssueJson(p) }
      if (m === 'PATCH') return fjEditIssue(ctx, p)
      return fjError(405, 'Method Not Allowed')
    }
    const comments = fjComments(ctx, rest)
    if (comments) return comments
    if (rest[0] === 'issues' && rest.length === 3 && rest[2] === 'labels' && /^\d+$/.test(rest[1])) {
      const p = s.pullByNumber(parseInt(rest[1], 10))
      if (!p) return fjNotFound()
      if (m === 'GET') return { status: 200, body: p.labels.map(fjLabelJson) }
      if (m === 'POST') return fjIssueLabels(ctx, p, false)
      if (m === 'PUT') return fjIssueLabels(ctx, p, true)
      return fjError(405, 'Method Not Allowed')
    }
    return { status: 404, body: { message: 'Not Found' } }
  }

  function authorize(req: http.IncomingMessage, url: URL): Reply | undefined {
    const header = req.headers.authorization
    let presented: string | undefined
    // Forgejo reads the deprecated query tokens first, unless DISABLE_QUERY_AUTH_TOKEN is set.
    const queryToken = url.searchParams.get('token') || url.searchParams.get('access_token') || undefined
    if (queryToken) {
      presented = queryToken
    } else {
      const a = authScheme(header)
      // Forgejo compares the `token` scheme case-sensitively and `bearer` case-insensitively; a header it
      // cannot parse is ignored and the request is anonymous.
      if (a && (a.scheme.toLowerCase() === 'bearer' || a.scheme === 'token')) presented = a.credential
      else if (a && a.scheme.toLowerCase() === 'basic')
        presented = basicUser(header, token) ? token : a.credential
    }
    if (presented === token) {
      // Scopes are checked per route group before any handler runs, so they hold for every API route here.
      const prefix = '/api/v1/'
      if (!url.pathname.startsWith(prefix)) return undefined
      const segs = url.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent)
      const method = (req.method ?? 'GET').toUpperCase()
      // A fork's read-only task token: writes other than issue comments need write access (reqRepoWriter).
      if (
        forkToken &&
        method !== 'GET' &&
        method !== 'HEAD' &&
        !(segs[3] === 'issues' && segs.includes('comments'))
      ) {
        return fjError(403, 'user should have a permission to write to a repo')
      }
      return scopeRefusal(segs, (req.method ?? 'GET').toUpperCase())
    }
    return presented === undefined
      ? fjError(401, 'token is required')
      : fjError(401, 'user does not exist [uid: 0, name: ]')
  }

  return { authorize, handle: forgejo }
}
