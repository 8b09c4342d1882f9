package vcc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Direction is an interaction's direction, normalised across APIs (Stats
// capitalises it, Interaction Content does not).
type Direction string

// Directions.
const (
	DirectionInbound  Direction = "inbound"
	DirectionOutbound Direction = "outbound"
	DirectionInternal Direction = "internal"
	DirectionUnknown  Direction = "unknown"
)

// NormalizeDirection maps any letter case of inbound/outbound/internal to the
// Direction; anything else (including "") is DirectionUnknown.
func NormalizeDirection(s string) Direction {
	switch d := Direction(strings.ToLower(strings.TrimSpace(s))); d {
	case DirectionInbound, DirectionOutbound, DirectionInternal:
		return d
	}
	return DirectionUnknown
}

// AgentRef is a handling agent as Interaction Content names it (often a
// short numeric id, not a User Admin guid; see ResolveAgent).
type AgentRef struct{ ID string }

// ContentItem is one piece of content of an interaction.
type ContentItem struct {
	ContentKey, Type, ContentType string
	ContentLength                 int64 // -1 when unknown
	LastModified                  time.Time
	OwningAgentID                 string
}

// Interaction is an interaction as listed by Interaction Content v3, with
// only the content items whose keys are valid.
type Interaction struct {
	GUID                   string
	Start                  time.Time
	Direction              Direction
	ConnectFrom, ConnectTo string
	HandlingAgents         []AgentRef
	Content                []ContentItem
}

// Line is the address VCC's line permissions see (see Stats.Line).
func (in Interaction) Line() string { return LineOf(in.Direction, in.ConnectFrom, in.ConnectTo) }

// AudioMedia reports whether a content item's contentType is audio: a
// callRecording can be a video. An item without a contentType is judged by
// its type alone.
func AudioMedia(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	return ct == "" || strings.HasPrefix(ct, "audio/")
}

// maxContentWindow is the longest window the listing accepts.
const maxContentWindow = 7 * 24 * time.Hour

type wireRef struct {
	ID flexString `json:"id"`
}

type wireContent struct {
	ContentKey    string   `json:"contentKey"`
	Type          string   `json:"type"`
	ContentType   string   `json:"contentType"`
	ContentLength flexInt  `json:"contentLength"`
	LastModified  string   `json:"lastModified"`
	OwningAgent   *wireRef `json:"owningAgent"`
}

type wireInteraction struct {
	GUID           string        `json:"guid"`
	Start          string        `json:"start"`
	ConnectFrom    flexString    `json:"connectFrom"`
	ConnectTo      flexString    `json:"connectTo"`
	Direction      string        `json:"direction"`
	HandlingAgents []wireRef     `json:"handlingAgents"`
	Content        []wireContent `json:"content"`
}

type wireContentPage struct {
	Items []wireInteraction `json:"items"`
	Meta  struct {
		NextContinuationToken *string `json:"nextContinuationToken"`
		ContinuationToken     *string `json:"continuationToken"`
	} `json:"meta"`
}

// interaction converts and validates a wire interaction. An invalid guid or
// start makes the whole interaction invalid; an invalid content key drops
// only that item. Every invalid id is counted and logged, never used.
func (c *Client) interaction(ctx context.Context, w wireInteraction) (Interaction, error) {
	if !ValidGUID(w.GUID) {
		c.invalid(ctx, "guid", w.GUID, "")
		return Interaction{}, invalidID("interaction guid", w.GUID)
	}
	start, err := parseTime(w.Start)
	if err == nil && start.IsZero() {
		err = errors.New("no start time") // it would name the blob 0001/01/01
	}
	if err != nil {
		c.invalid(ctx, "start", w.Start, w.GUID)
		return Interaction{}, &permanentError{fmt.Errorf("vcc: interaction %s: %w", w.GUID, err)}
	}
	in := Interaction{
		GUID:        w.GUID,
		Start:       start,
		Direction:   NormalizeDirection(w.Direction),
		ConnectFrom: string(w.ConnectFrom),
		ConnectTo:   string(w.ConnectTo),
	}
	for _, a := range w.HandlingAgents {
		if a.ID != "" {
			in.HandlingAgents = append(in.HandlingAgents, AgentRef{ID: string(a.ID)})
		}
	}
	for _, wc := range w.Content {
		if !ValidContentKey(wc.ContentKey) {
			c.invalid(ctx, "contentKey", wc.ContentKey, w.GUID)
			continue
		}
		item := ContentItem{
			ContentKey:    wc.ContentKey,
			Type:          wc.Type,
			ContentType:   wc.ContentType,
			ContentLength: -1,
		}
		if wc.ContentLength.known && wc.ContentLength.n >= 0 {
			item.ContentLength = wc.ContentLength.n
		}
		item.LastModified, _ = parseTime(wc.LastModified) // informational only
		if wc.OwningAgent != nil {
			item.OwningAgentID = string(wc.OwningAgent.ID)
		}
		in.Content = append(in.Content, item)
	}
	return in, nil
}

// inWindow reports whether t is in [start, end), counting what is not: the
// product asks for half-open windows whatever the API does at their end, so
// that adjacent windows never both take an interaction.
func (c *Client) inWindow(t, start, end time.Time) bool {
	if !t.Before(start) && t.Before(end) {
		return true
	}
	c.count.outOfWindow.Add(1)
	return false
}

// invalid counts and logs an id that failed validation.
func (c *Client) invalid(ctx context.Context, kind, value, guid string) {
	c.count.invalid.Add(1)
	if len(value) > 64 {
		value = value[:64] + "..."
	}
	c.cfg.Logger.WarnContext(ctx, "vcc returned an invalid id; skipped", "kind", kind, "value", value, "interaction", guid)
}

// ListInteractions calls fn for every interaction with content that started
// in [start, end), oldest window first. Windows longer than the API's 7-day
// limit are split; an item the API returns outside its window (one version
// of the docs calls end inclusive) is dropped before fn sees it, and counted
// in Counters().OutOfWindow; an interaction seen twice (across pages) is
// passed once. Interactions with
// an invalid guid are skipped and counted in Counters().Invalid. An error
// from fn stops the listing and is returned as is.
func (c *Client) ListInteractions(ctx context.Context, start, end time.Time, fn func(Interaction) error) error {
	seen := make(map[string]struct{})
	for _, w := range windows(start, end, maxContentWindow) {
		if err := c.listContentWindow(ctx, w[0], w[1], seen, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) listContentWindow(ctx context.Context, start, end time.Time, seen map[string]struct{}, fn func(Interaction) error) error {
	q := url.Values{
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"limit": {strconv.Itoa(c.cfg.PageSize)},
	}
	tokens := make(map[string]struct{})
	for {
		var page wireContentPage
		err := c.getJSON(ctx, request{
			endpoint: endpointContentList,
			accept:   acceptContent,
			segments: []string{"interaction-content", "interactions"},
			query:    q,
		}, &page)
		if err != nil {
			return err
		}
		for _, w := range page.Items {
			in, err := c.interaction(ctx, w)
			if err != nil {
				continue // counted and logged
			}
			if !c.inWindow(in.Start, start, end) {
				continue
			}
			key := strings.ToLower(in.GUID)
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = struct{}{}
			if err := fn(in); err != nil {
				return err
			}
		}
		next := page.Meta.NextContinuationToken
		if next == nil {
			next = page.Meta.ContinuationToken
		}
		if next == nil || *next == "" {
			return nil
		}
		if _, again := tokens[*next]; again {
			return &transientError{fmt.Errorf("vcc: %s: continuation token repeated; listing stopped", endpointContentList)}
		}
		tokens[*next] = struct{}{}
		q.Set("continuationToken", *next)
	}
}

// GetInteraction returns one interaction. An unknown guid (or one without
// content visible to the credential) gives an *APIError matching ErrNotFound.
func (c *Client) GetInteraction(ctx context.Context, guid string) (Interaction, error) {
	if !ValidGUID(guid) {
		return Interaction{}, invalidID("interaction guid", guid)
	}
	var w wireInteraction
	err := c.getJSON(ctx, request{
		endpoint: endpointContentGet,
		accept:   acceptContent,
		segments: []string{"interaction-content", "interactions", guid},
	}, &w)
	if err != nil {
		return Interaction{}, err
	}
	if w.GUID == "" {
		w.GUID = guid
	}
	if !strings.EqualFold(w.GUID, guid) {
		return Interaction{}, &permanentError{fmt.Errorf("vcc: %s: asked for %s, got %.64q", endpointContentGet, guid, w.GUID)}
	}
	return c.interaction(ctx, w)
}

// Download is a recording being streamed from VCC.
type Download struct {
	// Body yields the file. A stream that ends before Length bytes, or
	// breaks, or yields less than 1 KiB in ReadStall, returns an error wrapping
	// io.ErrUnexpectedEOF or the cause; IsTransient reports true for it. A
	// stream running past its bound (see Expect) returns an error for which
	// IsPermanent reports true, and never a byte past the bound. The caller
	// closes Body.
	Body        io.ReadCloser
	ContentType string
	Length      int64 // from Content-Length; -1 when unknown
}

// LengthTolerance is how far a download may run past the length its listing
// gave: a tenth of it, at least 64 KiB (a re-encoded header, a trailer).
func LengthTolerance(listed int64) int64 { return max(listed/10, 64<<10) }

// Expect bounds the download by the length the listing gave (listed, -1
// when it gave none): at most listed+LengthTolerance(listed) bytes. Without
// a listed length (0 counts as none: an item listed before its content is
// measured) the bound stays the client's MaxRecordingBytes. A
// Content-Length already past the bound is refused here, before any byte
// is read; the error is permanent (the same recording will be as long next
// time) and the caller closes Body.
func (d *Download) Expect(listed int64) error {
	b, ok := d.Body.(*downloadBody)
	if !ok {
		// Someone else's body (a test's, a wrapper's): bound it the same way.
		b = &downloadBody{rc: d.Body, want: d.Length, limit: 0, listed: -1}
		d.Body = b
	}
	if listed > 0 {
		b.limit = listed + LengthTolerance(listed)
		b.listed = listed
	}
	if b.limit > 0 && d.Length > b.limit {
		return b.tooLong(d.Length)
	}
	return nil
}

// Download starts streaming one content item. Nothing is buffered: the
// caller reads the file from Body. Retries happen only before the body is
// returned. A cross-host redirect (e.g. to pre-signed storage) is followed
// without the bearer token. The stream is bounded by the client's
// MaxRecordingBytes unless Expect bounds it by the listed length; call
// Expect before reading.
func (c *Client) Download(ctx context.Context, guid, contentKey string) (*Download, error) {
	if !ValidGUID(guid) {
		return nil, invalidID("interaction guid", guid)
	}
	if !ValidContentKey(contentKey) {
		return nil, invalidID("content key", contentKey)
	}
	// The stall watchdog cancels this context: a read blocked on a silent
	// connection returns only when the request is cancelled.
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.do(ctx, request{
		endpoint: endpointContentDownload,
		accept:   acceptContent,
		segments: []string{"interaction-content", "interactions", guid, "content", contentKey},
		// The bytes stored must be the file as served, and the length check
		// needs Content-Length, which transparent gzip would remove.
		header: http.Header{"Accept-Encoding": {"identity"}},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	length := resp.ContentLength
	if length < 0 {
		length = -1
	}
	body := &downloadBody{rc: resp.Body, want: length, guid: guid, key: contentKey,
		limit: c.cfg.MaxRecordingBytes, listed: -1, stall: c.cfg.ReadStall, cancel: cancel}
	return &Download{Body: body, ContentType: resp.Header.Get("Content-Type"), Length: length}, nil
}

// downloadBody counts bytes so that a stream ending early is reported
// instead of silently producing a short file, one running past its bound is
// cut off, and one going silent is given up.
type downloadBody struct {
	rc        io.ReadCloser
	want, got int64
	guid, key string
	// limit is the most bytes accepted (0: no bound); listed is the
	// listing's length (-1 when it gave none), for the message.
	limit, listed int64
	// stall is the time, spent waiting in Read, within which at least
	// minStallBytes must arrive; budget is what is left of it, window the
	// bytes read in it. cancel ends the request. Zero and nil for a body
	// not of this client (no watchdog).
	stall, budget time.Duration
	window        int64
	cancel        context.CancelFunc
	timer         *time.Timer
	stalled       atomic.Bool
}

func (b *downloadBody) Read(p []byte) (int, error) {
	if b.limit > 0 && b.got > b.limit {
		return 0, b.tooLong(-1)
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.got+1 {
		p = p[:b.limit-b.got+1] // one byte past the bound is enough to know
	}
	began := b.watch()
	n, err := b.rc.Read(p)
	b.unwatch(began, n)
	b.got += int64(n)
	if b.limit > 0 && b.got > b.limit {
		return n - 1, b.tooLong(-1)
	}
	switch {
	case err == nil:
	case b.stalled.Load():
		err = &transientError{fmt.Errorf("vcc: %s %s/%s: less than %d bytes in %s (stalled after %d bytes): %w",
			endpointContentDownload, b.guid, b.key, minStallBytes, b.stall, b.got, io.ErrUnexpectedEOF)}
	case err == io.EOF:
		if b.want >= 0 && b.got < b.want {
			err = &transientError{fmt.Errorf("vcc: %s %s/%s: stream ended after %d of %d bytes: %w",
				endpointContentDownload, b.guid, b.key, b.got, b.want, io.ErrUnexpectedEOF)}
		}
	case errors.Is(err, context.Canceled):
		err = fmt.Errorf("vcc: %s %s/%s: %w", endpointContentDownload, b.guid, b.key, err)
	default:
		err = &transientError{fmt.Errorf("vcc: %s %s/%s: stream broke after %d bytes: %w",
			endpointContentDownload, b.guid, b.key, b.got, err)}
	}
	return n, err
}

// minStallBytes is the least a download must yield in each ReadStall of
// waiting: a VCC that goes silent, or drips a byte every few seconds, is
// given up instead of holding the invocation to its deadline (the slowest
// audio, 8 kbit/s, is 60 KiB a minute).
const minStallBytes = 1 << 10

// watch arms the stall watchdog for one read with what is left of the
// window, and returns when the read began.
func (b *downloadBody) watch() time.Time {
	if b.stall <= 0 || b.cancel == nil {
		return time.Time{}
	}
	if b.timer == nil {
		b.budget = b.stall
		b.timer = time.AfterFunc(b.budget, func() {
			b.stalled.Store(true)
			b.cancel()
		})
		return time.Now()
	}
	b.timer.Reset(max(b.budget, 0))
	return time.Now()
}

// unwatch stops the watchdog after a read of n bytes that began at began:
// the time waited is spent from the window, and a window that got
// minStallBytes starts again. Time the caller spends between reads (a slow
// upload) is not counted.
func (b *downloadBody) unwatch(began time.Time, n int) {
	if b.timer == nil {
		return
	}
	b.timer.Stop()
	b.budget -= time.Since(began)
	b.window += int64(n)
	if b.window >= minStallBytes {
		b.budget, b.window = b.stall, 0
	}
}

// tooLong is the permanent failure of a stream past its bound, or of one
// announcing (Content-Length, -1 when not) a length past it.
func (b *downloadBody) tooLong(announced int64) error {
	why := fmt.Sprintf("more than the %d bytes accepted without a listed length (VCC_MAX_RECORDING_BYTES)", b.limit)
	if b.listed >= 0 {
		why = fmt.Sprintf("more than the listed %d bytes plus %d tolerated", b.listed, b.limit-b.listed)
	}
	if announced >= 0 {
		return &permanentError{fmt.Errorf("vcc: %s %s/%s: announced %d bytes, %s", endpointContentDownload, b.guid, b.key, announced, why)}
	}
	return &permanentError{fmt.Errorf("vcc: %s %s/%s: stream ran past its bound: %s", endpointContentDownload, b.guid, b.key, why)}
}

func (b *downloadBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	if b.cancel != nil {
		defer b.cancel()
	}
	return b.rc.Close()
}
