package infra

// A small interpreter of the part of KQL (Azure Monitor's query language)
// the alert rules and the workbook use, so that their queries can be run
// over the handler's real log lines (testdata/logs) the way Application
// Insights would: traces rows whose message is the line, requests rows for
// the host's invocations. It knows let, union, where, extend, project,
// summarize ... by, order by and take; scalar functions and aggregates are
// those of the funcs and aggregates tables. Anything else is an error, so
// a query that leaves this subset fails its test rather than going
// unchecked.

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

type kqlRow = map[string]any

type kqlTok struct {
	kind string // ident, str, num, span, op
	text string
	num  float64
	span time.Duration
}

func kqlLex(src string) ([]kqlTok, error) {
	var out []kqlTok
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '@' && i+1 < len(src) && src[i+1] == '"':
			j := i + 2
			var b strings.Builder
			for ; j < len(src); j++ {
				if src[j] == '"' {
					if j+1 < len(src) && src[j+1] == '"' {
						b.WriteByte('"')
						j++
						continue
					}
					break
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, kqlTok{kind: "str", text: b.String()})
			i = j + 1
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, kqlTok{kind: "str", text: b.String()})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			n, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil {
				return nil, err
			}
			unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
			if j < len(src) && unit[src[j]] != 0 && (j+1 == len(src) || !isIdent(src[j+1])) {
				out = append(out, kqlTok{kind: "span", span: time.Duration(n * float64(unit[src[j]]))})
				i = j + 1
				continue
			}
			out = append(out, kqlTok{kind: "num", num: n, text: src[i:j]})
			i = j
		case isIdent(c):
			j := i
			for j < len(src) && (isIdent(src[j]) || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			out = append(out, kqlTok{kind: "ident", text: src[i:j]})
			i = j
		default:
			for _, op := range []string{"==", "!=", "<=", ">=", "!in", "!contains", "|", "(", ")", ",", ";", "=", "<", ">", ".", "[", "]", "+", "-", "*", "/"} {
				if strings.HasPrefix(src[i:], op) {
					out = append(out, kqlTok{kind: "op", text: op})
					i += len(op)
					goto next
				}
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		next:
		}
	}
	return out, nil
}

func isIdent(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

type kqlParser struct {
	toks []kqlTok
	i    int
}

func (p *kqlParser) peek() kqlTok {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return kqlTok{kind: "eof"}
}
func (p *kqlParser) is(text string) bool {
	t := p.peek()
	return (t.kind == "op" || t.kind == "ident") && t.text == text
}
func (p *kqlParser) accept(text string) bool {
	if p.is(text) {
		p.i++
		return true
	}
	return false
}
func (p *kqlParser) expect(text string) error {
	if !p.accept(text) {
		return fmt.Errorf("want %q, got %q", text, p.peek().text)
	}
	return nil
}
func (p *kqlParser) ident() (string, error) {
	t := p.peek()
	if t.kind != "ident" {
		return "", fmt.Errorf("want a name, got %q", t.text)
	}
	p.i++
	return t.text, nil
}

// kqlExpr is a parsed scalar expression.
type kqlExpr func(kqlRow) (any, error)

// kqlAssign is "name = expr" (or a bare column, which keeps its name).
type kqlAssign struct {
	name string
	expr kqlExpr
	agg  *kqlAgg
}

type kqlAgg struct {
	fn   string
	args []kqlExpr
}

// kqlRun evaluates query over tables and returns its result rows.
func kqlRun(query string, tables map[string][]kqlRow) ([]kqlRow, error) {
	toks, err := kqlLex(query)
	if err != nil {
		return nil, err
	}
	p := &kqlParser{toks: toks}
	env := map[string][]kqlRow{}
	for k, v := range tables {
		env[k] = v
	}
	for p.accept("let") {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		rows, err := p.tabular(env)
		if err != nil {
			return nil, fmt.Errorf("let %s: %w", name, err)
		}
		env[name] = rows
		if err := p.expect(";"); err != nil {
			return nil, err
		}
	}
	rows, err := p.tabular(env)
	if err != nil {
		return nil, err
	}
	p.accept(";")
	if p.peek().kind != "eof" {
		return nil, fmt.Errorf("unexpected %q after the query", p.peek().text)
	}
	return rows, nil
}

func (p *kqlParser) tabular(env map[string][]kqlRow) ([]kqlRow, error) {
	var rows []kqlRow
	if p.accept("union") {
		for {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			t, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("no table %s", name)
			}
			rows = append(rows, t...)
			if !p.accept(",") {
				break
			}
		}
	} else {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		t, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("no table %s", name)
		}
		rows = t
	}
	for p.accept("|") {
		op, err := p.ident()
		if err != nil {
			return nil, err
		}
		switch op {
		case "where":
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			var kept []kqlRow
			for _, r := range rows {
				v, err := e(r)
				if err != nil {
					return nil, err
				}
				if b, _ := v.(bool); b {
					kept = append(kept, r)
				}
			}
			rows = kept
		case "extend", "project":
			as, err := p.assigns(false)
			if err != nil {
				return nil, err
			}
			out := make([]kqlRow, 0, len(rows))
			for _, r := range rows {
				n := kqlRow{}
				if op == "extend" {
					for k, v := range r {
						n[k] = v
					}
				}
				for _, a := range as {
					v, err := a.expr(r)
					if err != nil {
						return nil, err
					}
					n[a.name] = v
				}
				out = append(out, n)
			}
			rows = out
		case "summarize":
			if rows, err = p.summarize(rows); err != nil {
				return nil, err
			}
		case "order", "sort":
			if err := p.expect("by"); err != nil {
				return nil, err
			}
			if rows, err = p.order(rows); err != nil {
				return nil, err
			}
		case "take":
			t := p.peek()
			if t.kind != "num" {
				return nil, fmt.Errorf("take: want a number")
			}
			p.i++
			if int(t.num) < len(rows) {
				rows = rows[:int(t.num)]
			}
		default:
			return nil, fmt.Errorf("operator %q is not supported here", op)
		}
	}
	return rows, nil
}

func (p *kqlParser) assigns(aggs bool) ([]kqlAssign, error) {
	var out []kqlAssign
	for {
		var a kqlAssign
		if t := p.peek(); t.kind == "ident" && p.i+1 < len(p.toks) && p.toks[p.i+1].text == "=" && p.toks[p.i+1].kind == "op" {
			a.name = t.text
			p.i += 2
		}
		if aggs {
			fn, err := p.ident()
			if err != nil {
				return nil, err
			}
			if _, ok := kqlAggregates[fn]; !ok {
				return nil, fmt.Errorf("aggregate %q is not supported here", fn)
			}
			if err := p.expect("("); err != nil {
				return nil, err
			}
			args, err := p.args()
			if err != nil {
				return nil, err
			}
			a.agg = &kqlAgg{fn: fn, args: args}
			if a.name == "" {
				if fn != "count" {
					return nil, fmt.Errorf("name the aggregate %s (name = %s(...))", fn, fn)
				}
				a.name = "count_"
			}
		} else {
			start := p.i
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			a.expr = e
			if a.name == "" {
				if p.i != start+1 || p.toks[start].kind != "ident" {
					return nil, fmt.Errorf("name the computed column at %q", p.toks[start].text)
				}
				a.name = p.toks[start].text
			}
		}
		out = append(out, a)
		if !p.accept(",") {
			return out, nil
		}
	}
}

func (p *kqlParser) summarize(rows []kqlRow) ([]kqlRow, error) {
	aggs, err := p.assigns(true)
	if err != nil {
		return nil, err
	}
	var by []kqlAssign
	if p.accept("by") {
		if by, err = p.assigns(false); err != nil {
			return nil, err
		}
	}
	type group struct {
		key  kqlRow
		rows []kqlRow
	}
	groups := map[string]*group{}
	var order []string
	for _, r := range rows {
		key := kqlRow{}
		var sig []string
		for _, b := range by {
			v, err := b.expr(r)
			if err != nil {
				return nil, err
			}
			key[b.name] = v
			sig = append(sig, kqlString(v))
		}
		s := strings.Join(sig, "\x00")
		if groups[s] == nil {
			groups[s] = &group{key: key}
			order = append(order, s)
		}
		groups[s].rows = append(groups[s].rows, r)
	}
	if len(by) == 0 && len(groups) == 0 {
		groups[""] = &group{key: kqlRow{}}
		order = append(order, "")
	}
	sort.Strings(order)
	var out []kqlRow
	for _, s := range order {
		g := groups[s]
		n := kqlRow{}
		for k, v := range g.key {
			n[k] = v
		}
		for _, a := range aggs {
			v, err := kqlAggregates[a.agg.fn](a.agg.args, g.rows)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.agg.fn, err)
			}
			n[a.name] = v
		}
		out = append(out, n)
	}
	return out, nil
}

func (p *kqlParser) order(rows []kqlRow) ([]kqlRow, error) {
	type key struct {
		e    kqlExpr
		desc bool
	}
	var keys []key
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		k := key{e: e, desc: true} // KQL sorts descending unless told
		if p.accept("asc") {
			k.desc = false
		} else {
			p.accept("desc")
		}
		keys = append(keys, k)
		if !p.accept(",") {
			break
		}
	}
	out := append([]kqlRow(nil), rows...)
	var failed error
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range keys {
			a, err1 := k.e(out[i])
			b, err2 := k.e(out[j])
			if err1 != nil || err2 != nil {
				failed = fmt.Errorf("order by: %v %v", err1, err2)
				return false
			}
			c := kqlCompare(a, b)
			if c != 0 {
				return c < 0 != k.desc
			}
		}
		return false
	})
	return out, failed
}

func (p *kqlParser) args() ([]kqlExpr, error) {
	var out []kqlExpr
	if p.accept(")") {
		return nil, nil
	}
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if p.accept(")") {
			return out, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

func (p *kqlParser) expr() (kqlExpr, error) { return p.binary(0) }

var kqlLevels = [][]string{
	{"or"},
	{"and"},
	{"==", "!=", "<", "<=", ">", ">=", "contains", "!contains", "has", "startswith", "endswith", "in", "!in"},
	{"+", "-"},
	{"*", "/"},
}

func (p *kqlParser) binary(level int) (kqlExpr, error) {
	if level == len(kqlLevels) {
		return p.postfix()
	}
	left, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		var op string
		for _, o := range kqlLevels[level] {
			if (t.kind == "op" || t.kind == "ident") && t.text == o {
				op = o
			}
		}
		if op == "" {
			return left, nil
		}
		p.i++
		if op == "in" || op == "!in" {
			if err := p.expect("("); err != nil {
				return nil, err
			}
			set, err := p.args()
			if err != nil {
				return nil, err
			}
			l, neg := left, op == "!in"
			left = func(r kqlRow) (any, error) {
				v, err := l(r)
				if err != nil {
					return nil, err
				}
				for _, s := range set {
					w, err := s(r)
					if err != nil {
						return nil, err
					}
					if v != nil && kqlCompare(v, w) == 0 {
						return !neg, nil
					}
				}
				return neg, nil
			}
			continue
		}
		right, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l := left
		left = func(r kqlRow) (any, error) {
			a, err := l(r)
			if err != nil {
				return nil, err
			}
			b, err := right(r)
			if err != nil {
				return nil, err
			}
			return kqlBinary(op, a, b)
		}
	}
}

func kqlBinary(op string, a, b any) (any, error) {
	switch op {
	case "or":
		x, _ := a.(bool)
		y, _ := b.(bool)
		return x || y, nil
	case "and":
		x, _ := a.(bool)
		y, _ := b.(bool)
		return x && y, nil
	case "contains", "has":
		return strings.Contains(strings.ToLower(kqlString(a)), strings.ToLower(kqlString(b))), nil
	case "!contains":
		return !strings.Contains(strings.ToLower(kqlString(a)), strings.ToLower(kqlString(b))), nil
	case "startswith":
		return strings.HasPrefix(strings.ToLower(kqlString(a)), strings.ToLower(kqlString(b))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(kqlString(a)), strings.ToLower(kqlString(b))), nil
	}
	if a == nil || b == nil {
		return nil, nil // null compares as neither true nor false: where drops the row
	}
	switch op {
	case "==":
		return kqlCompare(a, b) == 0, nil
	case "!=":
		return kqlCompare(a, b) != 0, nil
	case "<":
		return kqlCompare(a, b) < 0, nil
	case "<=":
		return kqlCompare(a, b) <= 0, nil
	case ">":
		return kqlCompare(a, b) > 0, nil
	case ">=":
		return kqlCompare(a, b) >= 0, nil
	}
	x, ok1 := kqlNumber(a)
	y, ok2 := kqlNumber(b)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%v %s %v: not numbers", a, op, b)
	}
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	default:
		if y == 0 {
			return nil, nil
		}
		return x / y, nil
	}
}

func (p *kqlParser) postfix() (kqlExpr, error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.accept("."):
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			e = kqlMember(e, name)
		case p.is("["):
			p.i++
			t := p.peek()
			if t.kind != "str" {
				return nil, fmt.Errorf("want a quoted member name")
			}
			p.i++
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			e = kqlMember(e, t.text)
		default:
			return e, nil
		}
	}
}

func kqlMember(e kqlExpr, name string) kqlExpr {
	return func(r kqlRow) (any, error) {
		v, err := e(r)
		if err != nil {
			return nil, err
		}
		m, _ := v.(map[string]any)
		return m[name], nil
	}
}

func (p *kqlParser) primary() (kqlExpr, error) {
	t := p.peek()
	p.i++
	switch t.kind {
	case "str":
		return func(kqlRow) (any, error) { return t.text, nil }, nil
	case "num":
		return func(kqlRow) (any, error) { return t.num, nil }, nil
	case "span":
		return func(kqlRow) (any, error) { return t.span, nil }, nil
	case "op":
		if t.text == "(" {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		}
		if t.text == "-" {
			e, err := p.postfix()
			if err != nil {
				return nil, err
			}
			return func(r kqlRow) (any, error) {
				v, err := e(r)
				if err != nil {
					return nil, err
				}
				return kqlBinary("-", 0.0, v)
			}, nil
		}
	case "ident":
		switch t.text {
		case "true", "false":
			b := t.text == "true"
			return func(kqlRow) (any, error) { return b, nil }, nil
		}
		if p.accept("(") {
			fn, ok := kqlFuncs[t.text]
			if !ok {
				return nil, fmt.Errorf("function %q is not supported here", t.text)
			}
			args, err := p.args()
			if err != nil {
				return nil, err
			}
			return func(r kqlRow) (any, error) {
				vals := make([]any, len(args))
				for i, a := range args {
					v, err := a(r)
					if err != nil {
						return nil, err
					}
					vals[i] = v
				}
				return fn(vals)
			}, nil
		}
		name := t.text
		return func(r kqlRow) (any, error) {
			v, ok := r[name]
			if !ok {
				return nil, fmt.Errorf("no column %q", name)
			}
			return v, nil
		}, nil
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

func kqlString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func kqlNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case time.Duration:
		return float64(x), true
	}
	return 0, false
}

func kqlCompare(a, b any) int {
	if x, ok := a.(time.Time); ok {
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	_, as := a.(string)
	_, bs := b.(string)
	if !as && !bs {
		if x, ok := kqlNumber(a); ok {
			if y, ok := kqlNumber(b); ok {
				switch {
				case x < y:
					return -1
				case x > y:
					return 1
				}
				return 0
			}
		}
	}
	return strings.Compare(kqlString(a), kqlString(b))
}

var kqlFuncs = map[string]func([]any) (any, error){
	"parse_json": func(a []any) (any, error) {
		s, ok := a[0].(string)
		if !ok {
			return a[0], nil
		}
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return s, nil // KQL keeps a string that is not JSON as a string
		}
		return v, nil
	},
	"substring": func(a []any) (any, error) {
		s := kqlString(a[0])
		start, _ := kqlNumber(a[1])
		if start < 0 || int(start) > len(s) {
			return "", nil
		}
		s = s[int(start):]
		if len(a) > 2 {
			n, _ := kqlNumber(a[2])
			if int(n) < len(s) {
				s = s[:int(n)]
			}
		}
		return s, nil
	},
	"indexof":  func(a []any) (any, error) { return float64(strings.Index(kqlString(a[0]), kqlString(a[1]))), nil },
	"tostring": func(a []any) (any, error) { return kqlString(a[0]), nil },
	"toint":    kqlToNumber(true),
	"tolong":   kqlToNumber(true),
	"toreal":   kqlToNumber(false),
	"todouble": kqlToNumber(false),
	"tobool": func(a []any) (any, error) {
		switch x := a[0].(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, nil
			}
			return b, nil
		case float64:
			return x != 0, nil
		}
		return nil, nil
	},
	"iff": func(a []any) (any, error) {
		if len(a) != 3 {
			return nil, fmt.Errorf("iff takes 3 arguments")
		}
		if b, _ := a[0].(bool); b {
			return a[1], nil
		}
		return a[2], nil
	},
	"isempty":    func(a []any) (any, error) { return kqlString(a[0]) == "", nil },
	"isnotempty": func(a []any) (any, error) { return kqlString(a[0]) != "", nil },
	"not":        func(a []any) (any, error) { b, _ := a[0].(bool); return !b, nil },
	"strcat": func(a []any) (any, error) {
		var b strings.Builder
		for _, v := range a {
			b.WriteString(kqlString(v))
		}
		return b.String(), nil
	},
	"replace_regex": func(a []any) (any, error) {
		re, err := regexp.Compile(kqlString(a[1]))
		if err != nil {
			return nil, err
		}
		return re.ReplaceAllLiteralString(kqlString(a[0]), kqlString(a[2])), nil
	},
	"extract": func(a []any) (any, error) {
		re, err := regexp.Compile(kqlString(a[0]))
		if err != nil {
			return nil, err
		}
		g, _ := kqlNumber(a[1])
		m := re.FindStringSubmatch(kqlString(a[2]))
		if m == nil || int(g) >= len(m) {
			return "", nil
		}
		return m[int(g)], nil
	},
	"bin": func(a []any) (any, error) {
		switch x := a[0].(type) {
		case time.Time:
			d, _ := a[1].(time.Duration)
			if d <= 0 {
				return nil, fmt.Errorf("bin: want a timespan")
			}
			return x.UTC().Truncate(d), nil
		}
		x, ok1 := kqlNumber(a[0])
		y, ok2 := kqlNumber(a[1])
		if !ok1 || !ok2 || y == 0 {
			return nil, nil
		}
		return math.Floor(x/y) * y, nil
	},
	"startofday": func(a []any) (any, error) {
		t, ok := a[0].(time.Time)
		if !ok {
			return nil, nil
		}
		return t.UTC().Truncate(24 * time.Hour), nil
	},
	"round": func(a []any) (any, error) {
		x, ok := kqlNumber(a[0])
		if !ok {
			return nil, nil
		}
		p := 0.0
		if len(a) > 1 {
			p, _ = kqlNumber(a[1])
		}
		m := math.Pow(10, p)
		return math.Round(x*m) / m, nil
	},
}

func kqlToNumber(integer bool) func([]any) (any, error) {
	return func(a []any) (any, error) {
		x, ok := kqlNumber(a[0])
		if !ok {
			return nil, nil
		}
		if integer {
			x = math.Trunc(x)
		}
		return x, nil
	}
}

// kqlAggregates compute one value over a group's rows.
var kqlAggregates = map[string]func(args []kqlExpr, rows []kqlRow) (any, error){
	"count": func(_ []kqlExpr, rows []kqlRow) (any, error) { return float64(len(rows)), nil },
	"countif": func(args []kqlExpr, rows []kqlRow) (any, error) {
		n := 0.0
		return n, kqlEach(args, rows, func(v []any) {
			if b, _ := v[0].(bool); b {
				n++
			}
		}, &n)
	},
	"sum": func(args []kqlExpr, rows []kqlRow) (any, error) {
		n := 0.0
		return n, kqlEach(args, rows, func(v []any) { x, _ := kqlNumber(v[0]); n += x }, &n)
	},
	"sumif": func(args []kqlExpr, rows []kqlRow) (any, error) {
		n := 0.0
		return n, kqlEach(args, rows, func(v []any) {
			if b, _ := v[1].(bool); b {
				x, _ := kqlNumber(v[0])
				n += x
			}
		}, &n)
	},
	"dcount": func(args []kqlExpr, rows []kqlRow) (any, error) {
		seen := map[string]bool{}
		n := 0.0
		err := kqlEach(args, rows, func(v []any) {
			if v[0] != nil {
				seen[kqlString(v[0])] = true
			}
		}, &n)
		return float64(len(seen)), err
	},
	"max": kqlPick(func(c int) bool { return c > 0 }),
	"min": kqlPick(func(c int) bool { return c < 0 }),
	"avg": func(args []kqlExpr, rows []kqlRow) (any, error) {
		var xs []float64
		n := 0.0
		err := kqlEach(args, rows, func(v []any) {
			if x, ok := kqlNumber(v[0]); ok && v[0] != nil {
				xs = append(xs, x)
			}
		}, &n)
		if len(xs) == 0 {
			return nil, err
		}
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs)), err
	},
	// percentile: nearest rank, as KQL's estimate is for small sets.
	"percentile": func(args []kqlExpr, rows []kqlRow) (any, error) {
		var xs []float64
		var p float64
		n := 0.0
		err := kqlEach(args, rows, func(v []any) {
			p, _ = kqlNumber(v[1])
			if x, ok := kqlNumber(v[0]); ok && v[0] != nil {
				xs = append(xs, x)
			}
		}, &n)
		if len(xs) == 0 {
			return nil, err
		}
		sort.Float64s(xs)
		i := int(math.Ceil(p/100*float64(len(xs)))) - 1
		return xs[max(0, min(i, len(xs)-1))], err
	},
}

func kqlEach(args []kqlExpr, rows []kqlRow, fn func([]any), _ *float64) error {
	for _, r := range rows {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a(r)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		fn(vals)
	}
	return nil
}

func kqlPick(better func(int) bool) func([]kqlExpr, []kqlRow) (any, error) {
	return func(args []kqlExpr, rows []kqlRow) (any, error) {
		var best any
		n := 0.0
		err := kqlEach(args, rows, func(v []any) {
			if v[0] != nil && (best == nil || better(kqlCompare(v[0], best))) {
				best = v[0]
			}
		}, &n)
		return best, err
	}
}

// tracesFrom makes the traces rows Application Insights holds for the
// handler's console lines: message is the line as written, timestamp its
// time, and no operation name (the host drains console lines outside any
// invocation).
func tracesFrom(t *testing.T, lines []string) []kqlRow {
	t.Helper()
	var rows []kqlRow
	for _, l := range lines {
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal([]byte(l[strings.IndexByte(l, '{'):]), &e); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		rows = append(rows, kqlRow{"timestamp": e.Time, "message": l, "operation_Name": "", "customDimensions": map[string]any{"Category": "Host.Function.Console"}})
	}
	return rows
}

func TestKQLSubset(t *testing.T) {
	tables := map[string][]kqlRow{"traces": tracesFrom(t, []string{
		`{"time":"2026-12-01T10:00:00Z","level":"INFO","msg":"ingest done","outcome":"stored","bytes":10}`,
		`{"time":"2026-12-01T11:00:00Z","level":"INFO","msg":"ingest done","outcome":"stored","bytes":30}`,
		`{"time":"2026-12-02T10:00:00Z","level":"WARN","msg":"ingest failed","reason":"x"}`,
	})}
	rows, err := kqlRun(`
let done = traces
    | extend e = parse_json(substring(message, indexof(message, "{")))
    | where tostring(e.msg) == "ingest done" and toint(e.bytes) > 5;
union done
| summarize n = count(), bytes = sum(toint(e.bytes)), p50 = percentile(toint(e.bytes), 50) by day = bin(timestamp, 1d), outcome = tostring(e["outcome"])
| order by day asc`, tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["n"] != 2.0 || rows[0]["bytes"] != 40.0 || rows[0]["p50"] != 10.0 || rows[0]["outcome"] != "stored" {
		t.Errorf("rows = %v", rows)
	}
	for _, bad := range []string{`traces | mv-expand x`, `traces | where foo(message)`, `traces | summarize dcountif(message, true)`, `traces | extend tostring(message)`} {
		if _, err := kqlRun(bad, tables); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
