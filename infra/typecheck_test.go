package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The type check stands in for the Bicep compiler's own (which cannot be
// installed here): every resource of every template is checked against
// Azure's published type definitions (bicep-types-az, the data the compiler
// itself uses), pruned to the types the templates use and checked in under
// testdata/azure-types (README.md there says how to refresh it).
//
// Checked: the type and API version exist; every property path exists at
// that version and is writable; literal values (also through variables,
// both branches of every ?:, every argument of union(), and a parameter's
// @allowed values and @minValue/@maxValue bounds) match their types and enums;
// a resource can be deployed at the scope it is declared at. Not checked:
// values computed at deployment (references, functions other than union).

const azureTypesDir = "testdata/azure-types"

// Property flags of bicep-types (ObjectTypePropertyFlags).
const (
	flagRequired = 1
	flagReadOnly = 2
)

// Scope flags of bicep-types (ScopeType).
const (
	scopeResourceGroup = 8
	scopeExtension     = 16
)

type azRef struct {
	Ref string `json:"$ref"`
}

func (r azRef) index() int {
	i, _ := strconv.Atoi(strings.TrimPrefix(r.Ref, "#/"))
	return i
}

type azProp struct {
	Type  azRef `json:"type"`
	Flags int   `json:"flags"`
}

// azType is one entry of a types.json file; which fields are set depends on Kind.
type azType struct {
	Kind           string            `json:"$type"`
	Name           string            `json:"name"`
	Body           *azRef            `json:"body"`
	WritableScopes int               `json:"writableScopes"`
	Properties     map[string]azProp `json:"properties"`
	Additional     *azRef            `json:"additionalProperties"`
	Discriminator  string            `json:"discriminator"`
	BaseProperties map[string]azProp `json:"baseProperties"`
	RawElements    json.RawMessage   `json:"elements"` // union: []ref; discriminated: map
	ItemType       *azRef            `json:"itemType"`
	Value          string            `json:"value"`
	MinLength      *int              `json:"minLength"`
	MaxLength      *int              `json:"maxLength"`
	MinValue       *int64            `json:"minValue"`
	MaxValue       *int64            `json:"maxValue"`

	union    []azRef
	variants map[string]azRef
}

type azFile struct {
	Path  string
	Types []*azType
}

func (f *azFile) at(r azRef) *azType { return f.Types[r.index()] }

type azResource struct {
	File *azFile
	Type *azType
}

type azRegistry struct {
	byName   map[string][]azResource // lower-case type@version
	versions map[string][]string     // lower-case type -> published versions
	commit   string
}

func loadAzureTypes(t testing.TB) *azRegistry {
	t.Helper()
	dir := filepath.Join(infraDir(t), azureTypesDir)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("Azure type definitions: %v (see %s/README.md)", err, azureTypesDir)
	}
	var man struct {
		Commit   string              `json:"commit"`
		Files    []string            `json:"files"`
		Versions map[string][]string `json:"versions"`
	}
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	reg := &azRegistry{byName: map[string][]azResource{}, versions: map[string][]string{}, commit: man.Commit}
	for typ, v := range man.Versions {
		reg.versions[strings.ToLower(typ)] = v
	}
	for _, rel := range man.Files {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		f := &azFile{Path: rel}
		if err := json.Unmarshal(data, &f.Types); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, ty := range f.Types {
			switch ty.Kind {
			case "UnionType":
				_ = json.Unmarshal(ty.RawElements, &ty.union)
			case "DiscriminatedObjectType":
				_ = json.Unmarshal(ty.RawElements, &ty.variants)
			case "ResourceType":
				k := strings.ToLower(ty.Name)
				reg.byName[k] = append(reg.byName[k], azResource{f, ty})
			}
		}
	}
	return reg
}

// typeChecker checks one parsed template.
type typeChecker struct {
	f       *bicepFile
	reg     *azRegistry
	vars    map[string]*node
	params  map[string]decl
	decos   map[*node]*node // parameter_declaration -> its decorators
	errs    []string
	active  map[string]bool  // variables being expanded (no cycles)
	atLeast map[string]int64 // parameter -> lower bound in the ?: branch being checked
}

func typeCheck(f *bicepFile, reg *azRegistry) []string {
	c := &typeChecker{f: f, reg: reg, vars: map[string]*node{}, params: map[string]decl{}, decos: map[*node]*node{}, active: map[string]bool{}, atLeast: map[string]int64{}}
	for _, v := range f.decls("variable_declaration") {
		c.vars[v.Name] = v.Body
	}
	for _, p := range f.decls("parameter_declaration") {
		c.params[p.Name] = p
	}
	top := f.Root.named()
	for i, s := range top {
		if s.Kind == "parameter_declaration" && i > 0 && top[i-1].Kind == "decorators" {
			c.decos[s] = top[i-1]
		}
	}
	for _, r := range f.decls("resource_declaration") {
		c.resource(r)
	}
	return c.errs
}

func (c *typeChecker) errorf(n *node, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s:%d: %s", c.f.Path, n.Row, fmt.Sprintf(format, args...)))
}

func (c *typeChecker) resource(r decl) {
	typ, version, _ := strings.Cut(r.TypeText, "@")
	where := "resource " + r.Name
	cands := c.reg.byName[strings.ToLower(r.TypeText)]
	if len(cands) == 0 {
		if vs, ok := c.reg.versions[strings.ToLower(typ)]; ok && !slices.Contains(vs, version) {
			c.errorf(r.Node, "%s: %s has no API version %s (Azure publishes %s)", where, typ, version, strings.Join(vs, ", "))
		} else if ok {
			c.errorf(r.Node, "%s: %s@%s is not in %s: refresh it (README.md there)", where, typ, version, azureTypesDir)
		} else {
			c.errorf(r.Node, "%s: %s is not a resource type in Azure's type definitions (or not in %s yet)", where, typ, azureTypesDir)
		}
		return
	}
	res := cands[0]
	if r.Body == nil || r.Body.Kind != "object" {
		return // a for loop or a computed body: nothing literal to check
	}
	if r.Existing {
		for key, v := range props(r.Body) {
			if key != "name" && key != "parent" && key != "scope" {
				c.errorf(v, "%s: an existing resource takes only name, parent and scope, not %s", where, key)
			}
		}
		return
	}
	// Resource-group deployments: an extension resource (scope: <resource>)
	// must be writable as an extension, any other at resource group scope.
	need, scopeName := scopeResourceGroup, "resource group"
	if props(r.Body)["scope"] != nil {
		need, scopeName = scopeExtension, "extension (scope:)"
	}
	if res.Type.WritableScopes&need == 0 {
		c.errorf(r.Node, "%s: %s cannot be deployed at %s scope", where, r.TypeText, scopeName)
	}
	c.value(res.File, r.Body, *res.Type.Body, where, false)
}

// language keywords of a resource body that are not properties of the type.
var bicepResourceKeys = map[string]bool{"parent": true, "scope": true, "dependsOn": true}

// value checks expression n against type ref. partial: n is one argument of
// union(), so required properties may come from another argument.
func (c *typeChecker) value(af *azFile, n *node, ref azRef, where string, partial bool) {
	ty := af.at(ref)
	switch n.Kind {
	case "parenthesized_expression":
		for _, k := range n.named() {
			c.value(af, k, ref, where, partial)
		}
		return
	case "ternary_expression":
		k := n.named()
		if len(k) == 3 { // both branches: either may be deployed
			undo := c.narrow(k[0])
			c.value(af, k[1], ref, where, partial)
			undo()
			c.value(af, k[2], ref, where, partial)
		}
		return
	case "identifier":
		if v, ok := c.vars[n.Text]; ok && !c.active[n.Text] {
			c.active[n.Text] = true
			c.value(af, v, ref, where+" (var "+n.Text+")", partial)
			delete(c.active, n.Text)
		} else if p, ok := c.params[n.Text]; ok {
			c.param(af, n, p, ref, where)
		}
		return
	case "call_expression":
		k := n.named()
		if len(k) == 2 && k[0].Text == "union" {
			for _, arg := range k[1].named() {
				c.value(af, arg, ref, where, true)
			}
		}
		return
	case "null":
		return
	}
	switch ty.Kind {
	case "AnyType":
		return
	case "UnionType":
		c.union(af, n, ty, where, partial)
		return
	}
	switch n.Kind {
	case "object":
		c.object(af, n, ty, where, partial)
	case "array":
		if ty.Kind != "ArrayType" {
			c.errorf(n, "%s: an array where %s is expected", where, describe(af, ty))
			return
		}
		for _, e := range n.named() {
			c.value(af, e, *ty.ItemType, where+"[]", false)
		}
	case "string":
		s, lit := literal(n)
		switch {
		case ty.Kind == "StringType":
			if lit && ty.MinLength != nil && len(s) < *ty.MinLength || lit && ty.MaxLength != nil && len(s) > *ty.MaxLength {
				c.errorf(n, "%s: %q: length %d outside %s", where, s, len(s), describe(af, ty))
			}
		case ty.Kind == "StringLiteralType":
			if lit && s != ty.Value {
				c.errorf(n, "%s: %q where %s is expected", where, s, describe(af, ty))
			}
		default:
			c.errorf(n, "%s: a string where %s is expected", where, describe(af, ty))
		}
	case "number", "unary_expression":
		s, lit := literal(n)
		if ty.Kind != "IntegerType" {
			c.errorf(n, "%s: a number where %s is expected", where, describe(af, ty))
		} else if v, err := strconv.ParseInt(s, 10, 64); lit && err == nil && !inRange(ty, v, v) {
			c.errorf(n, "%s: %d outside %s", where, v, describe(af, ty))
		}
	case "boolean":
		if ty.Kind != "BooleanType" {
			c.errorf(n, "%s: a bool where %s is expected", where, describe(af, ty))
		}
	}
}

// narrow records what a ?: condition guarantees in its first branch, so
// `days > 0 ? { days: days } : {...}` is not taken for a 0 sent to Azure.
// Only `param > N` and `param >= N`, possibly joined by &&, are understood.
func (c *typeChecker) narrow(cond *node) (undo func()) {
	saved := map[string]int64{}
	for k, v := range c.atLeast {
		saved[k] = v
	}
	var visit func(n *node)
	visit = func(n *node) {
		if n.Kind == "parenthesized_expression" {
			for _, k := range n.named() {
				visit(k)
			}
			return
		}
		if n.Kind != "binary_expression" {
			return
		}
		k := n.named()
		if len(k) != 2 {
			return
		}
		if n.hasToken("&&") {
			visit(k[0])
			visit(k[1])
			return
		}
		s, ok := literal(k[1])
		v, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || k[0].Kind != "identifier" {
			return
		}
		switch {
		case n.hasToken(">"):
			c.atLeast[k[0].Text] = v + 1
		case n.hasToken(">="):
			c.atLeast[k[0].Text] = v
		}
	}
	visit(cond)
	return func() { c.atLeast = saved }
}

func inRange(ty *azType, lo, hi int64) bool {
	return (ty.MinValue == nil || lo >= *ty.MinValue) && (ty.MaxValue == nil || hi <= *ty.MaxValue)
}

// union: a literal must match one member; anything else is checked against
// the members of its own kind.
func (c *typeChecker) union(af *azFile, n *node, ty *azType, where string, partial bool) {
	var firstErrs []string
	for _, m := range ty.union {
		sub := &typeChecker{f: c.f, reg: c.reg, vars: c.vars, params: c.params, decos: c.decos, active: c.active, atLeast: c.atLeast}
		sub.value(af, n, m, where, partial)
		if len(sub.errs) == 0 {
			return
		}
		if firstErrs == nil {
			firstErrs = sub.errs
		}
	}
	if s, ok := literal(n); ok {
		c.errorf(n, "%s: %s is not one of %s", where, s, describe(af, ty))
		return
	}
	c.errs = append(c.errs, firstErrs...)
}

func (c *typeChecker) object(af *azFile, n *node, ty *azType, where string, partial bool) {
	var fields map[string]azProp
	var additional *azRef
	switch ty.Kind {
	case "ObjectType":
		fields, additional = ty.Properties, ty.Additional
	case "DiscriminatedObjectType":
		d := props(n)[ty.Discriminator]
		key, ok := literal(d)
		if !ok {
			c.errorf(n, "%s: %s must be a literal: it selects the shape of %s", where, ty.Discriminator, ty.Name)
			return
		}
		variant, ok := ty.variants[key]
		if !ok {
			c.errorf(d, "%s: %s %q is not one of %s", where, ty.Discriminator, key, strings.Join(sortedKeys(ty.variants), ", "))
			return
		}
		fields = map[string]azProp{}
		for k, p := range ty.BaseProperties {
			fields[k] = p
		}
		for k, p := range af.at(variant).Properties {
			fields[k] = p
		}
		additional = af.at(variant).Additional
	default:
		c.errorf(n, "%s: an object where %s is expected", where, describe(af, ty))
		return
	}
	top := strings.HasPrefix(where, "resource ") && !strings.Contains(where, ".")
	given := map[string]bool{}
	for _, p := range n.named() {
		if p.Kind != "object_property" {
			continue
		}
		kv := p.named()
		if len(kv) < 2 {
			continue
		}
		key, lit := kv[0].Text, true
		if kv[0].Kind == "string" {
			key, lit = literal(kv[0])
		}
		given[key] = true
		path := where + "." + key
		if top && bicepResourceKeys[key] {
			continue
		}
		prop, ok := fields[key]
		if !lit || !ok {
			if additional != nil {
				c.value(af, kv[1], *additional, path, false)
				continue
			}
			if !lit {
				c.errorf(kv[0], "%s: computed key %s, but %s has fixed properties", where, kv[0].Text, ty.Name)
				continue
			}
			hint := ""
			for k := range fields {
				if strings.EqualFold(k, key) {
					hint = " (did you mean " + k + "?)"
				}
			}
			c.errorf(kv[0], "%s: unknown property %s of %s%s", where, key, ty.Name, hint)
			continue
		}
		if prop.Flags&flagReadOnly != 0 {
			c.errorf(kv[0], "%s: property %s of %s is read-only", where, key, ty.Name)
			continue
		}
		c.value(af, kv[1], prop.Type, path, false)
	}
	if partial {
		return
	}
	for _, k := range sortedKeys(fields) {
		if p := fields[k]; p.Flags&flagRequired != 0 && p.Flags&flagReadOnly == 0 && !given[k] {
			c.errorf(n, "%s: required property %s of %s is missing", where, k, ty.Name)
		}
	}
}

// param checks what a parameter can carry: its declared type, its @allowed
// values, and its @minValue/@maxValue against the bounds Azure accepts.
func (c *typeChecker) param(af *azFile, use *node, p decl, ref azRef, where string) {
	ty := af.at(ref)
	want := map[string]string{"StringType": "string", "StringLiteralType": "string", "IntegerType": "int", "BooleanType": "bool", "ObjectType": "object", "DiscriminatedObjectType": "object", "ArrayType": "array"}[ty.Kind]
	if ty.Kind == "UnionType" {
		kinds := map[string]bool{}
		for _, m := range ty.union {
			kinds[map[string]string{"StringType": "string", "StringLiteralType": "string"}[af.at(m).Kind]] = true
		}
		if len(kinds) == 1 && kinds["string"] {
			want = "string"
		}
	}
	if want != "" && p.TypeText != want {
		c.errorf(use, "%s: parameter %s is %s where %s is expected", where, p.Name, p.TypeText, describe(af, ty))
		return
	}
	decos := c.decos[p.Node]
	if decos == nil {
		return
	}
	for _, d := range decos.named() {
		call := d.named()
		if len(call) == 0 || call[0].Kind != "call_expression" {
			continue
		}
		parts := call[0].named()
		if len(parts) != 2 {
			continue
		}
		args := parts[1].named()
		switch parts[0].Text {
		case "allowed":
			if len(args) == 1 && args[0].Kind == "array" {
				for _, v := range args[0].named() {
					c.value(af, v, ref, where+" (@allowed of "+p.Name+")", false)
				}
			}
		case "minValue", "maxValue":
			if ty.Kind != "IntegerType" || len(args) != 1 {
				continue
			}
			s, _ := literal(args[0])
			v, err := strconv.ParseInt(s, 10, 64)
			if lo, ok := c.atLeast[p.Name]; ok && parts[0].Text == "minValue" && lo > v {
				v = lo // the enclosing ?: excludes smaller values
			}
			if err == nil && !inRange(ty, v, v) {
				c.errorf(d, "%s: parameter %s allows %d, outside %s", where, p.Name, v, describe(af, ty))
			}
		}
	}
}

func describe(af *azFile, ty *azType) string {
	switch ty.Kind {
	case "StringLiteralType":
		return "'" + ty.Value + "'"
	case "UnionType":
		var parts []string
		for _, m := range ty.union {
			parts = append(parts, describe(af, af.at(m)))
		}
		return strings.Join(parts, " | ")
	case "StringType":
		s := "string"
		if ty.MinLength != nil || ty.MaxLength != nil {
			s += fmt.Sprintf(" of length %s..%s", bound(ty.MinLength), bound(ty.MaxLength))
		}
		return s
	case "IntegerType":
		var lo, hi *int
		if ty.MinValue != nil {
			v := int(*ty.MinValue)
			lo = &v
		}
		if ty.MaxValue != nil {
			v := int(*ty.MaxValue)
			hi = &v
		}
		return fmt.Sprintf("int %s..%s", bound(lo), bound(hi))
	case "BooleanType":
		return "bool"
	case "ArrayType":
		return "an array"
	case "ObjectType", "DiscriminatedObjectType":
		return "object " + ty.Name
	}
	return ty.Kind
}

func bound(v *int) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(*v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// templates lists the .bicep templates (not parameter files) under infra/.
func templates(t *testing.T) []string {
	var out []string
	for _, rel := range bicepFiles(t) {
		if strings.HasSuffix(rel, ".bicep") {
			out = append(out, rel)
		}
	}
	return out
}

func TestTemplatesMatchAzureTypes(t *testing.T) {
	reg := loadAzureTypes(t)
	var resources int
	for _, rel := range templates(t) {
		f := parseBicep(t, rel)
		resources += len(f.decls("resource_declaration"))
		for _, e := range typeCheck(f, reg) {
			t.Error(e)
		}
	}
	if resources < 30 {
		t.Errorf("only %d resources checked", resources)
	}
}

// The check must catch what the compiler would: a template with one mistake
// of each kind, each reported at its line.
func TestTypeCheckCatchesMistakes(t *testing.T) {
	reg := loadAzureTypes(t)
	f := parseBicep(t, "testdata/typecheck/mistakes.bicep")
	errs := typeCheck(f, reg)
	src, err := os.ReadFile(filepath.Join(infraDir(t), f.Path))
	if err != nil {
		t.Fatal(err)
	}
	// Each line marked `// want: <regexp>` must get a matching error, and
	// no other line any error.
	want := map[int]*regexp.Regexp{}
	for i, line := range strings.Split(string(src), "\n") {
		if _, w, ok := strings.Cut(line, "// want: "); ok {
			want[i+1] = regexp.MustCompile(strings.TrimSpace(w))
		}
	}
	if len(want) < 4 {
		t.Fatalf("%s: only %d expected errors marked", f.Path, len(want))
	}
	got := map[int][]string{}
	for _, e := range errs {
		parts := strings.SplitN(e, ":", 3)
		line, _ := strconv.Atoi(parts[1])
		got[line] = append(got[line], e)
		if want[line] == nil {
			t.Errorf("unexpected: %s", e)
		}
	}
	for line, re := range want {
		if !slices.ContainsFunc(got[line], re.MatchString) {
			t.Errorf("%s:%d: no error matching %q (got %q)", f.Path, line, re, got[line])
		}
	}
}
