package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// FuzzDecodeObject: decodeObject never panics; what it accepts is one
// JSON object with the same members as encoding/json reads; a valid
// object it refuses has a duplicate name.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[{"a":1}]`, `{"a":"\u0062","\u0061":1}`, `{"a":[1,{"b":2}],"b":3}`, `{`, `{} {}`, ` {"x":null} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeObject(b)
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal(b, &want)
		if err == nil {
			if wantErr != nil || want == nil {
				t.Fatalf("decodeObject accepted %q, which encoding/json reads as no object (%v)", b, wantErr)
			}
			if len(m) != len(want) {
				t.Fatalf("%q: %d members, encoding/json %d", b, len(m), len(want))
			}
			return
		}
		if wantErr == nil && want != nil && !errors.Is(err, errDuplicateKey) {
			t.Fatalf("decodeObject refused the object %q: %v", b, err)
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

// FuzzMaxAge: maxAge never panics nor returns a negative age.
func FuzzMaxAge(f *testing.F) {
	for _, s := range []string{"max-age=60", "no-store", `max-age="5", private`, "max-age=99999999999999999999999", "max-age=", "max-age=1,max-age=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if age, ok := maxAge([]string{s}); age < 0 || !ok && age != 0 {
			t.Fatalf("%q: %v %v", s, age, ok)
		}
	})
}
