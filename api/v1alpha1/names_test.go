package v1alpha1

import "testing"

func TestDomainAllowed(t *testing.T) {
	cases := []struct {
		email   string
		allowed []DomainName
		want    bool
	}{
		{"a@globex.example", nil, true},
		{"a@globex.example", []DomainName{"globex.example"}, true},
		{"a@GLOBEX.Example", []DomainName{"globex.example"}, true},
		{"a@eu.globex.example", []DomainName{"globex.example"}, true},
		{"a@evilglobex.example", []DomainName{"globex.example"}, false},
		{"a@globex.example.evil.example", []DomainName{"globex.example"}, false},
		{"a@initech.example", []DomainName{"globex.example", "initech.example"}, true},
		{"a@example", []DomainName{"globex.example"}, false},
	}
	for _, tc := range cases {
		if got := DomainAllowed(tc.email, tc.allowed); got != tc.want {
			t.Errorf("DomainAllowed(%q, %v) = %v, want %v", tc.email, tc.allowed, got, tc.want)
		}
	}
}

func TestCoveringDomain(t *testing.T) {
	cases := []struct {
		email   string
		allowed []DomainName
		want    DomainName
	}{
		{"a@globex.example", nil, ""},
		{"a@globex.example", []DomainName{"globex.example"}, "globex.example"},
		{"a@EU.Globex.example", []DomainName{"globex.example", "eu.globex.example"}, "eu.globex.example"},
		{"a@eu.globex.example", []DomainName{"eu.globex.example", "globex.example"}, "eu.globex.example"},
		{"a@de.eu.globex.example", []DomainName{"globex.example", "eu.globex.example"}, "eu.globex.example"},
		{"a@globex.example", []DomainName{"eu.globex.example"}, ""},
		{"a@evilglobex.example", []DomainName{"globex.example"}, ""},
		{"a@example", []DomainName{"globex.example"}, ""},
	}
	for _, tc := range cases {
		got, ok := CoveringDomain(tc.email, tc.allowed)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("CoveringDomain(%q, %v) = %q, %v, want %q", tc.email, tc.allowed, got, ok, tc.want)
		}
	}
}
