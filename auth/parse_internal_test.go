package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// FuzzCheckJSON: checkJSON never panics, accepts only valid JSON, and
// refuses valid JSON only for a duplicate name.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[{"a":1},{"a":1}]`, `{"a":"\u0062","\u0061":1}`, `{"a":[1,{"b":2}],"b":3}`, `{`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSON(b)
		if err == nil && !json.Valid(b) && len(b) > 0 {
			// Several top-level values pass checkJSON; json.Unmarshal
			// refuses them afterwards. Anything else must be valid.
			var v any
			if json.Unmarshal(b, &v) == nil {
				t.Fatalf("checkJSON accepted %q, which is not JSON", b)
			}
		}
		// A valid object is refused only for a duplicate.
		if err != nil && json.Valid(b) && !errors.Is(err, errDuplicateKey) {
			t.Fatalf("checkJSON refused valid JSON %q: %v", b, err)
		}
	})
}

// FuzzParseJWKS: parseJWKS never panics and returns only keys pinned to a
// JWKS algorithm.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err != nil {
			return
		}
		for _, k := range keys {
			if !slices.Contains(jwksAlgorithms, k.alg) || k.pub == nil {
				t.Fatalf("key %+v", k)
			}
		}
	})
}
