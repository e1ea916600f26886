// Package atomicfile replaces a file so that a crash leaves the old content
// or the new, never half of either: the state files of the agent (the
// silences, the heartbeats) are written this way.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, with mode perm: a temporary file in the
// same folder named by pattern (os.CreateTemp's, so that a caller can sweep
// what a crash left), written, fsynced, renamed over path, then an fsync of
// the folder so that the rename itself is durable. The temporary file is
// removed on failure. The folder must exist.
func Write(path string, data []byte, perm os.FileMode, pattern string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
