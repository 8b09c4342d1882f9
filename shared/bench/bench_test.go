package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestGoalCheck(t *testing.T) {
	cases := []struct {
		goal Goal
		v    float64
		want bool
	}{
		{Goal{"<=", 1.05}, 1.05, true},
		{Goal{"<=", 1.05}, 1.0501, false},
		{Goal{"<", 64}, 64, false},
		{Goal{">=", 0.9}, 0.89, false},
		{Goal{">=", 0.9}, 0.9, true},
		{Goal{"==", 1}, 2, false},
		{Goal{"==", 1}, 1, true},
		{Goal{"?", 1}, 1, false},
	}
	for _, c := range cases {
		if got := c.goal.Check(c.v); got != c.want {
			t.Errorf("%v.Check(%v) = %v, want %v", c.goal, c.v, got, c.want)
		}
	}
}

func TestMachineParsing(t *testing.T) {
	cpu := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\nprocessor\t: 1\n"
	if got := cpuModel(cpu); got != "AMD EPYC 7B13 64-Core Processor" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := memTotalGiB("MemFree: 1 kB\nMemTotal:       24641536 kB\n"); got != 23.5 {
		t.Errorf("memTotalGiB = %v", got)
	}
}

// A missed goal is printed as missed with its reason; a figure without a
// goal has no verdict.
func TestPrintTable(t *testing.T) {
	rep := Report{Machine: Machine{CPUs: 2, CPUModel: "X"}, Results: []Result{
		{Measure: "ratio", Value: 0.82, Goal: Goal{">=", 0.9}, Valid: true, Reason: "hashing costs CPU"},
		{Measure: "speed", Value: 34.5, Unit: "MB/s", Valid: true, Met: true},
		{Measure: "calls", Value: 1.004, Goal: Goal{"<=", 1.05}, Valid: true, Met: true},
	}}
	var out bytes.Buffer
	PrintTable(&out, rep)
	s := out.String()
	for _, want := range []string{"ratio    0.82", "≥ 0.9", "missed", "missed because: hashing costs CPU", "34.5 MB/s", "1.004", "met"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
}
