package vccsim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
)

// WAV format of every generated recording: PCM, 8 kHz, 16-bit, mono — the
// telephony format VCC records in.
const (
	wavHeaderSize    = 44
	wavSampleRate    = 8000
	wavBitsPerSample = 16
	wavChannels      = 1
)

// WAV returns a valid WAV stream of exactly size bytes (a 44-byte RIFF header
// whose sizes match, then PCM samples: a seed-chosen tone plus pseudo-random
// noise). Any byte is computed from (seed, offset) alone, so the stream needs
// O(1) memory whatever its size, and it also seeks (io.ReadSeeker, io.ReaderAt)
// for Range requests. A size below 44 yields the first size header bytes.
func WAV(seed int64, size int64) io.Reader {
	return newSynth(kindWAV, seed, size)
}

type synthKind int

const (
	kindWAV  synthKind = iota // audio/wav
	kindWebM                  // video/webm: EBML magic then noise
)

// synth is a deterministic, seekable byte stream. Bytes after the header are
// generated a word (eight bytes) at a time from (seed, word index).
type synth struct {
	kind   synthKind
	seed   uint64
	size   int64
	off    int64
	header []byte
	// WAV: the tone's four samples of word n are toneWords[n % period]
	// (lanes of 16 bits); the tone's period is in samples, and four
	// samples a word make the words repeat with the same period.
	period    int
	toneWords [maxPeriod]uint64
}

const maxPeriod = 40

func newSynth(kind synthKind, seed, size int64) *synth {
	if size < 0 {
		size = 0
	}
	s := &synth{kind: kind, seed: uint64(seed), size: size}
	switch kind {
	case kindWAV:
		s.header = wavHeader(size)
		// A tone between 200 and 800 Hz (period 10..40 samples) and an
		// amplitude that differ per recording.
		h := splitmix(s.seed ^ 0x9e3779b97f4a7c15)
		s.period = 10 + int(h%(maxPeriod-9))
		amp := 3000 + float64((h>>8)%5000)
		var tone [maxPeriod]int16
		for i := 0; i < s.period; i++ {
			tone[i] = int16(amp * math.Sin(2*math.Pi*float64(i)/float64(s.period)))
		}
		for w := 0; w < s.period; w++ {
			for k := 0; k < 4; k++ {
				s.toneWords[w] |= uint64(uint16(tone[(4*w+k)%s.period])) << (16 * k)
			}
		}
	case kindWebM:
		s.header = []byte{0x1a, 0x45, 0xdf, 0xa3}
	}
	return s
}

func wavHeader(size int64) []byte {
	h := make([]byte, wavHeaderSize)
	data := size - wavHeaderSize
	if data < 0 {
		data = 0
	}
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(min(size-8, math.MaxUint32)))
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], wavChannels)
	binary.LittleEndian.PutUint32(h[24:], wavSampleRate)
	binary.LittleEndian.PutUint32(h[28:], wavSampleRate*wavChannels*wavBitsPerSample/8)
	binary.LittleEndian.PutUint16(h[32:], wavChannels*wavBitsPerSample/8)
	binary.LittleEndian.PutUint16(h[34:], wavBitsPerSample)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(min(data, math.MaxUint32)))
	return h
}

// splitmix is SplitMix64's finaliser: a cheap, well-mixed hash.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Noise is a fixed table of random words, shared by every recording, made
// distinct per recording and per page of noiseWords words by a page key:
// two loads and a few operations a word, so that serving a recording costs
// the sandbox little of the CPU that the copy under test also needs.
const (
	noiseBits  = 13
	noiseWords = 1 << noiseBits
)

var noiseTable = func() *[noiseWords]uint64 {
	var t [noiseWords]uint64
	for i := range t {
		t[i] = splitmix(uint64(i) ^ 0x5851f42d4c957f2d)
	}
	return &t
}()

// pageKey is the noise key of the page holding word n.
func (s *synth) pageKey(n uint64) uint64 {
	return splitmix(s.seed ^ (n>>noiseBits)*0xd1342543de82ef95)
}

// noise is the random word n.
func (s *synth) noise(n uint64) uint64 { return noiseTable[n&(noiseWords-1)] ^ s.pageKey(n) }

// word is a data word (little-endian) from its noise and, for WAV, the
// tone's phase.
// WAV samples are the tone plus noise scaled to about ±512: each 16-bit
// lane of the noise shifted right arithmetically by 6, added lane by lane
// (wrapping as int16 arithmetic does).
func (s *synth) word(noise uint64, phase int) uint64 {
	if s.kind != kindWAV {
		return noise
	}
	const (
		low10 = 0x03ff03ff03ff03ff
		ones  = 0x0001000100010001
		high  = 0x8000800080008000
	)
	scaled := (noise>>6)&low10 | ((noise>>15)&ones)*0xfc00
	tone := s.toneWords[phase]
	return ((scaled &^ high) + (tone &^ high)) ^ ((scaled ^ tone) & high)
}

// block fills b with data word n.
func (s *synth) block(n uint64, b *[8]byte) {
	phase := 0
	if s.kind == kindWAV {
		phase = int(n % uint64(s.period))
	}
	binary.LittleEndian.PutUint64(b[:], s.word(s.noise(n), phase))
}

// fill writes data words first, first+1, ... into p (len(p) a multiple of
// 8): the same bytes as block, with the page key and the tone's phase kept
// as it goes.
func (s *synth) fill(first uint64, p []byte) {
	phase := 0
	if s.kind == kindWAV {
		phase = int(first % uint64(s.period))
	}
	n := first
	key := s.pageKey(n)
	for i := 0; i+8 <= len(p); i += 8 {
		if n&(noiseWords-1) == 0 {
			key = s.pageKey(n)
		}
		binary.LittleEndian.PutUint64(p[i:], s.word(noiseTable[n&(noiseWords-1)]^key, phase))
		if phase++; phase == s.period {
			phase = 0
		}
		n++
	}
}

// ReadAt implements io.ReaderAt.
func (s *synth) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vccsim: negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := s.size - off; int64(want) > rem {
		want = int(rem)
	}
	n := 0
	hl := int64(len(s.header))
	if off < hl {
		n = copy(p[:want], s.header[off:])
	}
	var b [8]byte
	cur := ^uint64(0)
	for n < want {
		pos := uint64(off + int64(n) - hl)
		blk, in := pos/8, pos%8
		if in == 0 && want-n >= 8 {
			whole := (want - n) &^ 7
			s.fill(blk, p[n:n+whole])
			n += whole
			continue
		}
		if blk != cur {
			s.block(blk, &b)
			cur = blk
		}
		p[n] = b[in]
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (s *synth) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	n, err := s.ReadAt(p, s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (s *synth) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.off + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("vccsim: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("vccsim: negative position")
	}
	s.off = abs
	return abs, nil
}

// WriteTo implements io.WriterTo so io.Copy into a hash needs no buffer of
// its own beyond this fixed one.
func (s *synth) WriteTo(w io.Writer) (int64, error) {
	var buf [32 << 10]byte
	var total int64
	for {
		n, err := s.Read(buf[:])
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// hashStream returns the hex SHA-256 of r, streaming.
func hashStream(r io.Reader) string {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		// synthetic readers never fail; keep the signature simple
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WAVSHA256 returns the hex SHA-256 of WAV(seed, size), computed by streaming.
func WAVSHA256(seed, size int64) string {
	return hashStream(newSynth(kindWAV, seed, size))
}
