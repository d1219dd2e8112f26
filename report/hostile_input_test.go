package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// hostileText is what a hand-edited or forged report file can put in any
// string: a screen clear, a colour, a forged line, a carriage return, a
// bell and a right-to-left override.
const hostileText = "\x1b[2J\x1b[31mFAKE\nPASS\r\a\u202eX"

// TestReadJSONQuotesWhatItRefuses: the error for an unknown status shows
// the control id and the status quoted, never their raw bytes (before, the
// id went to the terminal as it was, escape sequences included).
func TestReadJSONQuotesWhatItRefuses(t *testing.T) {
	doc := `{"schema":"etcdaudit.report/v1","results":[{"control":"\u001b[2J\u001b[31mFAKE\nPASS","status":"ok\u001b[0m"}]}`
	_, err := ReadJSON(strings.NewReader(doc))
	if err == nil {
		t.Fatal("unknown status accepted")
	}
	msg := err.Error()
	if strings.ContainsFunc(msg, unicode.IsControl) {
		t.Fatalf("error holds control characters: %q", msg)
	}
	want := `results[0]: control "\x1b[2J\x1b[31mFAKE\nPASS": unknown status "ok\x1b[0m"`
	if !strings.Contains(msg, want) {
		t.Fatalf("error %q, want it to contain %q", msg, want)
	}
}

// fillStrings sets every string reachable from v (fields, slices, map
// values and keys, through pointers) to s.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			fillStrings(v.Elem(), s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), s)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			fillStrings(v.Index(i), s)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		for i, k := range keys {
			v.SetMapIndex(k, reflect.Value{})
			v.SetMapIndex(reflect.ValueOf(s+strings.Repeat(" ", i)).Convert(k.Type()), reflect.ValueOf(s).Convert(v.Type().Elem()))
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(s)
		}
	}
}

// TestRenderersNeverEmitControlText: a report file whose every string
// (ids, names, messages, labels, waivers, facts) holds escape sequences
// renders, in every format, without a raw ESC, CR, BEL or bidi override:
// the text formats (cli, markdown) show them escaped, the others encode or
// drop them.
func TestRenderersNeverEmitControlText(t *testing.T) {
	r := loadFixture(t)
	fillStrings(reflect.ValueOf(r), hostileText)
	// Keep what the renderers switch on valid: ids and statuses are
	// checked by ReadJSON, times and numbers are not strings.
	r2 := loadFixture(t)
	r.Schema = r2.Schema
	for i := range r.Results {
		r.Results[i].Status = r2.Results[i].Status
	}
	for i := range r.Controls {
		r.Controls[i].Scope = r2.Controls[i].Scope
	}
	for _, fm := range registry {
		t.Run(fm.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, fm.name, r, Options{IncludeFacts: true, Verbose: true, Color: ColorNever}); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			bad := []string{"\x1b", "\r", "\a", "\u202e"}
			if fm.name == "json" || fm.name == "junit" {
				// Data formats: a bidi override is data, encoded as such;
				// whoever displays it must treat it as text.
				bad = bad[:3]
			}
			for _, bad := range bad {
				if i := bytes.Index(out, []byte(bad)); i >= 0 {
					t.Errorf("%s output holds a raw %q at byte %d: …%q…", fm.name, bad, i, out[max(0, i-60):min(len(out), i+20)])
				}
			}
		})
	}
}
