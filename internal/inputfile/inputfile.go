// Package inputfile opens the files a user names as input (inventories,
// data, waivers, facts, reports, policies, CA/cert/key and password files)
// so that none of them can hang or exhaust the tool: only regular files are
// read (a FIFO would block forever, /dev/zero never ends), never more than a
// limit, and reading stops when the context is cancelled.
//
// Outputs are not covered: internal/atomicfile writes to devices and FIFOs on
// purpose (`-o /dev/stdout`).
package inputfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits for the kinds of input, in bytes.
const (
	// PEM bounds CA bundles, certificates, keys, password and token files:
	// a bundle of every public CA is about 250 KiB.
	PEM = 1 << 20
	// Config bounds YAML and Rego a person writes (inventories, data,
	// waivers, policy files).
	Config = 8 << 20
	// Document bounds machine-written JSON (facts, reports): a 10,000-member
	// fleet's report with its facts is far below it.
	Document = 256 << 20
)

// NotRegularError says a path names something other than a regular file.
type NotRegularError struct {
	Path string
	Kind string // "a FIFO (named pipe)", "a directory", …
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.Kind)
}

// TooLargeError says a file (or stream) holds more than its limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes (limit %d)", e.Path, e.Limit, e.Limit)
}

// Read returns the whole content of the regular file at path, refusing
// anything else and anything larger than limit bytes.
func Read(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, err := Open(ctx, path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Open opens the regular file at path for reading. The returned reader
// fails with a *TooLargeError past limit bytes and with the context's error
// once ctx is done. The path is checked before it is opened (opening some
// devices has effects) and again on the open file (it may have been
// swapped), and the open itself cannot block on a FIFO.
func Open(ctx context.Context, path string, limit int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open" // what the user asked for: "open x: permission denied"
		}
		return nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	fst, err := f.Stat()
	if err == nil {
		err = regular(path, fst)
	}
	if err == nil && !os.SameFile(st, fst) {
		err = fmt.Errorf("%s changed while it was being opened", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &reader{ctx: ctx, r: f, c: f, name: path, left: limit, limit: limit}, nil
}

// Limit bounds a stream the user chose to pipe in (`--facts -`): it fails
// with a *TooLargeError naming name past limit bytes, and with the
// context's error once ctx is done.
func Limit(ctx context.Context, r io.Reader, name string, limit int64) io.Reader {
	return &reader{ctx: ctx, r: r, name: name, left: limit, limit: limit}
}

type reader struct {
	ctx   context.Context
	r     io.Reader
	c     io.Closer
	name  string
	left  int64 // bytes still allowed; one more is read to detect excess
	limit int64 // for the message
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.left < 0 {
		return 0, &TooLargeError{Path: r.name, Limit: r.limit}
	}
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	const chunk = 1 << 20 // check the context at least once a MiB
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := r.r.Read(p)
	r.left -= int64(n)
	if r.left < 0 {
		return n + int(r.left), &TooLargeError{Path: r.name, Limit: r.limit}
	}
	return n, err
}

func (r *reader) Close() error {
	if r.c == nil {
		return nil
	}
	return r.c.Close()
}

func regular(path string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	case m&fs.ModeIrregular != 0:
		kind = "an irregular file"
	}
	return &NotRegularError{Path: path, Kind: kind}
}
