#!/bin/sh
# Generates what the Debian package carries besides the files kept in
# deploy/: the man pages, the shell completions and changelog.Debian.gz,
# into STAGING (emptied first), from the satellite binary that goes into the
# package. make package runs it before nfpm (deploy/deb/nfpm.yaml).
#
#   deploy/deb/stage.sh BINARY VERSION STAGING
#
# VERSION is the package's whole version, revision included (1.2.3-1).
#
# Dates come from SOURCE_DATE_EPOCH when it is set (make package sets it to
# HEAD's commit time), so the same commit gives the same files.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY VERSION STAGING" >&2
	exit 2
fi
bin=$1 version=$2 staging=$3

case $version in
[0-9]*) ;;
*)
	echo "stage.sh: the version $version must start with a digit" >&2
	exit 1
	;;
esac
if printf '%s\n' "$version" | grep -q '[^A-Za-z0-9.+~-]'; then
	echo "stage.sh: the version $version has characters a Debian version cannot have (A-Za-z0-9.+~-)" >&2
	exit 1
fi
[ -x "$bin" ] || {
	echo "stage.sh: $bin is not an executable (run make build)" >&2
	exit 1
}

rm -rf "$staging"
mkdir -p "$staging/man" "$staging/completions"

# Man pages: one per command, from the command tree (satellite man).
"$bin" man --dir "$staging/man" >/dev/null
gzip -9n "$staging"/man/*.1

# Completions: cobra's, for the three shells Debian has directories for.
"$bin" completion bash >"$staging/completions/satellite.bash"
"$bin" completion zsh >"$staging/completions/_satellite"
"$bin" completion fish >"$staging/completions/satellite.fish"

# changelog.Debian: one entry, for this build, saying what it was built from.
commit=$(git rev-parse HEAD 2>/dev/null || echo "(not a git work tree)")
changes="of the satellite repository; its git history has the changes."
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	changes="of the satellite repository, with uncommitted changes."
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	date=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
else
	date=$(LC_ALL=C date -u -R)
fi
maintainer=${DEB_MAINTAINER:?DEB_MAINTAINER must be set, as make package does}
{
	printf 'satellite (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built with make package from commit\n'
	printf '    %s\n' "$commit"
	printf '    %s\n\n' "$changes"
	printf ' -- %s  %s\n' "$maintainer" "$date"
} >"$staging/changelog.Debian"
gzip -9n "$staging/changelog.Debian"
