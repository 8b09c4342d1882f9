package vcc

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkDownload shows that a download streams: bytes allocated per
// operation stay flat while the file grows 64-fold.
func BenchmarkDownload(b *testing.B) {
	for _, size := range []int64{1 << 20, 64 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			f := newFake(b)
			chunk := make([]byte, 32<<10)
			f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/wav")
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				for left := size; left > 0; {
					n := min(left, int64(len(chunk)))
					if _, err := w.Write(chunk[:n]); err != nil {
						return
					}
					left -= n
				}
			})
			c, err := New(testConfig(f))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			buf := make([]byte, 32<<10)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := c.Download(ctx, guid(1), "callRecording")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{d.Body}, buf)
				d.Body.Close()
				if err != nil || n != size {
					b.Fatalf("read %d, %v", n, err)
				}
			}
		})
	}
}
