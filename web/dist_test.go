package web

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestDistIsBuilt rebuilds the app from its sources and package-lock.json
// into a temp dir and checks that the committed dist/, which the binary
// embeds, is exactly that build: same files, same bytes. After an edit
// under src/, run `npm run build` here and commit dist/.
//
// Without node or web/node_modules (npm ci) it is skipped, except in CI.
func TestDistIsBuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "vite", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs node and `npm ci` in web/: %v", err)
		}
		t.Skipf("needs node and `npm ci` in web/: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(node, "node_modules/vite/bin/vite.js", "build", "--outDir", out, "--emptyOutDir", "--logLevel", "warn")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vite build: %v\n%s", err, b)
	}
	built, committed := files(t, os.DirFS(out)), files(t, Dist())
	if !slices.Equal(keys(built), keys(committed)) {
		t.Fatalf("dist/ holds %v, a fresh build %v: run `npm run build` in web/ and commit dist/", keys(committed), keys(built))
	}
	for name, b := range built {
		if !bytes.Equal(b, committed[name]) {
			t.Errorf("dist/%s differs from a fresh build: run `npm run build` in web/ and commit dist/", name)
		}
	}
}

func files(t *testing.T, fsys fs.FS) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m[path], err = fs.ReadFile(fsys, path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func keys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
