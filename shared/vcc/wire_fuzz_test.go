package vcc

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

// fuzzClient is a Client that is never asked to send anything: the decoders
// only need its logger and counters.
func fuzzClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{
		TokenURL: "http://127.0.0.1:1/Auth/connect/token", APIURL: "http://127.0.0.1:1", ClientID: "fuzz",
		Secret: secrets.Static(secrets.New("fuzz-secret")), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzContentPage: whatever a listing page holds, every interaction that
// passes conversion has a valid guid, a UTC start and only valid content
// keys (they become blob names), and every skipped one is counted.
func FuzzContentPage(f *testing.F) {
	f.Add([]byte(`{"items":[{"guid":"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f","start":"2026-11-02T10:00:00Z","direction":"Inbound","connectFrom":4420,"handlingAgents":[{"id":123}],"content":[{"contentKey":"callRecording","type":"callRecording","contentType":"audio/wav","contentLength":"2048"}]}],"meta":{"nextContinuationToken":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var page wireContentPage
		if json.Unmarshal(data, &page) != nil {
			return
		}
		c := fuzzClient(t)
		bad := 0
		for _, w := range page.Items {
			in, err := c.interaction(context.Background(), w)
			if err != nil {
				bad++
				continue
			}
			if !ValidGUID(in.GUID) || in.Start.Location() != time.UTC {
				t.Fatalf("accepted interaction %q start %v", in.GUID, in.Start)
			}
			for _, item := range in.Content {
				if !ValidContentKey(item.ContentKey) || item.ContentLength < -1 {
					t.Fatalf("accepted content %+v", item)
				}
			}
		}
		if got := c.Counters().Invalid; got < int64(bad) {
			t.Fatalf("%d interactions rejected, %d counted invalid", bad, got)
		}
	})
}

// FuzzStatsPage: any stats page, in any of its shapes, decodes without
// panicking, and a converted record has a valid guid and a known direction.
func FuzzStatsPage(f *testing.F) {
	f.Add([]byte(`{"items":[{"guid":"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f","start":"2026-11-02T10:00:00.000","duration":"61000","direction":"Outbound","medium":"Phone"}],"meta":{"page":1,"count":1,"pageCount":1,"totalCount":1}}`))
	f.Add([]byte(`[{"guid":"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f","start":"2026-11-02 10:00:00Z","duration":1.5e3,"direction":"internal"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var page wireStatsPage
		if json.Unmarshal(data, &page) != nil {
			return
		}
		c := fuzzClient(t)
		for _, w := range page.Items {
			s, err := c.stats(context.Background(), w)
			if err != nil {
				continue
			}
			switch s.Direction {
			case DirectionInbound, DirectionOutbound, DirectionInternal, DirectionUnknown:
			default:
				t.Fatalf("direction %q", s.Direction)
			}
			if !ValidGUID(s.GUID) {
				t.Fatalf("guid %q", s.GUID)
			}
		}
	})
}

// FuzzUsersPage: the User Admin page in both shapes; a user always yields
// an Agent marked resolved under the id it was asked for.
func FuzzUsersPage(f *testing.F) {
	f.Add([]byte(`{"users":[{"userId":"u-1","username":"ada","name":"Ada L","email":"ada@example.com","ssoExternalId":7,"userAccountConfiguration":{"agentConfiguration":{"agentDisplayId":1001}}}],"meta":{"page":1}}`))
	f.Add([]byte(`[{"userId":42,"username":"bob","userAccountConfiguration":null}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var page wireUsersPage
		if json.Unmarshal(data, &page) != nil {
			return
		}
		for _, u := range page.Users {
			a := u.agent("id-1")
			if !a.Resolved || a.ID != "id-1" || a.UserID != string(u.UserID) {
				t.Fatalf("agent %+v from %+v", a, u)
			}
			if a.Name == "" && u.Name != "" {
				t.Fatalf("name lost: %+v", a)
			}
		}
	})
}
