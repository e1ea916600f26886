#!/bin/sh
# Prints the Debian version of a package built from this work tree (make
# package's DEB_VERSION), derived from `git describe` and HEAD's commit time
# (UTC), so that every later commit sorts higher for dpkg and apt:
#
#   HEAD is tag v1.2.3                   1.2.3
#   HEAD is tag v1.3.0-rc.1              1.3.0~rc.1   (before 1.3.0)
#   commits after v1.2.3                 1.2.3+git20261207061107.89337c4
#   no v* tag yet                        0.0.0~git20261207061107.89337c4
#   uncommitted or untracked files       the above, then +dirty or .dirty
#
# "~" sorts before anything, "+" after: a snapshot after v1.2.3 is newer than
# 1.2.3 and older than 1.2.4, and a snapshot before any tag is older than
# every release. This is the upstream part: make package adds the Debian
# revision (DEB_REVISION, 1), so the package's version is 1.2.3-1.
set -eu

fail() {
	echo "version.sh: $*; set DEB_VERSION to package anyway" >&2
	exit 1
}

git rev-parse --git-dir >/dev/null 2>&1 || fail "not a git work tree"
stamp=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S) || fail "no commit"
sha=$(git rev-parse --short=7 HEAD)
dirty=
[ -z "$(git status --porcelain)" ] || dirty=yes

if desc=$(git describe --tags --match 'v[0-9]*' --long --abbrev=7 2>/dev/null); then
	# v1.2.3-rc.1-4-g89337c4: the tag, then how many commits after it.
	rest=${desc%-g*}
	ahead=${rest##*-}
	tag=${rest%-*}
	base=$(printf '%s\n' "${tag#v}" | tr '-' '~')
	if [ "$ahead" -eq 0 ]; then
		version=$base
	else
		version="$base+git$stamp.$sha"
	fi
else
	version="0.0.0~git$stamp.$sha"
fi

if [ -n "$dirty" ]; then
	case $version in
	*+*) version="$version.dirty" ;;
	*) version="$version+dirty" ;;
	esac
fi

case $version in
[0-9]*) ;;
*) fail "tag $tag does not give a Debian version starting with a digit" ;;
esac
if printf '%s\n' "$version" | grep -q '[^A-Za-z0-9.+~]'; then
	fail "tag $tag gives $version, which has characters a Debian version cannot have"
fi
printf '%s\n' "$version"
