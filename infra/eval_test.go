package infra

import (
	"strconv"
	"testing"
)

// deployment reads a template as Azure would deploy it for one choice of
// parameters: each ?: takes the branch its condition selects, variables are
// followed, and a conditional resource or module is deployed or not. It
// understands what the templates' switches are made of (literals, bool and
// string parameters, !, ==, !=, &&, ||, empty()); anything else is
// "unknown", which the tests report instead of guessing.
type deployment struct {
	f      *bicepFile
	params map[string]string // parameter -> value; unset ones take their default
	vars   map[string]*node
}

func deploy(t testing.TB, rel string, params map[string]string) deployment {
	t.Helper()
	f := parseBicep(t, rel)
	d := deployment{f: f, params: map[string]string{}, vars: map[string]*node{}}
	for _, v := range f.decls("variable_declaration") {
		d.vars[v.Name] = v.Body
	}
	for _, p := range f.decls("parameter_declaration") {
		if v, ok := literal(p.Body); ok {
			d.params[p.Name] = v
		}
	}
	for k, v := range params {
		d.params[k] = v
	}
	return d
}

// pick follows variables, parentheses and ?: to the expression deployed.
func (d deployment) pick(n *node) *node {
	for range 50 {
		switch {
		case n == nil:
			return nil
		case n.Kind == "parenthesized_expression" && len(n.named()) == 1:
			n = n.named()[0]
		case n.Kind == "identifier" && d.vars[n.Text] != nil:
			n = d.vars[n.Text]
		case n.Kind == "ternary_expression" && len(n.named()) == 3:
			k := n.named()
			c, ok := d.value(k[0])
			if !ok {
				return n // undecidable: the caller sees a ternary
			}
			if c == "true" {
				n = k[1]
			} else {
				n = k[2]
			}
		default:
			return n
		}
	}
	return n
}

// value is a scalar expression's value ("null" for null); ok is false when
// the expression is computed at deployment.
func (d deployment) value(n *node) (string, bool) {
	n = d.pick(n)
	if n == nil {
		return "", false
	}
	if v, ok := literal(n); ok {
		return v, true
	}
	k := n.named()
	switch n.Kind {
	case "null":
		return "null", true
	case "identifier":
		v, ok := d.params[n.Text]
		return v, ok
	case "unary_expression":
		if n.hasToken("!") && len(k) == 1 {
			if v, ok := d.value(k[0]); ok {
				return strconv.FormatBool(v != "true"), true
			}
		}
	case "binary_expression":
		if len(k) != 2 {
			return "", false
		}
		a, okA := d.value(k[0])
		b, okB := d.value(k[1])
		switch {
		case n.hasToken("&&"):
			if okA && a == "false" || okB && b == "false" {
				return "false", true
			}
			if okA && okB {
				return "true", true
			}
		case n.hasToken("||"):
			if okA && a == "true" || okB && b == "true" {
				return "true", true
			}
			if okA && okB {
				return "false", true
			}
		case n.hasToken("==") && okA && okB:
			return strconv.FormatBool(a == b), true
		case n.hasToken("!=") && okA && okB:
			return strconv.FormatBool(a != b), true
		}
	case "call_expression":
		if len(k) == 2 && k[0].Text == "empty" && len(k[1].named()) == 1 {
			if v, ok := d.value(k[1].named()[0]); ok {
				return strconv.FormatBool(v == "" || v == "null"), true
			}
		}
	}
	return "", false
}

// get follows keys from obj as deployed: get(body, "properties", "sku").
func (d deployment) get(obj *node, keys ...string) *node {
	cur := d.pick(obj)
	for _, k := range keys {
		cur = d.pick(props(cur)[k])
		if cur == nil {
			return nil
		}
	}
	return cur
}

// deployed: whether a resource or module is part of the deployment.
func (d deployment) deployed(t testing.TB, x decl) bool {
	t.Helper()
	if x.Cond == nil {
		return true
	}
	v, ok := d.value(x.Cond)
	if !ok {
		t.Fatalf("%s %s: cannot decide its condition %s", pos(d.f, x.Node), x.Name, x.Cond.Text)
	}
	return v == "true"
}

// scalar is get's value, failing the test when it is computed.
func (d deployment) scalar(t testing.TB, obj *node, keys ...string) string {
	t.Helper()
	n := d.get(obj, keys...)
	if n == nil {
		return "<unset>"
	}
	v, ok := d.value(n)
	if !ok {
		t.Fatalf("%s: %v = %s is not decided by the parameters", d.f.Path, keys, n.Text)
	}
	return v
}

// The evaluator itself: each construct the templates' switches use.
func TestDeploymentEvaluator(t *testing.T) {
	d := deploy(t, "modules/functionapp.bicep", map[string]string{"hostingPlan": "ElasticPremium", "appSubnetId": "/subnets/app"})
	app := d.f.decl(t, "resource_declaration", "app")
	if v := d.scalar(t, app.Body, "properties", "virtualNetworkSubnetId"); v != "/subnets/app" {
		t.Errorf("virtualNetworkSubnetId = %s, want the subnet given", v)
	}
	if v := d.scalar(t, d.f.decl(t, "resource_declaration", "plan").Body, "sku", "name"); v != "EP1" {
		t.Errorf("plan sku = %s, want EP1 (through var and ?:)", v)
	}
	flex := deploy(t, "modules/functionapp.bicep", map[string]string{"hostingPlan": "FlexConsumption"})
	if v := flex.scalar(t, app.Body, "properties", "virtualNetworkSubnetId"); v != "null" {
		t.Errorf("virtualNetworkSubnetId without a subnet = %s, want null", v)
	}
	if v := flex.scalar(t, app.Body, "properties", "functionAppConfig", "runtime", "name"); v != "custom" {
		t.Errorf("Flex runtime = %s, want custom", v)
	}
	sb := deploy(t, "modules/servicebus.bicep", map[string]string{"privateNetworking": "true"})
	if !sb.deployed(t, sb.f.decl(t, "resource_declaration", "networkRules")) {
		t.Error("a resource conditional on a true parameter is not deployed")
	}
	if deploy(t, "modules/servicebus.bicep", nil).deployed(t, sb.f.decl(t, "resource_declaration", "networkRules")) {
		t.Error("a resource conditional on a parameter defaulting to false is deployed")
	}
}
