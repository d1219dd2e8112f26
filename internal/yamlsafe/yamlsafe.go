// Package yamlsafe parses the YAML files a user hands the tool
// (inventories, policy data, waivers) within fixed limits, so that no file
// can make the tool use unbounded memory or time. YAML aliases let a
// 370-byte file stand for billions of nodes ("billion laughs"): code that
// walks the tree, or decodes it into Go values, would expand every one.
//
// The limits, checked in this order:
//   - the file's size (MaxFileSize);
//   - before parsing, the count of bytes that can start a node (line
//     breaks and the indicators - : , [ { ?), which bounds what the parser
//     builds (about 170 bytes of memory a node);
//   - after parsing, the nodes a full walk would visit with every alias
//     expanded (MaxNodes) and how deep it would go (MaxDepth).
//
// A tree that passed can be walked and decoded freely.
package yamlsafe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
)

const (
	// MaxFileSize bounds a YAML file: a 5,000-cluster inventory is about
	// 1 MiB.
	MaxFileSize = inputfile.Config
	// MaxNodes bounds the nodes of a file, counted with every alias
	// expanded (and, before parsing, estimated from its indicators): a
	// 5,000-cluster inventory has about 150,000 (160,000 estimated).
	MaxNodes = 500_000
	// MaxDepth bounds nesting; the deepest file the tool defines nests six
	// levels.
	MaxDepth = 100
)

// LimitError says a file went past one of the limits.
type LimitError struct {
	File  string
	Line  int // 0 when the whole file is at fault
	What  string
	Limit int
}

func (e *LimitError) Error() string {
	at := e.File
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s: YAML %s (limit %d)", at, e.What, e.Limit)
}

// Load reads the regular file at path (see inputfile) and parses it.
func Load(ctx context.Context, path string) ([]*yaml.Node, error) {
	src, err := inputfile.Read(ctx, path, MaxFileSize)
	if err != nil {
		var tl *inputfile.TooLargeError
		if errors.As(err, &tl) {
			return nil, &LimitError{File: path, What: "too large", Limit: MaxFileSize}
		}
		return nil, err
	}
	return Parse(path, src)
}

// Parse returns the documents of src (document nodes, in order; none for an
// empty file). Errors are a *LimitError or yaml.v3's own syntax error,
// unwrapped so callers can locate it; file only names src in messages.
func Parse(file string, src []byte) ([]*yaml.Node, error) {
	if len(src) > MaxFileSize {
		return nil, &LimitError{File: file, What: "too large", Limit: MaxFileSize}
	}
	if n := nodeStarts(src); n > MaxNodes {
		return nil, &LimitError{File: file, What: fmt.Sprintf("too large: up to %d nodes", n), Limit: MaxNodes}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	w := walker{file: file}
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		if err := w.walk(&doc, 0, nil); err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
}

// nodeStarts over-counts the nodes the parser can build from src: every
// node but a document's first begins after a line break or one of these
// indicators, and a flow collection's opening also begins its first item.
func nodeStarts(src []byte) int {
	n := 1
	for _, c := range src {
		switch c {
		case '\n', '-', ':', ',', '?':
			n++
		case '[', '{':
			n += 2
		}
	}
	return n
}

type walker struct {
	file  string
	nodes int
}

// walk visits n as a decoder would, expanding aliases, and stops at the
// first limit. via is the outermost alias being expanded: its line is the
// one to blame. yaml.v3 refuses an alias to a node that contains it, so the
// walk ends.
func (w *walker) walk(n *yaml.Node, depth int, via *yaml.Node) error {
	if n == nil {
		return nil
	}
	at := n
	if via != nil {
		at = via
	}
	w.nodes++
	if w.nodes > MaxNodes {
		if via == nil {
			return &LimitError{File: w.file, Line: at.Line, What: fmt.Sprintf("too large: more than %d nodes", MaxNodes), Limit: MaxNodes}
		}
		return &LimitError{File: w.file, Line: at.Line, What: fmt.Sprintf("too many alias expansions: more than %d nodes once aliases are expanded", MaxNodes), Limit: MaxNodes}
	}
	if depth > MaxDepth {
		return &LimitError{File: w.file, Line: at.Line, What: fmt.Sprintf("nested too deep: more than %d levels", MaxDepth), Limit: MaxDepth}
	}
	if n.Kind == yaml.AliasNode {
		if via == nil {
			via = n
		}
		return w.walk(n.Alias, depth+1, via)
	}
	for _, c := range n.Content {
		if err := w.walk(c, depth+1, via); err != nil {
			return err
		}
	}
	return nil
}
