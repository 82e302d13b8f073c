//go:build !js

// Package gputest opens one shared native device for a test binary.
//
// With no adapter, tests skip, except when CI=true or WEBPEFT_REQUIRE_GPU=1,
// where they fail: CI must never pass because nothing ran.
package gputest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"webpeft/engine/gpu"
)

var (
	once   sync.Once
	shared *gpu.Device
	err    error
)

// Device returns the process-wide test device, opening it on first use.
func Device(t testing.TB) *gpu.Device {
	t.Helper()
	once.Do(func() {
		shared, err = gpu.Open()
		if err == nil {
			fmt.Fprintf(os.Stderr, "gputest: adapter %s\n", shared)
		}
	})
	if err != nil {
		if Required() {
			t.Fatalf("a GPU adapter is required here (CI=true or WEBPEFT_REQUIRE_GPU=1): %v", err)
		}
		t.Skipf("no GPU adapter: %v", err)
	}
	return shared
}

// Required reports whether a missing adapter is a failure.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("WEBPEFT_REQUIRE_GPU") == "1"
}
