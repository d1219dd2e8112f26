package collectors

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// DisplayKey turns an etcd key, which may hold any bytes, into a string that
// is valid JSON and shows exactly which bytes the key has: a key of
// printable UTF-8 that does not start with a double quote is kept as is;
// any other key is written Go-quoted (strconv.Quote: "\x00", "\xff", "\n").
// So a sample that starts with `"` is always a quoted form, and ParseKey
// gives back the original bytes.
func DisplayKey(k []byte) string {
	if len(k) > 0 && k[0] != '"' && utf8.Valid(k) && printable(k) {
		return string(k)
	}
	return strconv.Quote(string(k))
}

// ParseKey reverses DisplayKey.
func ParseKey(s string) ([]byte, error) {
	if len(s) > 0 && s[0] == '"' {
		u, err := strconv.Unquote(s)
		return []byte(u), err
	}
	return []byte(s), nil
}

func printable(k []byte) bool {
	for _, r := range string(k) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
