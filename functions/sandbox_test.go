package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// `handler sandbox --per-day 0 --add-recording N` serves exactly one
// interaction, an hour into the first day, whose recording has N bytes; the
// product's own client lists and downloads it with the printed settings.
func TestSandboxCommandServesAnAddedRecording(t *testing.T) {
	const size = 3<<20 + 7
	cmd := childCommand(t, nil, "sandbox", "--addr", "127.0.0.1:0", "--per-day", "0", "--day", "2026-11-05",
		"--latency", "1ms", "--add-recording", "3145735")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	settings := map[string]string{}
	var added []string
	lines := bufio.NewScanner(out)
	for len(added) == 0 && lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), vccsim.AddedPrefix+" "); ok {
			added = strings.Fields(rest)
			break
		}
		k, v, _ := strings.Cut(lines.Text(), "=")
		settings[k] = v
	}
	if len(added) != 3 || added[1] != "2026-11-05T01:00:00Z" || added[2] != "3145735" {
		t.Fatalf("added line %q, settings %v", added, settings)
	}
	client, err := vcc.New(vcc.Config{
		TokenURL: settings["VCC_TOKEN_URL"], APIURL: settings["VCC_API_URL"], ClientID: settings["VCC_CLIENT_ID"],
		Secret: secrets.Static(secrets.New(settings["VCC_CLIENT_SECRET"])), RatePerMinute: 10000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var listed []vcc.Interaction
	day := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	if err := client.ListInteractions(ctx, day, day.Add(24*time.Hour), func(i vcc.Interaction) error {
		listed = append(listed, i)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].GUID != added[0] || len(listed[0].Content) != 1 {
		t.Fatalf("listed %+v, want only %s with one recording", listed, added[0])
	}
	dl, err := client.Download(ctx, added[0], listed[0].Content[0].ContentKey)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(dl.Body, head); err != nil || string(head) != "RIFF" {
		t.Fatalf("head %q, %v", head, err)
	}
	rest, err := io.Copy(io.Discard, dl.Body)
	if err != nil || rest+4 != size || dl.Length != size {
		t.Fatalf("downloaded %d of %d bytes (length %d), %v", rest+4, size, dl.Length, err)
	}
}

func TestSandboxCommandRejectsNegativeFlags(t *testing.T) {
	for _, flag := range []string{"--per-day", "--add-recording"} {
		status, _, stderr := runCmd(t, "sandbox", "--addr", "127.0.0.1:0", flag, "-1")
		if status == 0 || !strings.Contains(stderr, "negative") {
			t.Errorf("%s -1: status %d, %q", flag, status, stderr)
		}
	}
}

// `handler sandbox --outage D --token-lifetime L` answers every API call
// with 503 during the outage and issues tokens that live L.
func TestSandboxCommandOutageAndTokenLifetime(t *testing.T) {
	cmd := childCommand(t, nil, "sandbox", "--addr", "127.0.0.1:0", "--per-day", "5", "--outage", "1h", "--token-lifetime", "20s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	settings := map[string]string{}
	lines := bufio.NewScanner(out)
	for settings["VCC_CLIENT_SECRET"] == "" && lines.Scan() {
		k, v, _ := strings.Cut(lines.Text(), "=")
		settings[k] = v
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {settings["VCC_CLIENT_ID"]},
		"client_secret": {settings["VCC_CLIENT_SECRET"]}, "scope": {"stats"}}
	resp, err := http.PostForm(settings["VCC_TOKEN_URL"], form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.ExpiresIn != 20 {
		t.Fatalf("token: expires_in %d, %v; want 20 (and the token endpoint up during the outage)", tok.ExpiresIn, err)
	}
	req, _ := http.NewRequest(http.MethodGet, settings["VCC_API_URL"]+"/stats/interactions?start=2026-11-02T00:00:00Z&end=2026-11-03T00:00:00Z", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", vccsim.MediaV3)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("API call during the outage: %d, want 503", resp.StatusCode)
	}
}
