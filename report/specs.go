package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdaudit/etcdaudit/internal/atomicfile"
	"github.com/etcdaudit/etcdaudit/results"
)

// Spec is one --report value: a format and where it goes. An empty Path
// means standard output.
type Spec struct {
	Format string
	Path   string
}

func (s Spec) String() string {
	if s.Path == "" {
		return s.Format
	}
	return s.Format + ":" + s.Path
}

// ParseSpecs parses --report values of the form FORMAT[:PATH] ("-" as PATH
// is stdout). It returns every problem at once: unknown formats, empty
// paths, two reports to stdout, or two reports to one file.
func ParseSpecs(args []string) ([]Spec, error) {
	var specs []Spec
	var errs []error
	stdout := ""
	var files []outFile
	for _, a := range args {
		name, path, hasPath := strings.Cut(a, ":")
		f, ok := lookup(name)
		if !ok {
			_, err := New(name, Options{})
			errs = append(errs, fmt.Errorf("--report %q: %w", a, err))
			continue
		}
		if hasPath && path == "" {
			errs = append(errs, fmt.Errorf("--report %q: empty path after ':' (use %s for stdout)", a, f.name))
			continue
		}
		if path == "-" {
			path = ""
		}
		s := Spec{Format: f.name, Path: path}
		if path == "" {
			if stdout != "" {
				errs = append(errs, fmt.Errorf("--report %q: only one report can go to stdout, %q already does", a, stdout))
				continue
			}
			stdout = a
		} else {
			f := newOutFile(path, a)
			if prev := f.sameAs(files); prev != nil {
				errs = append(errs, fmt.Errorf("--report %q: %s is the file --report %q already writes (%s): the second would overwrite the first", a, path, prev.arg, f.key))
				continue
			}
			files = append(files, f)
		}
		specs = append(specs, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

// outFile is a report's destination, resolved so that two spellings of one
// file (x.json and /abs/x.json, a symlink, a hard link) are seen as one.
type outFile struct {
	arg string      // the --report value
	key string      // absolute, symlinks resolved as far as they exist
	st  os.FileInfo // nil when the file does not exist yet
}

func newOutFile(path, arg string) outFile {
	f := outFile{arg: arg, key: filepath.Clean(path)}
	if abs, err := filepath.Abs(path); err == nil {
		f.key = abs
	}
	if real, err := filepath.EvalSymlinks(f.key); err == nil {
		f.key = real
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(f.key)); err == nil {
		f.key = filepath.Join(dir, filepath.Base(f.key)) // the file is new; its directory may be a link
	}
	if st, err := os.Stat(f.key); err == nil {
		f.st = st
	}
	return f
}

func (f outFile) sameAs(prev []outFile) *outFile {
	for i := range prev {
		p := &prev[i]
		if p.key == f.key || (p.st != nil && f.st != nil && os.SameFile(p.st, f.st)) {
			return p
		}
	}
	return nil
}

// WriteAll renders the report once per spec: files are written atomically
// (a temp file in the same directory, then rename), so node_exporter or a
// browser never reads half a report. A failing spec does not stop the others;
// the returned error names each format and path that failed. When
// opts.Pushgateway is set the gauges are pushed too.
func WriteAll(ctx context.Context, specs []Spec, r *results.Report, opts Options) error {
	var errs []error
	log := opts.logger()
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("report %s: %w", s, err))
			break
		}
		rep, err := New(s.Format, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.Path == "" {
			w := opts.Stdout
			if w == nil {
				w = os.Stdout
			}
			if err := rep.Render(w, r); err != nil {
				errs = append(errs, fmt.Errorf("report %s to stdout: %w", s.Format, err))
			}
			continue
		}
		if err := atomicfile.Write(s.Path, func(w io.Writer) error { return rep.Render(w, r) }); err != nil {
			errs = append(errs, fmt.Errorf("report %s to %s: %w", s.Format, s.Path, err))
			continue
		}
		log.Info("report written", "format", s.Format, "path", s.Path)
	}
	if opts.Pushgateway != "" && ctx.Err() == nil {
		if err := Push(ctx, opts.Pushgateway, r, opts); err != nil {
			errs = append(errs, err)
		} else {
			log.Info("metrics pushed", "pushgateway", redactURL(opts.Pushgateway))
		}
	}
	return errors.Join(errs...)
}
