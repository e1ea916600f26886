// Package fileperm judges the permissions of the files that hold the
// agent's secrets (API tokens, the gossip key) and of its data dir, for a
// warning at start: a token others can read is a token others have.
package fileperm

import (
	"fmt"
	"io/fs"
	"os"
)

// Secret returns a warning when the file at path (a token or key file) is
// readable or writable by anyone but its owner, "" when it is not or cannot
// be judged (it is missing: whoever reads it reports that).
func Secret(path, what string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Sprintf("%s %s has mode %04o: %s can read it; chmod 600 it (or 640 for a group that must read it)",
			what, path, m, who(m))
	}
	return ""
}

// DataDir returns a warning when the data dir at path is open to others
// (any access for others, or writable by its group): it holds the history,
// the spools and the keyring.
func DataDir(path string) string {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return ""
	}
	if m := fi.Mode().Perm(); m&0o027 != 0 {
		return fmt.Sprintf("agent.data_dir %s has mode %04o: %s; chmod 750 it", path, m, whoDir(m))
	}
	return ""
}

func who(m fs.FileMode) string {
	switch {
	case m&0o007 != 0:
		return "every user"
	default:
		return "its group"
	}
}

func whoDir(m fs.FileMode) string {
	switch {
	case m&0o002 != 0:
		return "every user can write in it"
	case m&0o007 != 0:
		return "every user can enter or list it"
	default:
		return "its group can write in it"
	}
}
