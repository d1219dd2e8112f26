package seed

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LongKeyLen is the length of the longest hostile key name: long enough to
// break fixed-width tables and naive logging, well under etcd's 1.5 MiB
// request limit.
const LongKeyLen = 10000

// HostileNames are key-name suffixes no renderer, log line or metric label may
// trust: NUL, bytes that are not UTF-8, control characters, markup, shell and
// path tricks, a bidi override and a very long name.
func HostileNames() []string {
	return []string{
		"nul\x00byte",
		"\xff\xfehigh-bytes",
		"invalid-utf8-\xc3\x28-\xe2\x82",
		"new\nline",
		"carriage\r\nreturn",
		"tab\tand,comma;semicolon",
		"<script>alert(1)</script>",
		"\"><img src=x onerror=alert(2)>",
		"ansi-\x1b[31mred\x1b[0m-\x07bell",
		"../../../etc/passwd",
		"quote\"'`$(id)`{{.}}%s%n",
		"rtl-\u202egnp.exe",
		"long-" + strings.Repeat("x", LongKeyLen-len("long-")),
	}
}

// HostileValue is written as the value of every hostile key: values reach
// reports too (samples, diffs).
const HostileValue = "<script>alert('value')</script>\x00\xff\n\x1b[2J"

// HostileKeys writes prefix+name for every HostileNames entry (prefix may be
// "" or, say, "/registry/events/" to aim at a collector) and returns the
// exact keys written, in order.
func HostileKeys(ctx context.Context, cli *clientv3.Client, prefix string) ([]string, error) {
	names := HostileNames()
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = prefix + n
	}
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpPut(k, HostileValue)
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return nil, fmt.Errorf("seed hostile keys under %q: %w", prefix, err)
	}
	return keys, nil
}
