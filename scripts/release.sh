#!/usr/bin/env bash
# Release checks and the major tag, as the release workflows (.forgejo/workflows/release.yml,
# .github/workflows/release.yml) run them for a pushed tag vX.Y.Z. See RELEASE.md.
#
#   scripts/release.sh check TAG [--skip-tests]   TAG is vX.Y.Z on HEAD, package.json says X.Y.Z, CHANGELOG.md has
#                                                 a [X.Y.Z] section, dist/ is a fresh build, and the tests pass
#   scripts/release.sh major TAG                  moves the major tag vX to TAG (locally; push it yourself or let
#                                                 the workflow push it)
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "release: $*" >&2
  exit 1
}
usage() {
  sed -n "5,8s/^# \{0,3\}//p" "$0" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd="$1"
tag="$2"
shift 2
[[ "$tag" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "'$tag' is not a release tag of the form vX.Y.Z"
version="${tag#v}"
major="v${BASH_REMATCH[1]}"

case "$cmd" in
check)
  skip_tests=false
  [ "${1:-}" != --skip-tests ] || skip_tests=true
  git rev-parse -q --verify "refs/tags/$tag" >/dev/null || die "there is no tag $tag"
  [ "$(git rev-parse "$tag^{commit}")" = "$(git rev-parse HEAD)" ] || die "$tag is not the checked-out commit"
  pkg="$(node -p 'require("./package.json").version')"
  [ "$pkg" = "$version" ] || die "package.json says version $pkg, the tag says $version"
  grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md ||
    die "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' section"
  [ -z "$(git status --porcelain)" ] || die "the work tree is not clean"
  scripts/setup.sh
  npm run -s build >/dev/null
  if ! git diff --quiet -- dist || [ -n "$(git ls-files --others --exclude-standard dist)" ]; then
    git status --short dist >&2
    die "dist/ differs from a fresh build of $tag"
  fi
  echo "release: dist/ is a fresh build"
  scripts/validate-workflows.sh
  if ! $skip_tests; then
    scripts/test.sh --ci
  fi
  echo "release: $tag passes the release checks"
  ;;
major)
  git rev-parse -q --verify "refs/tags/$tag" >/dev/null || die "there is no tag $tag"
  git tag -f -a "$major" -m "$major: $tag" "$tag^{commit}" >/dev/null
  echo "release: $major now points at $tag ($(git rev-parse --short "$major^{commit}"))"
  ;;
*) usage ;;
esac
