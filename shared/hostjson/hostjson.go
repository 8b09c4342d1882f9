// Package hostjson reads the settings of host.json that the handler and the
// local host stand-in must agree with the Functions host on: the function
// timeout, the Service Bus trigger's concurrency and its lock renewal, and
// which telemetry Application Insights' adaptive sampling may drop (the
// alert rules and the workbook count lines that must all arrive). They are
// read from the file the host itself reads, so no value is duplicated in
// code.
package hostjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FileName is the host's configuration file, at the function app's root.
const FileName = "host.json"

// Settings are the host.json values the product depends on.
type Settings struct {
	Path string // where they were read from
	// FunctionTimeout is functionTimeout; zero when unbounded ("-1", as
	// Premium and Flex Consumption allow).
	FunctionTimeout time.Duration
	// MaxConcurrentCalls is extensions.serviceBus.maxConcurrentCalls
	// (the host's default, 16, when absent).
	MaxConcurrentCalls int
	// MaxAutoLockRenewal is extensions.serviceBus.maxAutoLockRenewalDuration
	// (the host's default, 5 minutes, when absent).
	MaxAutoLockRenewal time.Duration
	// SampledTypes are the telemetry types adaptive sampling may drop
	// (logging.applicationInsights.samplingSettings; on by default for
	// every type), in SamplingTypes' spelling; empty when sampling is off.
	SampledTypes []string
}

// SamplingTypes are the telemetry types samplingSettings names, each
// sampled unless host.json excludes it.
var SamplingTypes = []string{"Dependency", "Event", "Exception", "PageView", "Request", "Trace"}

// Defaults of the Functions host (Service Bus extension 5.x) for settings
// host.json leaves out.
const (
	defaultMaxConcurrentCalls = 16
	defaultMaxAutoLockRenewal = 5 * time.Minute
)

// Load reads host.json at path.
func Load(path string) (Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, err
	}
	s, err := Parse(data)
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	s.Path = path
	return s, nil
}

// Parse reads host.json's content.
func Parse(data []byte) (Settings, error) {
	var f struct {
		FunctionTimeout *string `json:"functionTimeout"`
		Extensions      struct {
			ServiceBus struct {
				MaxConcurrentCalls         *int    `json:"maxConcurrentCalls"`
				MaxAutoLockRenewalDuration *string `json:"maxAutoLockRenewalDuration"`
			} `json:"serviceBus"`
		} `json:"extensions"`
		Logging struct {
			ApplicationInsights struct {
				SamplingSettings *samplingSettings `json:"samplingSettings"`
			} `json:"applicationInsights"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return Settings{}, err
	}
	s := Settings{MaxConcurrentCalls: defaultMaxConcurrentCalls, MaxAutoLockRenewal: defaultMaxAutoLockRenewal}
	if f.FunctionTimeout == nil {
		return s, errors.New("functionTimeout: not set (the host's default depends on the plan; set it)")
	}
	if *f.FunctionTimeout != "-1" {
		d, err := ParseTimeSpan(*f.FunctionTimeout)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("functionTimeout %q: want hh:mm:ss or -1", *f.FunctionTimeout)
		}
		s.FunctionTimeout = d
	}
	sb := f.Extensions.ServiceBus
	if sb.MaxConcurrentCalls != nil {
		if *sb.MaxConcurrentCalls < 1 {
			return s, fmt.Errorf("extensions.serviceBus.maxConcurrentCalls %d: want at least 1", *sb.MaxConcurrentCalls)
		}
		s.MaxConcurrentCalls = *sb.MaxConcurrentCalls
	}
	if sb.MaxAutoLockRenewalDuration != nil {
		d, err := ParseTimeSpan(*sb.MaxAutoLockRenewalDuration)
		if err != nil || d < 0 {
			return s, fmt.Errorf("extensions.serviceBus.maxAutoLockRenewalDuration %q: want hh:mm:ss", *sb.MaxAutoLockRenewalDuration)
		}
		s.MaxAutoLockRenewal = d
	}
	sampled, err := f.Logging.ApplicationInsights.SamplingSettings.sampled()
	if err != nil {
		return s, fmt.Errorf("logging.applicationInsights.samplingSettings: %w", err)
	}
	s.SampledTypes = sampled
	return s, nil
}

// samplingSettings is the part of Application Insights' sampling settings
// that decides which types are sampled.
type samplingSettings struct {
	IsEnabled     *bool  `json:"isEnabled"`
	ExcludedTypes string `json:"excludedTypes"`
	IncludedTypes string `json:"includedTypes"`
}

// sampled is the types the settings leave to sampling: every type when
// absent (the host's default), only includedTypes when given, never an
// excluded one. A misspelt type is an error: the host would ignore it and
// sample what it was meant to keep.
func (ss *samplingSettings) sampled() ([]string, error) {
	if ss == nil {
		return slices.Clone(SamplingTypes), nil
	}
	if ss.IsEnabled != nil && !*ss.IsEnabled {
		return nil, nil
	}
	included, err := samplingTypeList("includedTypes", ss.IncludedTypes)
	if err != nil {
		return nil, err
	}
	excluded, err := samplingTypeList("excludedTypes", ss.ExcludedTypes)
	if err != nil {
		return nil, err
	}
	if len(included) == 0 {
		included = SamplingTypes
	}
	var out []string
	for _, t := range included {
		if !slices.Contains(excluded, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// samplingTypeList reads a ';'-separated list of telemetry types, matched
// without regard to case as the host does.
func samplingTypeList(key, v string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(v, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		i := slices.IndexFunc(SamplingTypes, func(t string) bool { return strings.EqualFold(t, f) })
		if i < 0 {
			return nil, fmt.Errorf("%s: %q is not a telemetry type (%s)", key, f, strings.Join(SamplingTypes, ";"))
		}
		out = append(out, SamplingTypes[i])
	}
	return out, nil
}

var timeSpan = regexp.MustCompile(`^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$`)

// ParseTimeSpan reads a .NET TimeSpan in host.json's form, [d.]hh:mm:ss[.fffffff].
func ParseTimeSpan(v string) (time.Duration, error) {
	m := timeSpan.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%q is not [d.]hh:mm:ss", v)
	}
	n := func(s string) time.Duration { i, _ := strconv.Atoi(s); return time.Duration(i) }
	h, mi, se := n(m[2]), n(m[3]), n(m[4])
	if h > 23 && m[1] != "" || mi > 59 || se > 59 {
		return 0, fmt.Errorf("%q is not a valid time span", v)
	}
	d := n(m[1])*24*time.Hour + h*time.Hour + mi*time.Minute + se*time.Second
	if frac := m[5]; frac != "" {
		for len(frac) < 9 {
			frac += "0"
		}
		d += n(frac)
	}
	return d, nil
}

// Find looks for host.json where the host and a local run keep it: the app
// root the host names (FUNCTIONS_APP_ROOT_PATH), beside the executable or
// one folder up (bin/handler in a checkout), and the working directory or
// a folder above it (a command run inside a checkout).
func Find(getenv func(string) string) (Settings, error) {
	var dirs []string
	if root := getenv("FUNCTIONS_APP_ROOT_PATH"); root != "" {
		dirs = append(dirs, root)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe), filepath.Dir(filepath.Dir(exe)))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, FileName)
		if _, err := os.Stat(p); err == nil {
			return Load(p)
		}
	}
	return Settings{}, fmt.Errorf("%s not found (looked in %v): the invocation deadline and the local host's concurrency come from it; set FUNCTIONS_APP_ROOT_PATH to the folder that holds it", FileName, dirs)
}

// InvocationDeadline is how long the handler lets one invocation run: a
// margin below functionTimeout, so that an overrunning invocation fails on
// its own (its message retried) before the host's timeout restarts the
// whole handler process and fails every invocation in flight with it. The
// margin is a tenth of the timeout, at least 5 s and at most 2 minutes.
// Zero when the function timeout is unbounded.
func (s Settings) InvocationDeadline() time.Duration {
	if s.FunctionTimeout <= 0 {
		return 0
	}
	margin := min(max(s.FunctionTimeout/10, 5*time.Second), 2*time.Minute)
	if margin >= s.FunctionTimeout {
		return s.FunctionTimeout / 2
	}
	return s.FunctionTimeout - margin
}
