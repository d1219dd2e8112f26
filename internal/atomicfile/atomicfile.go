// Package atomicfile writes output files so a reader (a nightly judge,
// node_exporter's textfile collector) never sees half a file, without ever
// replacing what is not a regular file: `-o /dev/null` run as root must not
// turn the system's /dev/null into a plain file.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write fills path through fill. A regular (or missing) path is written to a
// temp file beside it, synced and renamed into place; on any error the temp
// file is removed and path is left as it was. Its mode is kept when it
// exists, else 0644: these files are reports and facts, meant to be read by
// other users and holding no secret. A path that exists and is not a regular
// file (a device, a FIFO, a socket) is written in place, since renaming over
// it would destroy it.
func Write(path string, fill func(io.Writer) error) (err error) {
	mode := os.FileMode(0o644)
	if st, statErr := os.Stat(path); statErr == nil {
		if !st.Mode().IsRegular() {
			return writeInPlace(path, fill)
		}
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeInPlace(path string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
