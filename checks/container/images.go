package containercheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// archiveID is what identifies an archive's content without reading it
// again: its sha256, valid while size and modification time are unchanged.
type archiveID struct {
	size   int64
	mtime  time.Time
	digest string
}

// prep is one pull or import in flight, shared by the runs that need it.
type prep struct {
	done    chan struct{}
	started time.Time
	err     error
}

// archiveImageName is the name an archive's image gets in containerd: by
// its digest, so that an unchanged file is found again and a changed one
// is imported anew.
func archiveImageName(digest string) string {
	return "satellite.local/archive:sha256-" + digest
}

// archiveDigest returns the sha256 of the archive, read again only when
// its size or modification time changed.
func (c *Checker) archiveDigest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("image_archive: %w", err)
	}
	c.mu.Lock()
	id, ok := c.archives[path]
	c.mu.Unlock()
	if ok && id.size == fi.Size() && id.mtime.Equal(fi.ModTime()) {
		return id.digest, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image_archive: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("image_archive: read %s: %w", path, err)
	}
	d := hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.archives[path] = archiveID{size: fi.Size(), mtime: fi.ModTime(), digest: d}
	c.mu.Unlock()
	return d, nil
}

// prepare returns the container's image, unpacked. A missing image is
// pulled (or its archive imported) on the checker's own context, not the
// run's: the pull is not counted in the run's timeout. When the run's time
// ends first, the run fails saying so and the pull goes on for the next run.
func (c *Checker) prepare(ctx context.Context, cl *containerd.Client, cs *containerSpec) (containerd.Image, error) {
	ref, what := cs.image, "image "+cs.image
	if cs.archive != "" {
		d, err := c.archiveDigest(cs.archive)
		if err != nil {
			return nil, err
		}
		ref, what = archiveImageName(d), "image_archive "+cs.archive
	}
	if img, err := readyImage(ctx, cl, ref); err == nil {
		return img, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	c.mu.Lock()
	p, ok := c.preps[ref]
	if !ok {
		p = &prep{done: make(chan struct{}), started: time.Now()}
		c.preps[ref] = p
		c.bg.Add(1)
		go func() { // owned by the checker: Close cancels c.life and waits
			defer c.bg.Done()
			pctx, cancel := context.WithTimeout(c.life, pullTimeout)
			defer cancel()
			p.err = c.fetch(pctx, cl, cs, ref)
			c.mu.Lock()
			delete(c.preps, ref)
			c.mu.Unlock()
			close(p.done)
		}()
	}
	c.mu.Unlock()

	select {
	case <-p.done:
	case <-ctx.Done():
		verb := "pulled"
		if cs.archive != "" {
			verb = "imported"
		}
		return nil, fmt.Errorf("%s is still being %s (for %s); that goes on outside the run's timeout, and a later run uses the image", what, verb, time.Since(p.started).Round(time.Millisecond))
	}
	if p.err != nil {
		return nil, fmt.Errorf("%s: %w", what, p.err)
	}
	img, err := readyImage(ctx, cl, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return img, nil
}

// readyImage returns the image named ref, unpacked for the default
// snapshotter, or an error that is NotFound when it must be fetched.
func readyImage(ctx context.Context, cl *containerd.Client, ref string) (containerd.Image, error) {
	img, err := cl.GetImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	ok, err := img.IsUnpacked(ctx, "")
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := img.Unpack(ctx, ""); err != nil {
			return nil, fmt.Errorf("unpack: %w", err)
		}
	}
	return img, nil
}

// fetch pulls or imports the image under a lease of its own, so that
// nothing half-fetched stays referenced if it fails.
func (c *Checker) fetch(ctx context.Context, cl *containerd.Client, cs *containerSpec, ref string) error {
	labels := map[string]string{LabelManaged: "true", LabelOwner: InstanceID}
	ctx, done, err := cl.WithLease(ctx, leases.WithRandomID(), leases.WithLabels(labels), leases.WithExpiration(time.Hour))
	if err != nil {
		return fmt.Errorf("create a lease: %w", err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	// containerd's client logs through logrus to stderr; its messages
	// (a failed fetch it retries) would bypass the agent's log, and what
	// matters comes back as the error.
	ctx = log.WithLogger(ctx, quietLog)
	if cs.archive == "" {
		c.pulls.Add(1)
		_, err := cl.Pull(ctx, cs.image, containerd.WithPullUnpack)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		return nil
	}
	f, err := os.Open(cs.archive)
	if err != nil {
		return err
	}
	defer f.Close()
	c.imports.Add(1)
	imgs, err := cl.Import(ctx, f, containerd.WithIndexName(ref), containerd.WithImageLabels(map[string]string{LabelManaged: "true"}))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, i := range imgs {
		if i.Name != ref {
			continue
		}
		if err := containerd.NewImage(cl, i).Unpack(ctx, ""); err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		return nil
	}
	return fmt.Errorf("the archive holds no image")
}

// quietLog discards the containerd client's own log lines.
var quietLog = func() *log.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}()

var (
	sweptMu sync.Mutex
	swept   = map[string]bool{} // socket + namespace already swept by this process
)

// sweepOnce removes, the first time this process uses a socket and
// namespace, what an earlier agent that crashed left behind: managed
// containers (with their tasks and snapshots), snapshots and leases whose
// owner is not this process, and its network namespace files. Nothing
// without the managed label is touched.
func sweepOnce(ctx context.Context, cl *containerd.Client, socket, namespace string) error {
	key := socket + "\x00" + namespace
	sweptMu.Lock()
	defer sweptMu.Unlock()
	if swept[key] {
		return nil
	}
	if err := sweep(ctx, cl); err != nil {
		return err
	}
	swept[key] = true
	return nil
}

func sweep(ctx context.Context, cl *containerd.Client) error {
	managed := `labels."` + LabelManaged + `"==true`
	ctrs, err := cl.Containers(ctx, managed)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil || labels[LabelOwner] == InstanceID {
			continue
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
		}
	}
	sn := cl.SnapshotService("")
	var stale []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Labels[LabelManaged] == "true" && info.Labels[LabelOwner] != InstanceID {
			stale = append(stale, info.Name)
		}
		return nil
	}, managed)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	for _, name := range stale {
		if err := sn.Remove(ctx, name); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove snapshot %s: %w", name, err)
		}
	}
	ls := cl.LeasesService()
	all, err := ls.List(ctx, managed)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	for _, l := range all {
		if l.Labels[LabelOwner] == InstanceID {
			continue
		}
		if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete lease %s: %w", l.ID, err)
		}
	}
	return sweepNetns()
}

// sweepNetns removes the namespace files of earlier processes.
func sweepNetns() error {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", NetnsDir, err)
	}
	for _, e := range entries {
		if len(e.Name()) > len(InstanceID) && e.Name()[:len(InstanceID)] == InstanceID {
			continue
		}
		if err := removeNetns(NetnsDir + "/" + e.Name()); err != nil {
			return err
		}
	}
	return nil
}
