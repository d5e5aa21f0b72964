// Command noracetests prints the tests that .ci/test.sh runs a second time
// without the race detector: allocation and memory checks, which the race
// detector distorts (it drops sync.Pool items at random and adds shadow
// memory), so they skip or relax their bound under -race.
//
// Such a test is recognised by its own body: it refers to raceEnabled (the
// constant or variable set by a package's race_on/race_off or race test
// files) or calls a function whose name starts with skipUnderRace. A helper
// deeper down does not count, so that a test starting a race-built server
// (compat_test) is not picked up.
//
// Output: one line per package, "<dir> <TestA|TestB|...>", sorted. Usage,
// from the module root:
//
//	go run .ci/noracetests.go
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	byDir := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !isTestName(fn.Name.Name) {
				continue
			}
			if refersToRace(fn.Body) {
				dir := filepath.Dir(path)
				byDir[dir] = append(byDir[dir], fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "noracetests:", err)
		os.Exit(1)
	}
	dirs := make([]string, 0, len(byDir))
	for dir := range byDir {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		names := byDir[dir]
		sort.Strings(names)
		fmt.Printf("./%s %s\n", filepath.ToSlash(dir), strings.Join(names, "|"))
	}
}

// isTestName reports whether name is a test function's name (TestXxx).
func isTestName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Test")
	return ok && (rest == "" || !(rest[0] >= 'a' && rest[0] <= 'z'))
}

// refersToRace reports whether body names raceEnabled or calls a
// skipUnderRace helper.
func refersToRace(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if ok && (id.Name == "raceEnabled" || strings.HasPrefix(id.Name, "skipUnderRace")) {
			found = true
		}
		return !found
	})
	return found
}
