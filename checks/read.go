package checks

import (
	"fmt"
	"io"
	"os"
)

// ReadLimited reads r to its end, but refuses more than limit bytes: a longer
// stream is an error, "NAME is larger than SIZE; it is not WHAT" (SIZE is
// limit in MiB or KiB), for a source whose real content is known to be
// small, such as a kernel file. A read error comes back as it is.
func ReadLimited(r io.Reader, limit int64, name, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s; it is not %s", name, size(limit), what)
	}
	return data, nil
}

// ReadFileLimited opens path and reads it with ReadLimited. Its errors are
// *fs.PathError ("open /proc/modules: ...", "read /proc/modules: ...") but
// for the one about the size.
func ReadFileLimited(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadLimited(f, limit, path, what)
}

// size writes a byte count in whole MiB or KiB when it is one.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
