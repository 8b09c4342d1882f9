package infra

import "testing"

// The template's own defaults scale as the shared budget allows: on Flex a
// cap every region accepts (40), the whole budget per deployment (nothing
// divides it by the cap), and the smallest instance memory, which holds the
// handler's measured footprint (main.bicep says why).
func TestDefaultsScaleOnTheSharedBudget(t *testing.T) {
	for plan, want := range map[string]int{"FlexConsumption": 40, "ElasticPremium": 4} {
		d := deploy(t, "main.bicep", map[string]string{"hostingPlan": plan})
		v, ok := d.value(d.f.decl(t, "parameter_declaration", "maxInstances").Body)
		if !ok || atoi(t, "main.bicep maxInstances", v) != want {
			t.Errorf("%s: maxInstances defaults to %q, want %d", plan, v, want)
		}
	}
	for _, rel := range []string{"main.bicep", "modules/functionapp.bicep"} {
		f := parseBicep(t, rel)
		if v := mustLiteral(t, rel+" instanceMemoryMB", f.decl(t, "parameter_declaration", "instanceMemoryMB").Body); v != "512" {
			t.Errorf("%s: instanceMemoryMB defaults to %s, want 512 (peak RSS 34.5 MiB, copying at the full budget)", rel, v)
		}
	}
	// The app gets the whole budget: VCC_RATE_PER_MINUTE is the budget
	// parameter itself, never an expression of the instance cap.
	main := parseBicep(t, "main.bicep")
	var rate *node
	for _, m := range main.decls("module_declaration") {
		if r := findProp(m.Body, "vccRatePerMinute"); len(r) == 1 {
			rate = r[0]
		}
	}
	if rate == nil || rate.Text != "vccRateBudgetPerMinute" {
		t.Errorf("main.bicep passes vccRatePerMinute = %v, want vccRateBudgetPerMinute undivided", rate)
	}
}
