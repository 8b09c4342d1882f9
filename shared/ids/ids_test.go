package ids

import "testing"

func TestValidGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c": true,
		"2480FC2C-7A3B-4B5E-9C61-0D2F4E8A1B7C": true,
		"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7":  false,
		"2480fc2c77a3b-4b5e-9c61-0d2f4e8a1b7c": false,
		"2480fc2g-7a3b-4b5e-9c61-0d2f4e8a1b7c": false,
		"../../../../../../../../../../../../": false,
		"":                                     false,
	} {
		if got := ValidGUID(s); got != want {
			t.Errorf("ValidGUID(%q) = %v", s, got)
		}
	}
}
