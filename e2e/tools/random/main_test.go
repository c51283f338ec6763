package main

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func props(length int, special bool, mins map[string]int) resource.PropertyMap {
	m := resource.PropertyMap{
		"length": resource.NewProperty(float64(length)), "special": resource.NewProperty(special),
		"upper": resource.NewProperty(true), "lower": resource.NewProperty(true),
		"numeric": resource.NewProperty(true), "number": resource.NewProperty(true),
	}
	for k, v := range mins {
		m[resource.PropertyKey(k)] = resource.NewProperty(float64(v))
	}
	return m
}

// The program asks for RandomPassword(length=N, special=False): only letters and digits.
func TestNoSpecialMeansAlphanumeric(t *testing.T) {
	for range 50 {
		got, err := generate(props(64, false, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 64 {
			t.Fatalf("length %d, want 64", len(got))
		}
		if strings.Trim(got, upperChars+lowerChars+numericChars) != "" {
			t.Fatalf("%q has a character outside [A-Za-z0-9]", got)
		}
	}
}

func TestMinimumsAreHonoured(t *testing.T) {
	got, err := generate(props(8, true, map[string]int{"minSpecial": 4, "minNumeric": 4}))
	if err != nil {
		t.Fatal(err)
	}
	specials, digits := 0, 0
	for _, c := range got {
		switch {
		case strings.ContainsRune(defaultSpecial, c):
			specials++
		case strings.ContainsRune(numericChars, c):
			digits++
		}
	}
	if specials != 4 || digits != 4 {
		t.Fatalf("%q: %d specials and %d digits, want 4 and 4", got, specials, digits)
	}
}

func TestTwoPasswordsDiffer(t *testing.T) {
	a, _ := generate(props(32, false, nil))
	b, _ := generate(props(32, false, nil))
	if a == b {
		t.Fatalf("two draws gave the same password %q", a)
	}
}
