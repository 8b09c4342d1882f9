// Package ids checks the 8-4-4-4-12 hexadecimal shape of VCC's interaction
// and user ids (GUIDs). It imports nothing of the project, so that the VCC client
// and the webhook verifier (which the sandbox, used by the client's tests,
// signs with) share one check.
package ids

// ValidGUID reports whether s has the shape, in either letter case.
func ValidGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
