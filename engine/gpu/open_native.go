//go:build !js

package gpu

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cogentcore/webgpu/wgpu"
)

// platform holds what the native build must keep alive beside the device.
type platform struct {
	instance *wgpu.Instance
	adapter  *wgpu.Adapter
}

// The wgpu-native instance is made once per process and never released:
// the binding's CreateInstance mallocs its InstanceExtras without zeroing
// the fields it does not set, so a second instance can read garbage (seen:
// wgpu-native aborting on "Unknown gles3 minor version" when a process
// opened a device again after closing one).
var (
	instanceOnce sync.Once
	instance     *wgpu.Instance
)

func processInstance() *wgpu.Instance {
	instanceOnce.Do(func() {
		instance = wgpu.CreateInstance(&wgpu.InstanceDescriptor{Backends: wgpu.InstanceBackendPrimary})
	})
	return instance
}

// Open opens the system's preferred WebGPU adapter through wgpu-native.
// It returns ErrNoAdapter (wrapped) when there is none.
func Open() (*Device, error) {
	if os.Getenv("WEBPEFT_WGPU_LOG") == "" {
		// Every error the log would print also comes back as a Go error.
		wgpu.SetLogLevel(wgpu.LogLevelOff)
	}
	instance := processInstance()
	adapter, err := instance.RequestAdapter(&wgpu.RequestAdapterOptions{
		PowerPreference: wgpu.PowerPreferenceHighPerformance,
	})
	if err != nil || adapter == nil {
		return nil, fmt.Errorf("%w (wgpu-native: %v); on Linux install mesa-vulkan-drivers for the lavapipe software adapter", ErrNoAdapter, err)
	}
	info := adapter.GetInfo()
	d := &Device{
		Info: AdapterInfo{
			Name:         adapterName(info),
			Vendor:       info.VendorName,
			Architecture: info.Architecture,
			Driver:       info.DriverDescription,
			Backend:      info.BackendType.String(),
			Type:         info.AdapterType.String(),
		},
		plat: platform{instance: instance, adapter: adapter},
	}
	features := optionalFeatures(adapter)
	limits := wanted(adapter.GetLimits().Limits)
	dev, err := adapter.RequestDevice(&wgpu.DeviceDescriptor{
		Label:            "webpeft",
		RequiredFeatures: features,
		RequiredLimits:   &wgpu.RequiredLimits{Limits: limits},
		// No DeviceLostCallback: the binding stores a Go pointer inside the
		// descriptor it hands to C, which cgo's pointer check rejects with
		// a panic. Natively a lost device surfaces as failing calls instead.
	})
	if err != nil {
		adapter.Release()
		return nil, fmt.Errorf("gpu: %s refused a device with the limits webpeft needs: %w", info.Name, err)
	}
	d.dev = dev
	d.queue = dev.GetQueue()
	d.Limits = limitsFrom(dev.GetLimits().Limits)
	for _, f := range features {
		d.Features = append(d.Features, f.String())
	}
	return d, nil
}

// optionalFeatures returns the fast-path features the adapter offers.
func optionalFeatures(a *wgpu.Adapter) []wgpu.FeatureName {
	var out []wgpu.FeatureName
	for _, f := range []wgpu.FeatureName{wgpu.FeatureNameShaderF16} {
		if a.HasFeature(f) {
			out = append(out, f)
		}
	}
	return out
}

// Close releases the device and everything behind it.
func (d *Device) Close() {
	if d.dev == nil {
		return
	}
	d.queue.Release()
	d.dev.Release()
	d.plat.adapter.Release()
	d.dev = nil
	d.setLost("closed", "Close was called")
}

// pollInterval is how long wait sleeps between non-blocking polls. A
// blocking poll is never used: the wgpu-native inside cogentcore/webgpu
// v0.23.0 gives up a blocking wait after 5 s and frees buffers that are
// still in use (gfx-rs/wgpu#4589), and a step on a software adapter can
// take minutes.
const pollInterval = 200 * time.Microsecond

// wait polls the device until done reports true or the device is lost.
func (d *Device) wait(done func() bool) error {
	sleep := pollInterval
	for !done() {
		if err := d.Lost(); err != nil {
			return err
		}
		d.dev.Poll(false, nil)
		if done() {
			break
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 5*time.Millisecond)
	}
	return d.Lost()
}

// scoped runs f, which makes one WebGPU call. Natively the binding already
// wraps every Create*, Finish and End in a validation error scope and
// returns its message as the error, so nothing is added here.
func (d *Device) scoped(f func() error) error {
	if err := d.Lost(); err != nil {
		return err
	}
	return f()
}

// adapterName picks the human-readable name: the wgpu-native in this binding
// puts it in the description field and a hex id in the name field.
func adapterName(info wgpu.AdapterInfo) string {
	if info.Name != "" && !strings.HasPrefix(info.Name, "0x") {
		return info.Name
	}
	if info.DriverDescription != "" {
		return info.DriverDescription
	}
	return "unnamed adapter"
}

func pipelineDescriptor(name string, pl *wgpu.PipelineLayout, m *wgpu.ShaderModule) *wgpu.ComputePipelineDescriptor {
	return &wgpu.ComputePipelineDescriptor{
		Label:   name,
		Layout:  pl,
		Compute: wgpu.ProgrammableStageDescriptor{Module: m, EntryPoint: "main"},
	}
}

func endPass(p *wgpu.ComputePassEncoder) error { return p.End() }

// writeBuffer queues a write of data into buf at offset.
func (d *Device) writeBuffer(buf *wgpu.Buffer, offset uint64, data []byte) error {
	return d.queue.WriteBuffer(buf, offset, data)
}
