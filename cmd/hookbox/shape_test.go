package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShape ensures cmd/ stays wiring (issue 11): no function under cmd/
// longer than 80 lines, serve.go at most 400 lines, and nothing exported
// from package main but what an interface needs (flag.Value, io.Writer,
// the YAML unmarshaler, fmt.Stringer).
func TestShape(t *testing.T) {
	fset := token.NewFileSet()
	allowed := map[string]bool{"String": true, "Set": true, "Write": true, "Close": true, "Flush": true, "UnmarshalYAML": true, "Printf": true}
	err := filepath.Walk("..", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if n := fset.Position(d.End()).Line - fset.Position(d.Pos()).Line + 1; n > 80 {
					t.Errorf("%s: func %s is %d lines (at most 80 under cmd/)", p, d.Name.Name, n)
				}
				if strings.HasPrefix(p, "../hookbox/") && d.Name.IsExported() && !allowed[d.Name.Name] {
					t.Errorf("%s: %s is exported from package main", p, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					var names []*ast.Ident
					switch s := s.(type) {
					case *ast.TypeSpec:
						names = []*ast.Ident{s.Name}
					case *ast.ValueSpec:
						names = s.Names
					}
					for _, n := range names {
						if strings.HasPrefix(p, "../hookbox/") && n.IsExported() {
							t.Errorf("%s: %s is exported from package main", p, n.Name)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("serve.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 400 {
		t.Errorf("serve.go is %d lines (at most about 400: the receiver package runs the receiver)", n)
	}
}
