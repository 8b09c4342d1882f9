package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Defaults for BlobConfig.
const (
	DefaultContainer      = "recordings"
	DefaultStateContainer = "vcc-ingest-state"
	DefaultBlockSize      = 4 << 20
	DefaultConcurrency    = 2
)

const (
	// minBlockSize is azblob's minimum (and default) UploadStream block.
	minBlockSize = 1 << 20
	// maxBlockSize keeps BlockSize × Concurrency (the memory one upload
	// holds) sane; 100 MiB is also the service's block limit.
	maxBlockSize   = 100 << 20
	maxConcurrency = 16
	// tryTimeout bounds one HTTP attempt (at most one block), so a stalled
	// connection is retried instead of hanging until the function times out.
	tryTimeout = 2 * time.Minute
	// maxStateBytes guards Load/GetSidecar against reading something huge
	// into memory by mistake; state documents and sidecars are small.
	maxStateBytes = 32 << 20
	// maxTags is Blob Storage's limit on index tags per blob.
	maxTags = 10
	// metaSHA256 is the metadata name holding the recording's SHA-256.
	metaSHA256 = "sha256"
)

// BlobConfig configures NewBlob. Either ConnectionString (local, Azurite) or
// AccountURL with Credential (Azure, managed identity) is needed; when both
// are given the connection string wins.
type BlobConfig struct {
	ConnectionString string
	AccountURL       string // https://<account>.blob.core.windows.net
	Credential       azcore.TokenCredential
	Container        string // recordings, default "recordings"
	StateContainer   string // default "vcc-ingest-state"
	// CreateContainers creates missing containers (local only; in Azure
	// they come from the templates and the identity may not create them).
	CreateContainers bool
	BlockSize        int64 // upload block, default 4 MiB (1..100 MiB)
	Concurrency      int   // blocks in flight per upload, default 2 (1..16)
	// ClientOptions tunes the SDK (transport, retries); optional.
	ClientOptions *azblob.ClientOptions
}

// Blob is the Blob Storage implementation of Sink; State returns the
// state container's view.
type Blob struct {
	recordings  *container.Client
	state       *container.Client
	blockSize   int64
	concurrency int
}

var _ Sink = (*Blob)(nil)

var containerName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// NewBlob validates cfg and returns a Blob. It contacts the service only
// when CreateContainers is set.
func NewBlob(ctx context.Context, cfg BlobConfig) (*Blob, error) {
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	if cfg.StateContainer == "" {
		cfg.StateContainer = DefaultStateContainer
	}
	for _, c := range []struct{ setting, name string }{{"Container", cfg.Container}, {"StateContainer", cfg.StateContainer}} {
		if !containerName.MatchString(c.name) {
			return nil, fmt.Errorf("%w: %s %q is not a valid container name", ErrInvalid, c.setting, c.name)
		}
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.BlockSize < minBlockSize || cfg.BlockSize > maxBlockSize {
		return nil, fmt.Errorf("%w: BlockSize %d outside %d..%d", ErrInvalid, cfg.BlockSize, minBlockSize, maxBlockSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > maxConcurrency {
		return nil, fmt.Errorf("%w: Concurrency %d outside 1..%d", ErrInvalid, cfg.Concurrency, maxConcurrency)
	}

	var opts azblob.ClientOptions
	if cfg.ClientOptions != nil {
		opts = *cfg.ClientOptions
	}
	if opts.Retry.TryTimeout == 0 {
		opts.Retry.TryTimeout = tryTimeout
	}
	var (
		client *azblob.Client
		err    error
	)
	switch {
	case cfg.ConnectionString != "":
		client, err = azblob.NewClientFromConnectionString(expandDevStorage(cfg.ConnectionString), &opts)
		if err != nil {
			// The SDK's message may quote the string, which holds a key.
			return nil, fmt.Errorf("%w: malformed blob connection string", ErrInvalid)
		}
	case cfg.AccountURL != "":
		if cfg.Credential == nil {
			return nil, fmt.Errorf("%w: AccountURL needs a Credential", ErrInvalid)
		}
		u, perr := url.Parse(cfg.AccountURL)
		if perr != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("%w: AccountURL %q is not an absolute http(s) URL", ErrInvalid, cfg.AccountURL)
		}
		client, err = azblob.NewClient(cfg.AccountURL, cfg.Credential, &opts)
		if err != nil {
			return nil, fmt.Errorf("store: blob client: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: neither a blob connection string nor an account URL is configured", ErrInvalid)
	}

	b := &Blob{
		recordings:  client.ServiceClient().NewContainerClient(cfg.Container),
		state:       client.ServiceClient().NewContainerClient(cfg.StateContainer),
		blockSize:   cfg.BlockSize,
		concurrency: cfg.Concurrency,
	}
	if cfg.CreateContainers {
		for _, c := range []*container.Client{b.recordings, b.state} {
			if _, err := c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				return nil, fmt.Errorf("store: create container: %w", err)
			}
		}
	}
	return b, nil
}

// devStorage is what "UseDevelopmentStorage=true" stands for: Azurite's
// well-known account on its default port (the key is public).
const devStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"

// expandDevStorage accepts the emulator shorthand the SDK does not parse.
func expandDevStorage(cs string) string {
	if strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(cs), ";"), "UseDevelopmentStorage=true") {
		return devStorage
	}
	return cs
}

// State returns the pipeline's state store (the state container).
func (b *Blob) State() State { return &blobState{c: b.state} }

// PutRecording streams r into a new block blob with azblob's UploadStream,
// which stages blocks (BlockSize × Concurrency bytes in memory at most) and
// commits the block list only after r reached EOF without error. The reader
// is wrapped so that EOF with the wrong byte count is an error, and so that
// the MD5 and SHA-256, complete only at EOF, are filled into the headers and
// metadata that UploadStream sends with the commit (the options hold them by
// reference and are read when the commit request is built). The commit is
// conditional on the name being absent (If-None-Match: *).
func (b *Blob) PutRecording(ctx context.Context, rec Recording, r io.Reader) (Written, error) {
	if err := ValidateName(rec.Name); err != nil {
		return Written{}, err
	}
	meta, err := blobMetadata(rec.Metadata)
	if err != nil {
		return Written{}, fmt.Errorf("recording %s: %w", rec.Name, err)
	}
	if err := validateTags(rec.Tags); err != nil {
		return Written{}, fmt.Errorf("recording %s: %w", rec.Name, err)
	}
	headers := &blob.HTTPHeaders{}
	if rec.ContentType != "" {
		headers.BlobContentType = to.Ptr(rec.ContentType)
	}
	sha := new(string)
	meta[metaSHA256] = sha
	src := newCheckedReader(r, rec.ExpectedLength, nil)
	defer src.close()
	src.atEOF = func(md5sum []byte) {
		headers.BlobContentMD5 = md5sum
		*sha = src.written().SHA256
	}
	opts := &blockblob.UploadStreamOptions{
		BlockSize:   b.blockSize,
		Concurrency: b.concurrency,
		HTTPHeaders: headers,
		Metadata:    meta,
		Tags:        rec.Tags,
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfNoneMatch: to.Ptr(azcore.ETagAny),
		}},
	}
	_, err = b.recordings.NewBlockBlobClient(rec.Name).UploadStream(ctx, src, opts)
	if err := src.failed(); err != nil {
		// The source failed or had the wrong length: UploadStream did not commit.
		return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, err)
	}
	if err != nil {
		if existsError(err) || (bloberror.HasCode(err, bloberror.InvalidBlockList) && b.exists(ctx, rec.Name)) {
			// InvalidBlockList: a concurrent writer committed first, which
			// discarded the blocks this upload had staged.
			return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, ErrExists)
		}
		return Written{}, fmt.Errorf("store: upload recording %s: %w", rec.Name, err)
	}
	if *sha == "" {
		// Cannot happen with a clean EOF; refuse to report an unverified copy.
		return Written{}, fmt.Errorf("store: recording %s: upload finished without reaching the end of the source", rec.Name)
	}
	return src.written(), nil
}

// exists reports whether a committed blob has this name (false on errors).
func (b *Blob) exists(ctx context.Context, name string) bool {
	_, err := b.recordings.NewBlobClient(name).GetProperties(ctx, nil)
	return err == nil
}

// existsError reports the answers a conditional create gets when the name
// is taken: 409 BlobAlreadyExists (Put Blob, Azurite) or 412 (Put Block List).
func existsError(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	return re.StatusCode == http.StatusPreconditionFailed ||
		(re.StatusCode == http.StatusConflict && re.ErrorCode == string(bloberror.BlobAlreadyExists))
}

// notFound reports a missing blob. A missing container is a configuration
// error and is reported as such, not as "absent".
func notFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound &&
		re.ErrorCode != string(bloberror.ContainerNotFound)
}

// StatRecording reads a recording's properties.
func (b *Blob) StatRecording(ctx context.Context, name string) (Info, bool, error) {
	if err := ValidateName(name); err != nil {
		return Info{}, false, err
	}
	props, err := b.recordings.NewBlobClient(name).GetProperties(ctx, nil)
	if notFound(err) {
		return Info{}, false, nil
	}
	if err != nil {
		return Info{}, false, fmt.Errorf("store: stat recording %s: %w", name, err)
	}
	info := Info{Metadata: make(map[string]string, len(props.Metadata))}
	if props.ContentLength != nil {
		info.Bytes = *props.ContentLength
	}
	if props.ContentType != nil {
		info.ContentType = *props.ContentType
	}
	for k, v := range props.Metadata {
		if v != nil {
			// Go canonicalises header names ("Sha256"): normalise.
			info.Metadata[strings.ToLower(k)] = *v
		}
	}
	info.SHA256 = info.Metadata[metaSHA256]
	return info, true, nil
}

// PutSidecar writes a sidecar, replacing any previous one, with its Content-MD5.
func (b *Blob) PutSidecar(ctx context.Context, name string, data []byte) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	sum := md5.Sum(data)
	_, err := b.recordings.NewBlockBlobClient(name).Upload(ctx, body(data), &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json"), BlobContentMD5: sum[:]},
	})
	if err != nil {
		return fmt.Errorf("store: put sidecar %s: %w", name, err)
	}
	return nil
}

// GetSidecar reads a sidecar.
func (b *Blob) GetSidecar(ctx context.Context, name string) ([]byte, bool, error) {
	if err := ValidateName(name); err != nil {
		return nil, false, err
	}
	data, _, found, err := download(ctx, b.recordings, name)
	if err != nil {
		return nil, false, fmt.Errorf("store: get sidecar %s: %w", name, err)
	}
	return data, found, nil
}

// List lists recording and sidecar names under prefix, in lexical order.
func (b *Blob) List(ctx context.Context, prefix string, fn func(string) error) error {
	return list(ctx, b.recordings, prefix, fn)
}

// body makes a small document a Put Blob body (one request: atomic, and
// retriable because it can seek back).
func body(data []byte) io.ReadSeekCloser { return streaming.NopCloser(bytes.NewReader(data)) }

// download reads a whole (small) blob and its ETag.
func download(ctx context.Context, c *container.Client, name string) ([]byte, string, bool, error) {
	resp, err := c.NewBlobClient(name).DownloadStream(ctx, nil)
	if notFound(err) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.ContentLength != nil && *resp.ContentLength > maxStateBytes {
		return nil, "", false, fmt.Errorf("%w: %d bytes is larger than %d", ErrInvalid, *resp.ContentLength, maxStateBytes)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(resp.Body, maxStateBytes+1)); err != nil {
		return nil, "", false, err
	}
	if buf.Len() > maxStateBytes {
		return nil, "", false, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxStateBytes)
	}
	var etag string
	if resp.ETag != nil {
		etag = string(*resp.ETag)
	}
	return buf.Bytes(), etag, true, nil
}

func list(ctx context.Context, c *container.Client, prefix string, fn func(string) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	opts := &container.ListBlobsFlatOptions{}
	if prefix != "" {
		opts.Prefix = to.Ptr(prefix)
	}
	pager := c.NewListBlobsFlatPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("store: list %q: %w", prefix, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			if err := fn(*item.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

var metadataName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// blobMetadata checks names (C# identifiers, as the service requires) and
// values (printable ASCII: they travel as HTTP headers), drops empty values
// (they carry nothing and services disagree on accepting them) and reserves
// "sha256" for the hash computed here.
func blobMetadata(in map[string]string) (map[string]*string, error) {
	out := make(map[string]*string, len(in)+1)
	for k, v := range in {
		if !metadataName.MatchString(k) {
			return nil, fmt.Errorf("%w: metadata name %q", ErrInvalid, k)
		}
		if strings.EqualFold(k, metaSHA256) {
			continue
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return nil, fmt.Errorf("%w: metadata %s: value must be printable ASCII", ErrInvalid, k)
			}
		}
		if v == "" {
			continue
		}
		out[strings.ToLower(k)] = to.Ptr(v)
	}
	return out, nil
}

// validateTags applies Blob Storage's index tag rules so a bad tag fails
// before any byte is uploaded.
func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return fmt.Errorf("%w: %d tags, at most %d allowed", ErrInvalid, len(tags), maxTags)
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || !tagChars(k) {
			return fmt.Errorf("%w: tag name %q", ErrInvalid, k)
		}
		if len(v) > 256 || !tagChars(v) {
			return fmt.Errorf("%w: tag %s: value has characters tags do not allow or is longer than 256", ErrInvalid, k)
		}
	}
	return nil
}

func tagChars(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" +-./:=_", r):
		default:
			return false
		}
	}
	return true
}

// blobState is State on the state container.
type blobState struct{ c *container.Client }

func (s *blobState) Load(ctx context.Context, name string) ([]byte, string, bool, error) {
	if err := ValidateName(name); err != nil {
		return nil, "", false, err
	}
	data, etag, found, err := download(ctx, s.c, name)
	if err != nil {
		return nil, "", false, fmt.Errorf("store: load state %s: %w", name, err)
	}
	return data, etag, found, nil
}

func (s *blobState) Save(ctx context.Context, name string, data []byte, etag string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	cond := &blob.ModifiedAccessConditions{}
	if etag == "" {
		cond.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		cond.IfMatch = to.Ptr(azcore.ETag(etag))
	}
	resp, err := s.c.NewBlockBlobClient(name).Upload(ctx, body(data), &blockblob.UploadOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusConflict ||
			(etag != "" && notFound(err))) {
			return "", fmt.Errorf("store: save state %s: %w (%d %s)", name, ErrConflict, re.StatusCode, re.ErrorCode)
		}
		return "", fmt.Errorf("store: save state %s: %w", name, err)
	}
	if resp.ETag == nil {
		return "", fmt.Errorf("store: save state %s: the service returned no ETag", name)
	}
	return string(*resp.ETag), nil
}

func (s *blobState) Put(ctx context.Context, name string, data []byte) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	_, err := s.c.NewBlockBlobClient(name).Upload(ctx, body(data), &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
	})
	if err != nil {
		return fmt.Errorf("store: put state %s: %w", name, err)
	}
	return nil
}

func (s *blobState) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	_, err := s.c.NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("store: delete state %s: %w", name, err)
	}
	return nil
}

func (s *blobState) List(ctx context.Context, prefix string, fn func(string) error) error {
	return list(ctx, s.c, prefix, fn)
}
