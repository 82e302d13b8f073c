// Package gpu is webpeft's small GPU layer: a Device, Buffers, Kernels built
// from shaders/*.wgsl with explicit bind-group layouts, Calls (a kernel bound
// to buffers and parameters) and a Recorder that puts many Calls into one
// command encoder and submits once.
//
// It is the only package that imports github.com/cogentcore/webgpu. The same
// code runs natively (wgpu-native through cgo) and in a browser (GOOS=js,
// navigator.gpu); only opening the device, error scopes and waiting differ,
// and those live in the _native.go / _js.go file pairs.
package gpu

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cogentcore/webgpu/wgpu"
)

// ErrNoAdapter is returned by Open when the system offers no WebGPU adapter.
var ErrNoAdapter = errors.New("gpu: no WebGPU adapter found")

// AdapterInfo describes the adapter a Device runs on.
type AdapterInfo struct {
	Name         string // e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "SwiftShader Device"
	Vendor       string
	Architecture string
	Driver       string
	Backend      string // "vulkan", "metal", "browser", ...
	Type         string // "cpu", "integrated-gpu", "discrete-gpu", ...
}

// IsCPU reports whether the adapter is a software rasterizer (lavapipe,
// SwiftShader). Kernel variants are chosen from this: on CPU adapters loads,
// not FMAs, set the speed.
func (a AdapterInfo) IsCPU() bool {
	return a.Type == "cpu" || containsFold(a.Name, "llvmpipe") || containsFold(a.Name, "swiftshader") ||
		containsFold(a.Architecture, "swiftshader")
}

// Limits are the few device limits that shape webpeft's kernels, as granted.
type Limits struct {
	MaxStorageBufferBindingSize       uint64
	MaxBufferSize                     uint64
	MaxComputeWorkgroupStorageSize    uint32
	MaxComputeInvocationsPerWorkgroup uint32
	MaxComputeWorkgroupsPerDimension  uint32
	MaxStorageBuffersPerShaderStage   uint32
	MinStorageBufferOffsetAlignment   uint32
}

// Stats counts what the device did, so tests can prove that a program of
// many dispatches costs one submit and no intermediate readback.
type Stats struct {
	Submits    int // queue submits (each Recorder.Submit and each Read is one)
	Dispatches int // compute dispatches recorded and submitted
	Reads      int // buffer readbacks to the host
	Uploads    int // host-to-GPU writes
	Allocs     int // buffers created (storage, uniform and staging)
	// LiveBytes is the size of the buffers allocated and not yet freed
	// (storage, uniform and staging); PeakBytes is its largest value.
	LiveBytes, PeakBytes uint64
}

// Device is an open WebGPU device with its queue.
type Device struct {
	Info     AdapterInfo
	Limits   Limits
	Features []string // e.g. "shader-f16", "subgroups"

	dev   *wgpu.Device
	queue *wgpu.Queue
	plat  platform // per-build state (instance/adapter natively, JS values in the browser)

	mu      sync.Mutex
	lost    error // set once the device is lost; every later call returns it
	stats   Stats
	kernels map[string]*Kernel // built pipelines by file, snippets and bindings
}

// Stats returns the counters accumulated since Open.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// ResetPeak starts Stats.PeakBytes again from what is allocated now, so
// that a benchmark reports its own peak.
func (d *Device) ResetPeak() {
	d.mu.Lock()
	d.stats.PeakBytes = d.stats.LiveBytes
	d.mu.Unlock()
}

// HasFeature reports whether the device was opened with the named feature.
func (d *Device) HasFeature(name string) bool {
	for _, f := range d.Features {
		if f == name {
			return true
		}
	}
	return false
}

// Lost returns the device-lost error, or nil while the device is usable.
func (d *Device) Lost() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost
}

func (d *Device) setLost(reason, message string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost == nil {
		d.lost = fmt.Errorf("gpu: device lost (%s): %s", reason, message)
	}
}

func (d *Device) count(f func(s *Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// String names the adapter and its key limits in one line, for logs and
// test output.
func (d *Device) String() string {
	return fmt.Sprintf("%s (%s, %s; binding %d MiB, buffer %d MiB, workgroup storage %d KiB)",
		d.Info.Name, d.Info.Backend, d.Info.Type,
		d.Limits.MaxStorageBufferBindingSize>>20, d.Limits.MaxBufferSize>>20,
		d.Limits.MaxComputeWorkgroupStorageSize>>10)
}

// wanted returns the limits webpeft asks for: the WebGPU defaults, with the
// few that matter raised to what the adapter offers. Asking for all of the
// adapter's limits fails on lavapipe, so nothing else is raised.
func wanted(adapter wgpu.Limits) wgpu.Limits {
	l := wgpu.DefaultLimits()
	l.MaxStorageBufferBindingSize = max(128<<20, adapter.MaxStorageBufferBindingSize)
	l.MaxBufferSize = max(256<<20, adapter.MaxBufferSize)
	l.MaxComputeWorkgroupStorageSize = max(16384, adapter.MaxComputeWorkgroupStorageSize)
	l.MaxComputeInvocationsPerWorkgroup = max(256, adapter.MaxComputeInvocationsPerWorkgroup)
	l.MaxStorageBuffersPerShaderStage = max(8, adapter.MaxStorageBuffersPerShaderStage)
	return l
}

func limitsFrom(l wgpu.Limits) Limits {
	return Limits{
		MaxStorageBufferBindingSize:       l.MaxStorageBufferBindingSize,
		MaxBufferSize:                     l.MaxBufferSize,
		MaxComputeWorkgroupStorageSize:    l.MaxComputeWorkgroupStorageSize,
		MaxComputeInvocationsPerWorkgroup: l.MaxComputeInvocationsPerWorkgroup,
		MaxComputeWorkgroupsPerDimension:  l.MaxComputeWorkgroupsPerDimension,
		MaxStorageBuffersPerShaderStage:   l.MaxStorageBuffersPerShaderStage,
		MinStorageBufferOffsetAlignment:   l.MinStorageBufferOffsetAlignment,
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
