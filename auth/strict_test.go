package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"herald/auth"
)

// The cases an adversarial run found accepted: each is refused with
// token_invalid, while its well-formed twin is accepted (so the refusal is
// about the one defect).
func TestVerifyStrictParsing(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	exp := now.Add(time.Hour).Unix()
	tests := []struct {
		name      string
		bad, good string
	}{
		{"string exp",
			hmacToken(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u","exp":"`+itoa(exp)+`"}`, secret),
			hmacToken(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u","exp":`+itoa(exp)+`}`, secret)},
		{"string nbf",
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u","nbf":"1"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u","nbf":1}`, secret)},
		{"null exp",
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u","exp":null}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u"}`, secret)},
		{"unknown crit header",
			hmacToken(`{"alg":"HS256","crit":["x-herald"],"x-herald":1}`, `{"sub":"u"}`, secret),
			hmacToken(`{"alg":"HS256","x-herald":1}`, `{"sub":"u"}`, secret)},
		{"empty crit header",
			hmacToken(`{"alg":"HS256","crit":[]}`, `{"sub":"u"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u"}`, secret)},
		{"duplicate claim key",
			hmacToken(`{"alg":"HS256"}`, `{"sub":"user-1","sub":"admin"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"admin"}`, secret)},
		{"duplicate claim key, escaped",
			hmacToken(`{"alg":"HS256"}`, `{"sub":"user-1","\u0073ub":"admin"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"\u0073ub":"admin"}`, secret)},
		{"claims after the claims object",
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u"} {"sub":"admin"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u"} `, secret)},
		{"duplicate header key",
			hmacToken(`{"alg":"none","alg":"HS256"}`, `{"sub":"u"}`, secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u"}`, secret)},
		{"padded signature",
			sign(t, jwt.SigningMethodHS256, goodClaims(), secret) + "=",
			sign(t, jwt.SigningMethodHS256, goodClaims(), secret)},
		{"non-canonical payload, signed as spelled",
			signSegments(b64(`{"alg":"HS256"}`), respell(b64(`{"sub":"u12"}`)), secret),
			hmacToken(`{"alg":"HS256"}`, `{"sub":"u12"}`, secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := v.Verify(tt.good); err != nil {
				t.Fatalf("the well-formed twin is refused: %v", err)
			}
			_, _, err := v.Verify(tt.bad)
			if got := auth.Code(err); got != auth.CodeInvalid {
				t.Fatalf("code: got %q (err %v), want %q", got, err, auth.CodeInvalid)
			}
		})
	}
}

// One HS256 signature (32 bytes, 43 base64url characters, 2 spare bits)
// has four spellings that a lenient decoder reads alike; only the
// canonical one verifies.
func TestVerifyOneSpellingOfTheSignature(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	good := sign(t, jwt.SigningMethodHS256, goodClaims(), secret)
	spellings := spellingsOfLast(good)
	if len(spellings) != 4 {
		t.Fatalf("got %d spellings, want 4", len(spellings))
	}
	accepted := 0
	for _, s := range spellings {
		sig := s[strings.LastIndexByte(s, '.')+1:]
		if _, err := base64.RawURLEncoding.DecodeString(sig); err != nil {
			t.Fatalf("lenient decoding refuses %q: %v", sig, err)
		}
		_, _, err := v.Verify(s)
		switch {
		case s == good && err != nil:
			t.Errorf("canonical spelling refused: %v", err)
		case s != good && auth.Code(err) != auth.CodeInvalid:
			t.Errorf("non-canonical spelling %q: got %v, want %s", sig, err, auth.CodeInvalid)
		}
		if err == nil {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("%d spellings accepted, want 1", accepted)
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// spellingsOfLast returns every spelling of the token that differs only
// in the spare low bits of its last character (the canonical one first).
func spellingsOfLast(token string) []string {
	last := strings.IndexByte(b64Alphabet, token[len(token)-1])
	sig := token[strings.LastIndexByte(token, '.')+1:]
	spare := map[int]int{2: 4, 3: 2}[len(sig)%4] // unused bits of the last char
	var out []string
	for i := 0; i < 1<<spare; i++ {
		c := last&^(1<<spare-1) | i
		out = append(out, token[:len(token)-1]+string(b64Alphabet[c]))
	}
	return out
}

// respell flips the lowest spare bit of the last character of a
// base64url segment whose length leaves spare bits.
func respell(seg string) string {
	c := strings.IndexByte(b64Alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64Alphabet[c^1])
}

// signSegments signs the two segments as they are spelled with HS256.
func signSegments(header, payload string, key []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
