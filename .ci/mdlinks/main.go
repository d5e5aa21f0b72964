// Command mdlinks checks the relative links of the repository's Markdown
// files: every [text](path) and [text](path#anchor) must name a file or
// directory that exists, and an anchor into a Markdown file must name one of
// its headings (GitHub's rule: lower case, punctuation dropped, spaces as
// hyphens). Links with a scheme (https:, mailto:) are not fetched.
//
// Usage, from the module root (.ci/test.sh runs it):
//
//	go run ./.ci/mdlinks
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// link matches an inline link or image target, up to an optional title.
var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

func main() {
	files, err := markdownFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdlinks:", err)
		os.Exit(2)
	}
	bad := 0
	for _, f := range files {
		for _, problem := range check(f) {
			fmt.Fprintln(os.Stderr, problem)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "mdlinks: %d broken link(s) in %d Markdown files\n", bad, len(files))
		os.Exit(1)
	}
	fmt.Printf("mdlinks: the relative links of %d Markdown files resolve\n", len(files))
}

// markdownFiles lists the tracked *.md files (third-party packages under
// node_modules are not tracked).
func markdownFiles() ([]string, error) {
	out, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// check returns one line per broken link of the Markdown file name.
func check(name string) []string {
	text, err := os.ReadFile(name)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	inFence := false
	for i, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(stripCode(line), -1) {
			if msg := checkTarget(name, m[1]); msg != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", name, i+1, m[1], msg))
			}
		}
	}
	return problems
}

// stripCode drops `code spans`, whose brackets are not links.
func stripCode(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		parts[i] = ""
	}
	return strings.Join(parts, "")
}

// checkTarget says what is wrong with the link target of file from, or "".
func checkTarget(from, target string) string {
	if i := strings.Index(target, ":"); i > 0 && !strings.ContainsAny(target[:i], "/#.") {
		return "" // a URL with a scheme
	}
	path, anchor, _ := strings.Cut(target, "#")
	resolved := from
	if path != "" {
		if strings.HasPrefix(path, "/") {
			return "absolute path: write it relative to " + filepath.Dir(from)
		}
		resolved = filepath.Join(filepath.Dir(from), path)
		if _, err := os.Stat(resolved); err != nil {
			return "no such file or directory (" + resolved + ")"
		}
	}
	if anchor == "" || !strings.HasSuffix(resolved, ".md") {
		return ""
	}
	anchors, err := headingAnchors(resolved)
	if err != nil {
		return err.Error()
	}
	if !anchors[anchor] {
		return "no heading with anchor #" + anchor + " in " + resolved
	}
	return ""
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown file.
func headingAnchors(name string) (map[string]bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		slug := slugify(strings.TrimLeft(line, "#"))
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors, sc.Err()
}

// slugify is GitHub's heading anchor: lower case, letters, digits, spaces
// (as hyphens), hyphens and underscores kept, the rest dropped.
func slugify(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
