package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// checkHeader checks the JOSE header of a token (its first segment)
// beyond what the parser does: no duplicate member names, and no crit
// member, since herald implements no extension and RFC 7515 §4.1.11 says
// a recipient must then refuse the token. The header is decoded again
// here because the parser's map keeps only the last of duplicate names.
func checkHeader(token string) error {
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	h, err := decodeObject(b)
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if _, ok := h["crit"]; ok {
		return errors.New("header: crit names extensions that herald does not implement")
	}
	return nil
}

// errDuplicateKey means a JSON object has the same member name twice.
var errDuplicateKey = errors.New("duplicate member name")

// decodeObject decodes one JSON object into its members, refusing
// anything else, data after it, and a member name given twice:
// encoding/json would keep the last of two equal names, so that two
// readers of one token could see two values (RFC 7515 §5.2, RFC 7519 §4
// let a recipient refuse them). Names are compared after unescaping ("a"
// and "\u0061" are equal). Objects nested in the members are not
// checked: herald reads no claim that holds one.
//
// It scans b itself once encoding/json found it valid: json.Decoder
// allocates an error at the end of every value it reads.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !json.Valid(b) {
		var v any
		return nil, json.Unmarshal(b, &v) // the syntax error, with its offset
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage, 8)
	if i = skipSpace(b, i+1); b[i] == '}' {
		return m, nil
	}
	for {
		end := skipString(b, i)
		name, err := unquote(b[i:end])
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicateKey, name)
		}
		i = skipSpace(b, skipSpace(b, end)+1) // past the colon
		end = skipValue(b, i)
		m[name] = b[i:end]
		if i = skipSpace(b, end); b[i] == '}' {
			return m, nil
		}
		i = skipSpace(b, i+1) // past the comma
	}
}

// The scanners below walk JSON text that json.Valid accepted, so they
// need no bounds or syntax checks of their own.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		for depth := 0; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++ // a number, true, false or null
	}
	return i
}

// unquote returns the string of a JSON string literal.
func unquote(lit []byte) (string, error) {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}
