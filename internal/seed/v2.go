package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// V2Spec describes custom v2 data: what a legacy etcd2 user left in the store.
type V2Spec struct {
	// Prefix is the directory everything goes under (default "/seed").
	Prefix string
	// Dirs subdirectories <Prefix>/dir-<n> are created; Keys and TTLKeys are
	// spread over them round-robin (directly under Prefix when Dirs is 0).
	Dirs int
	// Keys are plain keys; TTLKeys carry a TTL of TTL.
	Keys, TTLKeys int
	// TTLDirs empty directories <Prefix>/ttldir-<n> carry a TTL of TTL.
	TTLDirs int
	// TTL for TTLKeys and TTLDirs; at least 1s (default 1h). Note that while
	// v2 TTL nodes exist the leader appends SYNC entries to the raft log.
	TTL time.Duration
	// JSON makes values JSON objects, as Kubernetes' etcd2 backend wrote.
	JSON bool
}

// V2Result counts what V2Keys created.
type V2Result struct {
	// Keys counts every leaf key written, TTL keys included.
	Keys int
	// TTLKeys counts keys written with a TTL.
	TTLKeys int
	// Dirs counts every directory created, including Prefix and its parents
	// when they did not exist yet, and the TTL directories.
	Dirs int
	// TTLDirs counts directories written with a TTL.
	TTLDirs int
}

// V2Keys writes custom data through the v2 keys API (PUT /v2/keys/...) of
// endpoint, a client URL of a 3.4 or 3.5 server started with --enable-v2.
// hc carries the TLS settings and should have a timeout.
func V2Keys(ctx context.Context, hc *http.Client, endpoint string, spec V2Spec) (V2Result, error) {
	var res V2Result
	if spec.Prefix == "" {
		spec.Prefix = "/seed"
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	if spec.TTL < time.Second && (spec.TTLKeys > 0 || spec.TTLDirs > 0) {
		return res, fmt.Errorf("seed v2: ttl %s: want at least 1s", spec.TTL)
	}
	if spec.Dirs < 0 || spec.Keys < 0 || spec.TTLKeys < 0 || spec.TTLDirs < 0 {
		return res, errors.New("seed v2: negative count")
	}
	w := v2Writer{hc: hc, endpoint: strings.TrimRight(endpoint, "/")}
	prefix := "/" + strings.Trim(spec.Prefix, "/")
	created, err := w.mkdirAll(ctx, prefix)
	res.Dirs += created
	if err != nil {
		return res, err
	}
	dirs := []string{prefix}
	if spec.Dirs > 0 {
		dirs = dirs[:0]
		for i := range spec.Dirs {
			d := fmt.Sprintf("%s/dir-%03d", prefix, i)
			if err := w.put(ctx, d, "", true, 0); err != nil {
				return res, err
			}
			res.Dirs++
			dirs = append(dirs, d)
		}
	}
	ttlSec := int(spec.TTL / time.Second)
	for i := range spec.TTLDirs {
		if err := w.put(ctx, fmt.Sprintf("%s/ttldir-%03d", prefix, i), "", true, ttlSec); err != nil {
			return res, err
		}
		res.Dirs++
		res.TTLDirs++
	}
	value := func(i int, ttl bool) string {
		if spec.JSON {
			b, _ := json.Marshal(map[string]any{"kind": "ConfigEntry", "id": i, "ttl": ttl,
				"data": map[string]string{"owner": "legacy-app", "note": "written through the v2 API"}})
			return string(b)
		}
		return "value-" + strconv.Itoa(i)
	}
	n, err := w.parallel(ctx, spec.Keys, func(i int) error {
		return w.put(ctx, fmt.Sprintf("%s/key-%06d", dirs[i%len(dirs)], i), value(i, false), false, 0)
	})
	res.Keys += n
	if err != nil {
		return res, err
	}
	n, err = w.parallel(ctx, spec.TTLKeys, func(i int) error {
		return w.put(ctx, fmt.Sprintf("%s/ttlkey-%06d", dirs[i%len(dirs)], i), value(i, true), false, ttlSec)
	})
	res.Keys += n
	res.TTLKeys += n
	return res, err
}

// v2Writer does PUTs against one v2 endpoint.
type v2Writer struct {
	hc       *http.Client
	endpoint string
}

// v2Error is the body the v2 API returns on failure.
type v2Error struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
}

// errV2Exists is v2 error 105, "Key already exists".
var errV2Exists = errors.New("v2 key already exists")

// put writes one key or directory; a ttl of 0 means none. Directories are
// created with prevExist=false so an existing one is reported, not counted.
func (w v2Writer) put(ctx context.Context, key, value string, dir bool, ttl int) error {
	form := url.Values{}
	if dir {
		form.Set("dir", "true")
		form.Set("prevExist", "false")
	} else {
		form.Set("value", value)
	}
	if ttl > 0 {
		form.Set("ttl", strconv.Itoa(ttl))
	}
	u := w.endpoint + "/v2/keys" + EscapeV2Path(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("seed v2 put %q: %w", key, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.hc.Do(req)
	if err != nil {
		return fmt.Errorf("seed v2 put %q: %w", key, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		return nil
	}
	var e v2Error
	if json.Unmarshal(body, &e) == nil && e.ErrorCode == 105 {
		return fmt.Errorf("seed v2 put %q: %w", key, errV2Exists)
	}
	if resp.StatusCode == http.StatusNotFound && e.ErrorCode == 0 {
		return fmt.Errorf("seed v2 put %q: %s: is the v2 API enabled (--enable-v2, etcd 3.4/3.5)?", key, resp.Status)
	}
	return fmt.Errorf("seed v2 put %q: %s: %s", key, resp.Status, strings.TrimSpace(string(body)))
}

// mkdirAll creates each component of dir that does not exist yet and returns
// how many it created.
func (w v2Writer) mkdirAll(ctx context.Context, dir string) (int, error) {
	created := 0
	path := ""
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		if part == "" {
			continue
		}
		path += "/" + part
		err := w.put(ctx, path, "", true, 0)
		switch {
		case err == nil:
			created++
		case errors.Is(err, errV2Exists):
		default:
			return created, err
		}
	}
	return created, nil
}

// parallel runs put(i) for i in [0,n) on Workers goroutines and returns how
// many succeeded and the first error.
func (w v2Writer) parallel(ctx context.Context, n int, put func(i int) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(v2Workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := put(i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				} else if err == nil {
					done++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && done < n {
		firstErr = ctx.Err()
	}
	return done, firstErr
}

// EscapeV2Path escapes each segment of a v2 key for a /v2/keys URL, keeping
// the slashes that make directories.
func EscapeV2Path(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// v2Workers is how many v2 PUTs are in flight: each is one raft entry and
// one HTTP round trip, so more of them batch better than v3 transactions do.
const v2Workers = 16
