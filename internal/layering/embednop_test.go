package layering

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/core"
)

// embedRule: every type declaring hooks of iface embeds nop, so that a
// hook added to iface breaks no implementation.
type embedRule struct {
	iface reflect.Type // the interface
	nop   string       // its no-op struct, as embedded in its own package
	pkg   string       // its package's name, as other packages qualify it
}

func (r embedRule) embeds() []string { return []string{r.nop, r.pkg + "." + r.nop} }

var embedRules = []embedRule{
	{reflect.TypeOf((*core.Observer)(nil)).Elem(), "NopObserver", "core"},
	{reflect.TypeOf((*awsapigw.SenderMetrics)(nil)).Elem(), "NopSenderMetrics", "awsapigw"},
}

// hooksOf maps each method of the interface t to its signature as
// reflect prints it, without "func" ("(string, time.Duration, error)").
func hooksOf(t reflect.Type) map[string]string {
	out := make(map[string]string, t.NumMethod())
	for i := range t.NumMethod() {
		m := t.Method(i)
		out[m.Name] = strings.TrimPrefix(m.Type.String(), "func")
	}
	return out
}

// signature prints a method's parameter and result types the way reflect
// does, so that the two can be compared.
func signature(fset *token.FileSet, ft *ast.FuncType) string {
	list := func(fl *ast.FieldList) []string {
		var out []string
		if fl == nil {
			return out
		}
		for _, f := range fl.List {
			var b bytes.Buffer
			_ = printer.Fprint(&b, fset, f.Type)
			n := max(len(f.Names), 1)
			for range n {
				out = append(out, b.String())
			}
		}
		return out
	}
	s := "(" + strings.Join(list(ft.Params), ", ") + ")"
	switch res := list(ft.Results); len(res) {
	case 0:
	case 1:
		s += " " + res[0]
	default:
		s += " (" + strings.Join(res, ", ") + ")"
	}
	return s
}

// withoutNop parses the Go files of one package (name → source) and
// returns the types that declare two or more hooks (same name and
// signature) without embedding one of nops: each of them is an
// implementation, or part of one, that a new hook would break. embedding
// counts the types that embed it and declare a hook.
func withoutNop(t *testing.T, files map[string]string, hooks map[string]string, nops []string) (bad []string, embedding int) {
	t.Helper()
	fset := token.NewFileSet()
	declared := map[string]int{} // type → hooks declared on it
	embeds := map[string]bool{}  // type → embeds NopObserver
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := parser.ParseFile(fset, n, files[n], parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", n, err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) != 1 {
					continue
				}
				want, ok := hooks[d.Name.Name]
				if !ok || signature(fset, d.Type) != want {
					continue
				}
				rt := d.Recv.List[0].Type
				if s, ok := rt.(*ast.StarExpr); ok {
					rt = s.X
				}
				if id, ok := rt.(*ast.Ident); ok {
					declared[id.Name]++
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					ts, ok := sp.(*ast.TypeSpec)
					if !ok {
						continue
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fl := range st.Fields.List {
						if len(fl.Names) != 0 {
							continue
						}
						var b bytes.Buffer
						_ = printer.Fprint(&b, fset, fl.Type)
						for _, n := range nops {
							if b.String() == n {
								embeds[ts.Name.Name] = true
							}
						}
					}
				}
			}
		}
	}
	for typ, n := range declared {
		switch {
		case embeds[typ]:
			embedding++
		case n >= 2 && !slices.Contains(nops, typ):
			bad = append(bad, typ)
		}
	}
	sort.Strings(bad)
	return bad, embedding
}

func TestWithoutNopDetects(t *testing.T) {
	r := embedRules[0]
	hooks := hooksOf(r.iface)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"embeds", `package p
import "github.com/classgate/classgate/core"
type M struct{ core.NopObserver; n int }
func (m *M) Joined() {}
func (m *M) Acked() {}`, nil},
		{"declares every hook itself", `package p
type M struct{ n int }
func (m *M) Joined() {}
func (m M) Acked() {}
func (m *M) Resync() {}`, []string{"M"}},
		{"other signature is not a hook", `package p
type V struct{}
func (V) Acked() bool { return true }
func (V) Joined(n int) {}`, nil},
		{"one hook alone", `package p
type S struct{}
func (S) SlowConsumer() {}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := withoutNop(t, map[string]string{"p.go": tt.src}, hooks, r.embeds())
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestImplementationsEmbedNop walks the repository: every type (tests'
// fakes included) that declares hooks of core.Observer or
// awsapigw.SenderMetrics embeds the matching no-op struct, so adding a
// hook to either breaks no implementation.
func TestImplementationsEmbedNop(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	top := strings.TrimSpace(string(root))
	pkgs := map[string]map[string]string{} // dir → file → source
	err = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != top && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]string{}
		}
		pkgs[dir][path] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	for _, r := range embedRules {
		t.Run(r.iface.String(), func(t *testing.T) {
			hooks := hooksOf(r.iface)
			found := 0
			for dir, files := range pkgs {
				bad, n := withoutNop(t, files, hooks, r.embeds())
				found += n
				for _, typ := range bad {
					t.Errorf("%s: type %s declares %s hooks but does not embed %s.%s", dir, typ, r.iface, r.pkg, r.nop)
				}
			}
			// The walk really saw the implementations (two at least:
			// adapters/metrics and awsapigw's EMF; EMF and a test's
			// recorder).
			if found < 2 {
				t.Errorf("only %d types embed %s: the walk missed them", found, r.nop)
			}
		})
	}
}
