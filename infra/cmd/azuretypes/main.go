// Command azuretypes refreshes infra/testdata/azure-types: the subset of
// Azure's published resource type definitions (github.com/Azure/bicep-types-az,
// generated/<dir>/<namespace>/<apiVersion>/types.json) that the templates use,
// which the type check in infra/typecheck_test.go reads.
//
//	git clone --depth 1 https://github.com/Azure/bicep-types-az /tmp/bicep-types-az
//	go run ./infra/cmd/azuretypes -src /tmp/bicep-types-az
//
// It scans infra/**/*.bicep (not testdata) for 'Type@apiVersion' strings,
// copies each matching ResourceType with every type it reaches (references
// renumbered, resource functions dropped) into one file per source file, and
// writes manifest.json: the source commit and, for each type used, every API
// version Azure publishes for it (so the check can tell a wrong version from
// one not copied yet).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var typeRef = regexp.MustCompile(`'((?:Microsoft|microsoft)\.[A-Za-z]+/[A-Za-z/]+)@([0-9]{4}-[0-9]{2}-[0-9]{2}(?:-preview)?)'`)

type manifest struct {
	Source   string              `json:"source"`
	Commit   string              `json:"commit"`
	Files    []string            `json:"files"`
	Versions map[string][]string `json:"versions"` // type (as in the templates) -> every published API version
}

func main() {
	src := flag.String("src", "", "a checkout of github.com/Azure/bicep-types-az")
	commit := flag.String("commit", "", "source commit (default: git rev-parse HEAD in -src)")
	infra := flag.String("infra", "infra", "directory of the templates")
	out := flag.String("out", "infra/testdata/azure-types", "output directory (replaced, README.md kept)")
	flag.Parse()
	if *src == "" {
		fmt.Fprintln(os.Stderr, "usage: azuretypes -src <bicep-types-az checkout>")
		os.Exit(2)
	}
	if err := run(*src, *commit, *infra, *out); err != nil {
		fmt.Fprintln(os.Stderr, "azuretypes:", err)
		os.Exit(1)
	}
}

func run(src, commit, infraDir, out string) error {
	if commit == "" {
		b, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
		if err != nil {
			return fmt.Errorf("source commit: %v (pass -commit)", err)
		}
		commit = strings.TrimSpace(string(b))
	}
	used := map[string]map[string]bool{} // type -> versions used
	err := filepath.WalkDir(infraDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(p) != ".bicep" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range typeRef.FindAllStringSubmatch(string(data), -1) {
			if used[m[1]] == nil {
				used[m[1]] = map[string]bool{}
			}
			used[m[1]][m[2]] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(used) == 0 {
		return fmt.Errorf("no resource types found under %s", infraDir)
	}
	// Replace everything but the README.
	old, _ := os.ReadDir(out)
	for _, e := range old {
		if e.Name() != "README.md" {
			if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
				return err
			}
		}
	}
	man := manifest{Source: "https://github.com/Azure/bicep-types-az", Commit: commit, Versions: map[string][]string{}}
	want := map[string]map[string]bool{} // source file -> lower-case "type@version" wanted
	for typ, versions := range used {
		ns := strings.ToLower(strings.SplitN(typ, "/", 2)[0])
		files, _ := filepath.Glob(filepath.Join(src, "generated", "*", ns, "*", "types.json"))
		published := map[string]bool{}
		for _, f := range files {
			names, err := resourceNames(f)
			if err != nil {
				return err
			}
			for _, n := range names {
				t, v, _ := strings.Cut(n, "@")
				if !strings.EqualFold(t, typ) {
					continue
				}
				published[v] = true
				if versions[v] {
					if want[f] == nil {
						want[f] = map[string]bool{}
					}
					want[f][strings.ToLower(n)] = true
				}
			}
		}
		for v := range versions {
			if !published[v] {
				return fmt.Errorf("%s@%s: not in %s", typ, v, src)
			}
		}
		for v := range published {
			man.Versions[typ] = append(man.Versions[typ], v)
		}
		sort.Strings(man.Versions[typ])
	}
	for f, names := range want {
		rel, err := filepath.Rel(filepath.Join(src, "generated"), f)
		if err != nil {
			return err
		}
		data, err := prune(f, names)
		if err != nil {
			return err
		}
		dst := filepath.Join(out, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		man.Files = append(man.Files, filepath.ToSlash(rel))
	}
	sort.Strings(man.Files)
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), append(data, '\n'), 0o644)
}

func load(f string) ([]map[string]any, error) {
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	var types []map[string]any
	if err := json.Unmarshal(data, &types); err != nil {
		return nil, fmt.Errorf("%s: %v", f, err)
	}
	return types, nil
}

func resourceNames(f string) ([]string, error) {
	types, err := load(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range types {
		if t["$type"] == "ResourceType" {
			out = append(out, t["name"].(string))
		}
	}
	return out, nil
}

// prune keeps the wanted ResourceTypes and what they reach, renumbered.
func prune(f string, names map[string]bool) ([]byte, error) {
	types, err := load(f)
	if err != nil {
		return nil, err
	}
	keep := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if keep[i] {
			return
		}
		keep[i] = true
		refs(types[i], func(j int) { visit(j) })
	}
	for i, t := range types {
		if t["$type"] == "ResourceType" && names[strings.ToLower(t["name"].(string))] {
			delete(t, "functions")
			visit(i)
		}
	}
	var order []int
	for i := range types {
		if keep[i] {
			order = append(order, i)
		}
	}
	renum := map[int]int{}
	for n, i := range order {
		renum[i] = n
	}
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for n, i := range order {
		t := rewrite(types[i], renum)
		line, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		if n < len(order)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	return buf.Bytes(), nil
}

func refIndex(v any) (int, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return 0, false
	}
	s, ok := m["$ref"].(string)
	if !ok || !strings.HasPrefix(s, "#/") {
		return 0, false
	}
	i, err := strconv.Atoi(s[2:])
	return i, err == nil
}

func refs(v any, fn func(int)) {
	if i, ok := refIndex(v); ok {
		fn(i)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			refs(e, fn)
		}
	case []any:
		for _, e := range x {
			refs(e, fn)
		}
	}
}

func rewrite(v any, renum map[int]int) any {
	if i, ok := refIndex(v); ok {
		return map[string]any{"$ref": "#/" + strconv.Itoa(renum[i])}
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = rewrite(e, renum)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for k, e := range x {
			out[k] = rewrite(e, renum)
		}
		return out
	}
	return v
}
