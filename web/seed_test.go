package web

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// TestSeedFilesUnchanged guards the promise that the demo holds the seed's
// frontend as the seed writes it: these two files are the seed guide's
// code blocks, byte for byte (the browser suite runs them against herald).
// Adapt the app around them (src/hooks/useAuth.ts, vite.config.ts), never
// them.
func TestSeedFilesUnchanged(t *testing.T) {
	want := map[string]string{
		"src/hooks/useSocket.ts":              "cd6eeac285e878e12a984ce392241e9a5f892d3bfc4da802e801359151f6c15e",
		"src/components/NotificationBell.tsx": "edbd4bd83076724b2f4dcf67a40120dd3002b5b36aec00b090d160866c870269",
	}
	for name, sum := range want {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s is no longer the seed's code block", name)
		}
	}
}
