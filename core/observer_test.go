package core_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
)

// observerHooks maps each core.Observer method to its signature as
// reflect prints it, without "func" ("(string, time.Duration, error)").
func observerHooks() map[string]string {
	t := reflect.TypeOf((*core.Observer)(nil)).Elem()
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

// observersWithoutNop parses the Go files of one package (name → source)
// and returns the types that declare two or more core.Observer hooks
// (same name and signature) without embedding NopObserver: each of them
// is an Observer implementation, or part of one, that a new hook would
// break.
func observersWithoutNop(t *testing.T, files map[string]string, hooks map[string]string) []string {
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
						if e := b.String(); e == "NopObserver" || e == "core.NopObserver" {
							embeds[ts.Name.Name] = true
						}
					}
				}
			}
		}
	}
	var bad []string
	for typ, n := range declared {
		if n >= 2 && !embeds[typ] && typ != "NopObserver" {
			bad = append(bad, typ)
		}
	}
	sort.Strings(bad)
	return bad
}

func TestObserversWithoutNopDetects(t *testing.T) {
	hooks := observerHooks()
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
			got := observersWithoutNop(t, map[string]string{"p.go": tt.src}, hooks)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEveryObserverEmbedsNop walks the repository: every type (tests'
// fakes included) that declares Observer hooks embeds core.NopObserver,
// so adding a hook to core.Observer breaks no implementation.
func TestEveryObserverEmbedsNop(t *testing.T) {
	hooks := observerHooks()
	pkgs := map[string]map[string]string{} // dir → file → source
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != ".." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules" || n == "vendor") {
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
		src := string(b)
		dir := filepath.Dir(path)
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]string{}
		}
		pkgs[dir][path] = src
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	found := 0
	for dir, files := range pkgs {
		for _, typ := range observersWithoutNop(t, files, hooks) {
			t.Errorf("%s: type %s declares core.Observer hooks but does not embed core.NopObserver", dir, typ)
		}
		for _, src := range files {
			found += strings.Count(src, "\tcore.NopObserver\n")
		}
	}
	// The walk really saw the implementations (metrics, awsapigw's EMF).
	if found < 2 {
		t.Errorf("only %d types embed core.NopObserver: the walk missed the adapters", found)
	}
}
