package httpurl

import "testing"

func TestValidPort(t *testing.T) {
	for p, want := range map[string]bool{
		"1": true, "80": true, "65535": true, "0": false, "65536": false,
		"": false, "-1": false, "08080": true, "123456": false, "8o": false,
	} {
		if got := ValidPort(p); got != want {
			t.Errorf("ValidPort(%q) = %v, want %v", p, got, want)
		}
	}
}
