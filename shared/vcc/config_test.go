package vcc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		errName string // the setting the error must name
	}{
		{name: "defaults", env: map[string]string{"VCC_CLIENT_ID": "id"},
			want: Config{TokenURL: "https://emea.cc.vonage.com/Auth/connect/token", APIURL: "https://emea.api.newvoicemedia.com", ClientID: "id"}},
		{name: "region nam", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_REGION": "NAM"},
			want: Config{TokenURL: "https://nam.cc.vonage.com/Auth/connect/token", APIURL: "https://nam.api.newvoicemedia.com", ClientID: "id"}},
		{name: "overrides and numbers", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_REGION": "apac",
			"VCC_TOKEN_URL": "http://127.0.0.1:9000/Auth/connect/token", "VCC_API_URL": "http://localhost:9001",
			"VCC_RATE_PER_MINUTE": "80", "VCC_PAGE_SIZE": "500"},
			want: Config{TokenURL: "http://127.0.0.1:9000/Auth/connect/token", APIURL: "http://localhost:9001", ClientID: "id", RatePerMinute: 80, PageSize: 500}},
		{name: "ipv6 loopback", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_API_URL": "http://[::1]:8080"},
			want: Config{TokenURL: "https://emea.cc.vonage.com/Auth/connect/token", APIURL: "http://[::1]:8080", ClientID: "id"}},
		{name: "bad region", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_REGION": "mars"}, errName: "VCC_REGION"},
		{name: "missing client id", env: map[string]string{}, errName: "VCC_CLIENT_ID"},
		{name: "plain http elsewhere", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_API_URL": "http://emea.api.newvoicemedia.com"}, errName: "VCC_API_URL"},
		{name: "plain http token", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_TOKEN_URL": "http://10.0.0.1/token"}, errName: "VCC_TOKEN_URL"},
		{name: "other scheme", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_API_URL": "ftp://x"}, errName: "VCC_API_URL"},
		{name: "loopback lookalike", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_API_URL": "http://127.0.0.1.evil.example"}, errName: "VCC_API_URL"},
		{name: "bad rate", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_RATE_PER_MINUTE": "0"}, errName: "VCC_RATE_PER_MINUTE"},
		{name: "bad page size", env: map[string]string{"VCC_CLIENT_ID": "id", "VCC_PAGE_SIZE": "1001"}, errName: "VCC_PAGE_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.errName != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errName) {
					t.Fatalf("err = %v, want one naming %s", err, tt.errName)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewValidatesAndDefaults(t *testing.T) {
	base := Config{TokenURL: "https://emea.cc.vonage.com/Auth/connect/token", APIURL: "https://emea.api.newvoicemedia.com",
		ClientID: "id", Secret: secrets.Static(secrets.New("x"))}
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	if cfg.RatePerMinute != 160 || cfg.MaxRetries != 5 || cfg.PageSize != 1000 || cfg.StatsPageSize != 1000 ||
		cfg.RefreshAt != 0.9 || cfg.AgentCacheTTL != time.Hour || cfg.Application != "vcc-ingest" ||
		cfg.BackoffBase != time.Second || cfg.BackoffMax != time.Minute || cfg.HTTPClient == nil || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.HTTPClient.Timeout != 0 {
		t.Error("an overall client timeout would cut long downloads")
	}
	bad := []func(*Config){
		func(c *Config) { c.Secret = nil },
		func(c *Config) { c.ClientID = "" },
		func(c *Config) { c.APIURL = "http://example.com" },
		func(c *Config) { c.TokenURL = "" },
		func(c *Config) { c.PageSize = 1001 },
		func(c *Config) { c.RefreshAt = 1.5 },
		func(c *Config) { c.MaxRetries = -1 },
	}
	for i, m := range bad {
		cfg := base
		m(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("case %d: New accepted %+v", i, cfg)
		}
	}
}

func TestURLKeepsBasePath(t *testing.T) {
	c, err := New(Config{TokenURL: "https://a.example/t", APIURL: "https://a.example/prefix/", ClientID: "id", Secret: secrets.Static{}})
	if err != nil {
		t.Fatal(err)
	}
	u := c.url([]string{"interaction-content", "interactions", guid(1), "content", "a,b"}, url.Values{"x": {"1 2"}})
	if got, want := u.String(), "https://a.example/prefix/interaction-content/interactions/"+guid(1)+"/content/a%2Cb?x=1+2"; got != want {
		t.Errorf("url = %s, want %s", got, want)
	}
}

func TestValidGUID(t *testing.T) {
	tests := map[string]bool{
		"0f8fad5b-d9cb-469f-a165-70867728950e":  true,
		"0F8FAD5B-D9CB-469F-A165-70867728950E":  true,
		"0f8fad5bd9cb469fa16570867728950e":      false,
		"0f8fad5b-d9cb-469f-a165-70867728950":   false,
		"0f8fad5b-d9cb-469f-a165-70867728950e0": false,
		"0f8fad5b-d9cb-469f-a165_70867728950e":  false,
		"0f8fad5b-d9cb-469f-a165-7086772895/e":  false,
		"{0f8fad5b-d9cb-469f-a165-70867728950}": false,
		"":                                      false,
	}
	for s, want := range tests {
		if ValidGUID(s) != want {
			t.Errorf("ValidGUID(%q) = %v", s, !want)
		}
	}
}

func TestValidContentKey(t *testing.T) {
	tests := map[string]bool{
		"callRecording": true, "a": true, "A-z_0.9,!*'()": true, strings.Repeat("k", 36): true,
		strings.Repeat("k", 37): false, "": false, ".": false, "..": false, "...": true,
		"a/b": false, "a b": false, "a%20": false, "a?b": false, "a#b": false, "é": false, "a\x00": false,
	}
	for s, want := range tests {
		if ValidContentKey(s) != want {
			t.Errorf("ValidContentKey(%q) = %v", s, !want)
		}
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name                 string
		err                  error
		permanent, transient bool
	}{
		{"400", &APIError{Endpoint: "content.get", Status: 400}, true, false},
		{"403", &APIError{Endpoint: "content.get", Status: 403}, true, false},
		{"404 wrapped", fmt.Errorf("x: %w", &APIError{Endpoint: "content.get", Status: 404}), true, false},
		{"401 api", &APIError{Endpoint: "content.get", Status: 401}, false, true},
		{"401 token", &APIError{Endpoint: "token", Status: 401}, true, false},
		{"408", &APIError{Status: 408}, false, true},
		{"429", &APIError{Status: 429}, false, true},
		{"500", &APIError{Status: 500}, false, true},
		{"503", &APIError{Status: 503}, false, true},
		{"invalid id", invalidID("guid", "x"), true, false},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false, true},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), false, true},
		{"deadline", context.DeadlineExceeded, false, true},
		{"canceled", context.Canceled, false, false},
		{"url timeout", &url.Error{Op: "Get", URL: "u", Err: timeoutErr{}}, false, true},
		{"plain", errors.New("something"), false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent = %v", got)
			}
			if got := IsTransient(tt.err); got != tt.transient {
				t.Errorf("IsTransient = %v", got)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
