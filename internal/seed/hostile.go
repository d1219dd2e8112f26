package seed

import (
	"context"
	"fmt"
	"net/http"
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

// HostileV2Keys writes the hostile names that survive the v2 store's path
// cleaning (it joins and cleans every key, so "../" and "/" would move or
// nest them) as keys under prefix through the v2 keys API, and returns the
// exact keys written, in order. endpoint needs --enable-v2.
func HostileV2Keys(ctx context.Context, hc *http.Client, endpoint, prefix string) ([]string, error) {
	w := v2Writer{hc: hc, endpoint: strings.TrimRight(endpoint, "/")}
	dir := "/" + strings.Trim(prefix, "/")
	var keys []string
	for _, n := range HostileNames() {
		if strings.Contains(n, "/") {
			continue
		}
		k := dir + "/" + n
		if err := w.put(ctx, k, HostileValue, false, 0); err != nil {
			return keys, fmt.Errorf("seed hostile v2 keys: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
