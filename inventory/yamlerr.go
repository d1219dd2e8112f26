package inventory

import (
	"strconv"
	"strings"
)

// isParserError recognises yaml.v3's parser (not scanner) messages, whose
// "line N" is 0-based (libyaml's mark, printed without the scanner's +1).
func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected <document start>", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key", "did not find expected ',' or ']'",
		"did not find expected ',' or '}'", "found undefined tag handle", "found duplicate %", "found incompatible YAML document"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func isScannerError(msg string) bool {
	for _, p := range []string{"mapping values are not allowed", "found character that cannot start any token",
		"found a tab character", "could not find expected ':'", "found unexpected end of stream", "did not find expected",
		"found unknown escape character", "found unexpected ':'", "block sequence entries are not allowed"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// syntax turns a YAML parser error into a located problem.
func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if isParserError(m[2]) {
			line++ // yaml.v3 prints the parser's 0-based mark here
		}
		p.problems = append(p.problems, Problem{File: p.file, Line: line, Message: "YAML syntax: " + m[2]})
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if isParserError(msg) || isScannerError(msg) {
		line = 1 // yaml.v3 omits "line N" when its 0-based mark is 0
	}
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Message: "YAML syntax: " + msg})
}
