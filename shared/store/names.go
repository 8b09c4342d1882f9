package store

import (
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// Blob names are a contract with downstream systems (they find recordings by
// date and interaction): <yyyy>/<mm>/<dd>/<guid>/<contentKey>.<ext> and
// <yyyy>/<mm>/<dd>/<guid>/interaction.json, the date being the interaction's
// start in UTC so that the same interaction always lands in the same folder
// whatever the time zone of the machine that copied it.

// SidecarFile is the name of the per-interaction JSON document.
const SidecarFile = "interaction.json"

// RecordingName is the blob name of one recording of an interaction. An
// empty ext gives a name without extension.
func RecordingName(start time.Time, guid, contentKey, ext string) string {
	file := contentKey
	if ext != "" {
		file += "." + ext
	}
	if strings.EqualFold(file, SidecarFile) {
		// A content item may not take the sidecar's name, whose presence
		// means the interaction is complete, in any letter case: on a
		// case-insensitive file system (an export, a Windows share)
		// INTERACTION.json is interaction.json.
		file = contentKey + ".content"
		if ext != "" {
			file += "." + ext
		}
	}
	return datePrefix(start) + guid + "/" + file
}

// SidecarName is the blob name of an interaction's JSON sidecar.
func SidecarName(start time.Time, guid string) string {
	return datePrefix(start) + guid + "/" + SidecarFile
}

func datePrefix(start time.Time) string {
	return start.UTC().Format("2006/01/02") + "/"
}

// ExtensionFor maps a recording's content type to the file extension used
// in its name. Parameters (";codecs=1") and case are ignored; an unknown or
// malformed type gives "bin", so a name never depends on free text.
func ExtensionFor(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "bin"
	}
	switch mt {
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
		return "wav"
	case "audio/mpeg", "audio/mp3":
		return "mp3"
	case "audio/ogg":
		return "ogg"
	case "audio/webm", "video/webm":
		return "webm"
	case "application/json":
		return "json"
	}
	return "bin"
}

// tempPrefix starts the names of the local directory's temporary files;
// names with a segment starting with it are reserved.
const tempPrefix = ".vcc-ingest-"

// maxNameLen is Azure's limit on a blob name.
const maxNameLen = 1024

// ValidateName rejects names that could escape a directory or be read
// differently by Blob Storage and a file system: empty, too long, not UTF-8,
// control characters, backslashes, leading or trailing "/", empty, "." or
// ".." segments, segments ending with "." (Azure and Windows drop trailing
// dots), segments longer than 255 bytes, and segments reserved for temporary
// files. Names are built from validated ids, so this is defence in depth.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: name %q: %s", ErrInvalid, name, why)
	}
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalid)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalid, maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return bad("control character or backslash")
		}
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("relative path segment")
		case strings.HasSuffix(seg, "."):
			return bad("segment ends with a dot")
		case len(seg) > 255:
			return bad("segment longer than 255 bytes")
		case strings.HasPrefix(seg, tempPrefix):
			return bad("reserved segment")
		}
	}
	return nil
}

// validatePrefix accepts "" (everything) or a prefix made of valid segments;
// the last segment may be partial.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateName(prefix + "x"); err != nil {
		return fmt.Errorf("list prefix %q: %w", prefix, err)
	}
	return nil
}
