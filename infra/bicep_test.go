package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	bicep "github.com/tree-sitter-grammars/tree-sitter-bicep/bindings/go"
	sitter "github.com/tree-sitter/go-tree-sitter"
)

// node is a copy of a tree-sitter node detached from the C tree, so tests can
// walk it freely after the parser's memory is released.
type node struct {
	Kind     string
	Text     string
	Named    bool
	Row, Col int // 1-based
	Field    string
	Kids     []*node
	Error    bool // ERROR node
	Missing  bool // MISSING node inserted by error recovery
}

// bicepFile is one parsed template or parameter file.
type bicepFile struct {
	Path string // relative to infra/
	Root *node
}

func copyNode(n *sitter.Node, src []byte, field string) *node {
	p := n.StartPosition()
	out := &node{
		Kind:    n.Kind(),
		Text:    n.Utf8Text(src),
		Named:   n.IsNamed(),
		Row:     int(p.Row) + 1,
		Col:     int(p.Column) + 1,
		Field:   field,
		Error:   n.IsError(),
		Missing: n.IsMissing(),
	}
	for i := uint(0); i < n.ChildCount(); i++ {
		c := n.Child(i)
		if c == nil {
			continue
		}
		out.Kids = append(out.Kids, copyNode(c, src, n.FieldNameForChild(uint32(i))))
	}
	return out
}

// paramLine matches a .bicepparam assignment. The grammar (v1.1.0) only knows
// typed `param name type = value` declarations, so parameter files are parsed
// with `param` replaced by `var  ` (same width: positions stay true); the
// right-hand side is an ordinary Bicep expression either way.
var paramLine = regexp.MustCompile(`(?m)^param(\s+[A-Za-z_][A-Za-z0-9_]*\s*=)`)

func parseBicep(t testing.TB, rel string) *bicepFile {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(infraDir(t), rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	if strings.HasSuffix(rel, ".bicepparam") {
		src = paramLine.ReplaceAll(src, []byte("var  $1"))
	}
	p := sitter.NewParser()
	defer p.Close()
	if err := p.SetLanguage(sitter.NewLanguage(bicep.Language())); err != nil {
		t.Fatalf("bicep grammar: %v", err)
	}
	tree := p.Parse(src, nil)
	defer tree.Close()
	return &bicepFile{Path: rel, Root: copyNode(tree.RootNode(), src, "")}
}

// infraDir is the directory of this package (go test runs tests there).
func infraDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// repoRoot is the module root, one level up from infra/.
func repoRoot(t testing.TB) string {
	t.Helper()
	root := filepath.Dir(infraDir(t))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above %s: %v", infraDir(t), err)
	}
	return root
}

// bicepFiles lists every .bicep and .bicepparam file under infra/, relative
// to infra/ (node_modules of the local tools, and testdata/ with the type
// check's deliberately wrong inputs, are skipped).
func bicepFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	dir := infraDir(t)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != dir {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".bicep") || strings.HasSuffix(path, ".bicepparam")) {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// --- tree helpers --------------------------------------------------------

// named returns the named children that are not comments.
func (n *node) named() []*node {
	var out []*node
	for _, k := range n.Kids {
		if k.Named && k.Kind != "comment" && k.Kind != "diagnostic_comment" {
			out = append(out, k)
		}
	}
	return out
}

func (n *node) hasToken(tok string) bool {
	for _, k := range n.Kids {
		if !k.Named && k.Kind == tok {
			return true
		}
	}
	return false
}

// walk calls fn for n and every descendant, depth first.
func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, k := range n.Kids {
		k.walk(fn)
	}
}

// decl is a top-level declaration: param, var, resource, module, output.
type decl struct {
	Kind     string // parameter_declaration, variable_declaration, ...
	Name     string
	TypeText string // resource type string (unquoted) or param/output type
	Existing bool
	Loop     bool  // [for ...]: one resource per item of a list
	Cond     *node // if (...) condition, for conditional resources/modules
	Body     *node // object body of a resource/module; value of var/param default/output
	Node     *node
}

func (f *bicepFile) decls(kind string) []decl {
	var out []decl
	for _, s := range f.Root.named() {
		if s.Kind != kind {
			continue
		}
		kids := s.named()
		d := decl{Kind: kind, Node: s}
		if len(kids) > 0 {
			d.Name = kids[0].Text
		}
		switch kind {
		case "resource_declaration", "module_declaration":
			if len(kids) > 1 {
				d.TypeText = unquote(kids[1])
			}
			d.Existing = s.hasToken("existing")
			if len(kids) > 2 {
				body := kids[2]
				if body.Kind == "if_statement" {
					parts := body.named()
					d.Cond, body = parts[0], parts[len(parts)-1]
				}
				// [for x in list: {...}]: the body is the loop's object,
				// checked as any other resource's.
				if body.Kind == "for_statement" {
					if parts := body.named(); len(parts) > 0 && parts[len(parts)-1].Kind == "object" {
						body, d.Loop = parts[len(parts)-1], true
					}
				}
				d.Body = body
			}
		case "parameter_declaration":
			if len(kids) > 1 {
				d.TypeText = kids[1].Text
			}
			if len(kids) > 2 {
				d.Body = kids[2]
			}
		case "variable_declaration", "output_declaration":
			d.Body = kids[len(kids)-1]
			if kind == "output_declaration" && len(kids) > 2 {
				d.TypeText = kids[1].Text
			}
		}
		out = append(out, d)
	}
	return out
}

func (f *bicepFile) decl(t testing.TB, kind, name string) decl {
	t.Helper()
	for _, d := range f.decls(kind) {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("%s: no %s named %s", f.Path, kind, name)
	return decl{}
}

// resourceType strips the API version: 'Microsoft.Web/sites@2024-04-01' -> Microsoft.Web/sites.
func resourceType(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// props returns an object's properties by key (identifier or quoted key).
func props(obj *node) map[string]*node {
	out := map[string]*node{}
	if obj == nil || obj.Kind != "object" {
		return out
	}
	for _, p := range obj.named() {
		if p.Kind != "object_property" {
			continue
		}
		kv := p.named()
		if len(kv) < 2 {
			continue
		}
		key := kv[0].Text
		if kv[0].Kind == "string" {
			key = unquote(kv[0])
		}
		out[key] = kv[1]
	}
	return out
}

// path follows nested object keys: path(body, "properties", "sku", "name").
func path(obj *node, keys ...string) *node {
	cur := obj
	for _, k := range keys {
		cur = props(cur)[k]
		if cur == nil {
			return nil
		}
	}
	return cur
}

// findProp returns every value of property key anywhere under n.
func findProp(n *node, key string) []*node {
	var out []*node
	n.walk(func(c *node) {
		if c.Kind != "object_property" {
			return
		}
		kv := c.named()
		if len(kv) >= 2 && (kv[0].Text == key || (kv[0].Kind == "string" && unquote(kv[0]) == key)) {
			out = append(out, kv[1])
		}
	})
	return out
}

// unquote returns a plain string literal's value, or the raw text of
// anything else (an interpolated string keeps its ${...}).
func unquote(n *node) string {
	if n == nil {
		return ""
	}
	if n.Kind == "string" {
		s := n.Text
		if strings.HasPrefix(s, "'''") {
			return strings.TrimSuffix(strings.TrimPrefix(s, "'''"), "'''")
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "'"), "'")
		return strings.ReplaceAll(s, `\'`, "'")
	}
	return n.Text
}

// identifiers lists the identifiers used in an expression (not property names).
func identifiers(n *node) []string {
	var out []string
	n.walk(func(c *node) {
		if c.Kind == "identifier" {
			out = append(out, c.Text)
		}
	})
	return out
}

// literal evaluates a literal (string, number, bool) to a Go string; ok is
// false for anything computed.
func literal(n *node) (string, bool) {
	if n == nil {
		return "", false
	}
	switch n.Kind {
	case "string":
		for _, k := range n.Kids {
			if k.Kind == "interpolation" {
				return "", false
			}
		}
		return unquote(n), true
	case "number", "boolean":
		return n.Text, true
	case "unary_expression":
		if v, ok := literal(n.named()[0]); ok && strings.HasPrefix(n.Text, "-") {
			return "-" + v, true
		}
	}
	return "", false
}

func mustLiteral(t testing.TB, where string, n *node) string {
	t.Helper()
	v, ok := literal(n)
	if !ok {
		if n == nil {
			t.Fatalf("%s: missing", where)
		}
		t.Fatalf("%s: want a literal, got %q", where, n.Text)
	}
	return v
}

func atoi(t testing.TB, where, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %q is not an integer", where, s)
	}
	return n
}

func pos(f *bicepFile, n *node) string {
	return fmt.Sprintf("%s:%d:%d", f.Path, n.Row, n.Col)
}
