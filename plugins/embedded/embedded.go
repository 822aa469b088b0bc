package embedded

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed all:wasm
var files embed.FS

// ErrNotBuilt is returned (wrapped) by Get when the named plugin was not
// built before the binary.
var ErrNotBuilt = errors.New("not built: run make plugins")

// Get returns the module bytes of the embedded plugin name ("chat").
func Get(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("embedded plugin %q: invalid name", name)
	}
	b, err := files.ReadFile("wasm/" + name + ".wasm")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("plugin %s %w", name, ErrNotBuilt)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded plugin %s: %w", name, err)
	}
	return b, nil
}

// Names lists the embedded plugins, sorted.
func Names() []string {
	entries, _ := files.ReadDir("wasm")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".wasm"); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
