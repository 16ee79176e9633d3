package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	if err := checkJSON(b); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if _, ok := h["crit"]; ok {
		return errors.New("header: crit names extensions that herald does not implement")
	}
	return nil
}

// errDuplicateKey means a JSON object has the same member name twice.
var errDuplicateKey = errors.New("duplicate key")

// checkJSON reports a syntax error or a duplicate member name in any
// object of the JSON text b. encoding/json would keep the last of two
// equal names, so that two readers of one token could see two values.
// Names are compared after unescaping ("a" and "\u0061" are equal).
func checkJSON(b []byte) error {
	type frame struct {
		keys      map[string]struct{} // nil for an array
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if name, ok := tok.(string); ok && top >= 0 && stack[top].keys != nil && stack[top].expectKey {
			if _, dup := stack[top].keys[name]; dup {
				return fmt.Errorf("%w %q", errDuplicateKey, name)
			}
			stack[top].keys[name] = struct{}{}
			stack[top].expectKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			continue
		}
		// A value: the enclosing object's next token is a name.
		if top >= 0 && stack[top].keys != nil {
			stack[top].expectKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		}
	}
}
