//go:build js && wasm

package gpu

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/cogentcore/webgpu/wgpu"
	"github.com/hack-pad/safejs"
)

// platform holds the browser's GPUDevice. The binding's js build sends no
// requiredLimits, has no error scopes and no device-lost callback, so those
// calls go to this value directly.
type platform struct {
	device safejs.Value

	mu         sync.Mutex
	uncaptured error // first error no scope caught (uncapturederror event)
	keep       []safejs.Func
}

// Open asks navigator.gpu for an adapter and a device with the limits
// webpeft needs (the few that matter, raised to the adapter's values). It
// must run on a goroutine, never inside a js.FuncOf callback, since it
// waits on promises.
func Open() (*Device, error) {
	navGPU, err := get(safejs.Global(), "navigator", "gpu")
	if err != nil || navGPU.IsUndefined() || navGPU.IsNull() {
		return nil, fmt.Errorf("%w: this browser does not offer WebGPU (navigator.gpu is missing); use a recent Chrome or Edge, or Chromium with --enable-unsafe-webgpu", ErrNoAdapter)
	}
	adapter, err := awaitCall(navGPU, "requestAdapter", map[string]any{"powerPreference": "high-performance"})
	if err != nil {
		return nil, fmt.Errorf("%w: requestAdapter failed: %v", ErrNoAdapter, err)
	}
	if adapter.IsNull() || adapter.IsUndefined() {
		return nil, fmt.Errorf("%w: WebGPU is present but no adapter is available (is it disabled, or is the GPU blocklisted?)", ErrNoAdapter)
	}
	d := &Device{Info: adapterInfo(adapter)}
	required, features := deviceRequest(adapter)
	dev, err := awaitCall(adapter, "requestDevice", map[string]any{
		"label":            "webpeft",
		"requiredLimits":   required,
		"requiredFeatures": features,
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: %s refused a device with the limits webpeft needs: %w", d.Info.Name, err)
	}
	d.plat.device = dev
	for _, f := range features {
		d.Features = append(d.Features, f.(string))
	}
	if err := d.watch(); err != nil {
		return nil, err
	}
	jsDev := wgpu.NewDevice(safejs.Unsafe(dev))
	d.dev = &jsDev
	d.queue = d.dev.GetQueue()
	d.Limits = jsLimits(dev)
	return d, nil
}

// deviceRequest returns the limits and features to ask for.
func deviceRequest(adapter safejs.Value) (map[string]any, []any) {
	lim, _ := adapter.Get("limits")
	num := func(name string) uint64 { return jsUint(lim, name) }
	var l wgpu.Limits
	l.MaxStorageBufferBindingSize = num("maxStorageBufferBindingSize")
	l.MaxBufferSize = num("maxBufferSize")
	l.MaxComputeWorkgroupStorageSize = uint32(num("maxComputeWorkgroupStorageSize"))
	l.MaxComputeInvocationsPerWorkgroup = uint32(num("maxComputeInvocationsPerWorkgroup"))
	l.MaxStorageBuffersPerShaderStage = uint32(num("maxStorageBuffersPerShaderStage"))
	w := wanted(l)
	required := map[string]any{
		"maxStorageBufferBindingSize":       float64(w.MaxStorageBufferBindingSize),
		"maxBufferSize":                     float64(w.MaxBufferSize),
		"maxComputeWorkgroupStorageSize":    w.MaxComputeWorkgroupStorageSize,
		"maxComputeInvocationsPerWorkgroup": w.MaxComputeInvocationsPerWorkgroup,
		"maxStorageBuffersPerShaderStage":   w.MaxStorageBuffersPerShaderStage,
	}
	var features []any
	set, _ := adapter.Get("features")
	for _, name := range []string{"shader-f16", "subgroups"} {
		if has, err := set.Call("has", name); err == nil {
			if ok, _ := has.Bool(); ok {
				features = append(features, name)
			}
		}
	}
	return required, features
}

func jsLimits(dev safejs.Value) Limits {
	lim, _ := dev.Get("limits")
	num := func(name string) uint64 { return jsUint(lim, name) }
	return Limits{
		MaxStorageBufferBindingSize:       num("maxStorageBufferBindingSize"),
		MaxBufferSize:                     num("maxBufferSize"),
		MaxComputeWorkgroupStorageSize:    uint32(num("maxComputeWorkgroupStorageSize")),
		MaxComputeInvocationsPerWorkgroup: uint32(num("maxComputeInvocationsPerWorkgroup")),
		MaxComputeWorkgroupsPerDimension:  uint32(num("maxComputeWorkgroupsPerDimension")),
		MaxStorageBuffersPerShaderStage:   uint32(num("maxStorageBuffersPerShaderStage")),
		MinStorageBufferOffsetAlignment:   uint32(num("minStorageBufferOffsetAlignment")),
	}
}

// jsUint reads a numeric property (0 when absent).
func jsUint(obj safejs.Value, name string) uint64 {
	v, err := obj.Get(name)
	if err != nil {
		return 0
	}
	f, _ := v.Float()
	return uint64(f)
}

// adapterInfo reads adapter.info (the binding returns an empty one).
func adapterInfo(adapter safejs.Value) AdapterInfo {
	info, err := adapter.Get("info")
	str := func(name string) string {
		if err != nil || info.IsUndefined() {
			return ""
		}
		v, e := info.Get(name)
		if e != nil || v.IsUndefined() {
			return ""
		}
		s, _ := v.String()
		return s
	}
	a := AdapterInfo{
		Vendor:       str("vendor"),
		Architecture: str("architecture"),
		Name:         str("device"),
		Driver:       str("description"),
		Backend:      "browser",
	}
	if a.Name == "" {
		a.Name = a.Driver
	}
	if a.Name == "" {
		a.Name = (a.Vendor + " " + a.Architecture)
	}
	if fallback, err := adapter.Get("isFallbackAdapter"); err == nil {
		if b, _ := fallback.Bool(); b {
			a.Type = "cpu"
		}
	}
	if a.IsCPU() {
		a.Type = "cpu"
	}
	return a
}

// watch hooks device.lost and the uncapturederror event, so a lost device or
// an error outside any scope fails the next call instead of hanging it.
func (d *Device) watch() error {
	lost, err := d.plat.device.Get("lost")
	if err != nil {
		return err
	}
	// onLost releases itself once lost settles (Close destroys the device,
	// which settles lost later: releasing it in Close made that call land on
	// a released function, "call to released function" in the console).
	var onLost safejs.Func
	onLost, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		defer onLost.Release()
		reason, message := "unknown", ""
		if len(args) > 0 {
			if v, err := args[0].Get("reason"); err == nil && !v.IsUndefined() {
				reason, _ = v.String()
			}
			message = jsMessage(args[0])
		}
		d.setLost(reason, message)
		return nil
	})
	if err != nil {
		return err
	}
	onError, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) > 0 {
			e, _ := args[0].Get("error")
			d.plat.mu.Lock()
			if d.plat.uncaptured == nil {
				d.plat.uncaptured = errors.New(jsMessage(e))
			}
			d.plat.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.plat.keep = append(d.plat.keep, onError)
	if _, err := lost.Call("then", onLost.Value()); err != nil {
		return err
	}
	_, err = d.plat.device.Call("addEventListener", "uncapturederror", onError.Value())
	return err
}

// Close destroys the device.
func (d *Device) Close() {
	if d.dev == nil {
		return
	}
	for _, f := range d.plat.keep {
		d.plat.device.Call("removeEventListener", "uncapturederror", f.Value())
		f.Release()
	}
	d.plat.device.Call("destroy")
	d.dev = nil
	d.setLost("closed", "Close was called")
}

// wait returns once done reports true. In the browser the binding's
// MapAsync and OnSubmittedWorkDone already awaited their promises (on this
// goroutine, which is why GPU work never runs inside a js.FuncOf), so done
// holds by the time wait is called.
func (d *Device) wait(done func() bool) error {
	if err := d.failure(); err != nil {
		return err
	}
	if !done() {
		return errors.New("gpu: internal error: browser wait called before its promise settled")
	}
	return nil
}

// scoped runs f inside validation and out-of-memory error scopes and
// returns the first error either caught.
func (d *Device) scoped(f func() error) error {
	if err := d.failure(); err != nil {
		return err
	}
	dev := d.plat.device
	if _, err := dev.Call("pushErrorScope", "out-of-memory"); err != nil {
		return err
	}
	if _, err := dev.Call("pushErrorScope", "validation"); err != nil {
		return err
	}
	ferr := catchJS(f)
	var scopeErr error
	for _, kind := range []string{"validation", "out-of-memory"} {
		e, err := awaitCall(dev, "popErrorScope")
		if err != nil {
			return err
		}
		if scopeErr == nil && !e.IsNull() && !e.IsUndefined() {
			scopeErr = fmt.Errorf("%s error: %s", kind, jsMessage(e))
		}
	}
	if ferr != nil {
		return ferr
	}
	return scopeErr
}

// failure is the device-lost error or the first uncaptured error.
func (d *Device) failure() error {
	if err := d.Lost(); err != nil {
		return err
	}
	d.plat.mu.Lock()
	defer d.plat.mu.Unlock()
	if d.plat.uncaptured != nil {
		return fmt.Errorf("gpu: uncaptured WebGPU error: %w", d.plat.uncaptured)
	}
	return nil
}

func jsMessage(v safejs.Value) string {
	if v.IsUndefined() || v.IsNull() {
		return "(no message)"
	}
	m, err := v.Get("message")
	if err != nil || m.IsUndefined() {
		s, _ := v.String()
		return s
	}
	s, _ := m.String()
	return s
}

func get(v safejs.Value, path ...string) (safejs.Value, error) {
	var err error
	for _, p := range path {
		if v.IsUndefined() || v.IsNull() {
			return v, nil
		}
		if v, err = v.Get(p); err != nil {
			return v, err
		}
	}
	return v, nil
}

// awaitCall calls v[method](args...) and waits for the returned promise.
func awaitCall(v safejs.Value, method string, args ...any) (safejs.Value, error) {
	p, err := v.Call(method, args...)
	if err != nil {
		return safejs.Undefined(), err
	}
	return await(p)
}

// await blocks this goroutine until the promise settles.
func await(p safejs.Value) (safejs.Value, error) {
	then, err := p.Get("then")
	if err != nil || then.Type() != safejs.TypeFunction {
		return p, err
	}
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	onOK, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		v := safejs.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	if err != nil {
		return p, err
	}
	defer onOK.Release()
	onErr, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = jsMessage(args[0])
		}
		ch <- result{v: safejs.Undefined(), err: errors.New(msg)}
		return nil
	})
	if err != nil {
		return p, err
	}
	defer onErr.Release()
	if _, err := p.Call("then", onOK.Value(), onErr.Value()); err != nil {
		return p, err
	}
	r := <-ch
	return r.v, r.err
}

// pipelineDescriptor: the binding's js descriptor has no Label field.
func pipelineDescriptor(_ string, pl *wgpu.PipelineLayout, m *wgpu.ShaderModule) *wgpu.ComputePipelineDescriptor {
	return &wgpu.ComputePipelineDescriptor{
		Layout:  pl,
		Compute: wgpu.ProgrammableStageDescriptor{Module: m, EntryPoint: "main"},
	}
}

// endPass: in js End reports nothing; errors surface in the scope around it.
func endPass(p *wgpu.ComputePassEncoder) error {
	p.End()
	return nil
}

// catchJS runs f, turning a JavaScript exception thrown inside it (which
// syscall/js raises as a panic of js.Error, e.g. from the binding's
// queue.writeBuffer) into an error that keeps the exception's message,
// so that library code returns it instead of stopping the program.
func catchJS(f func() error) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if e, ok := r.(js.Error); ok {
			err = fmt.Errorf("gpu: the browser threw %s", e.Error())
			return
		}
		panic(r)
	}()
	return f()
}

// writeBuffer queues a write of data into buf at offset, from a copy in a
// JavaScript-owned array. The binding's Queue.WriteBuffer passes a view
// of the wasm memory instead, and when the Go heap grows between making
// that view and the call (boxing the call's arguments allocates), the
// memory's old ArrayBuffer is detached, the view reads as empty, and
// Chrome throws "Number of bytes to write is too large". A copy cannot
// be detached.
func (d *Device) writeBuffer(buf *wgpu.Buffer, offset uint64, data []byte) error {
	target, err := jsBuffer(buf)
	if err != nil {
		return err
	}
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	queue := safejs.Unsafe(d.plat.device).Get("queue")
	queue.Call("writeBuffer", target, float64(offset), arr)
	return nil
}

// jsBuffer is the GPUBuffer behind a binding buffer, which the binding
// keeps in an unexported field (wgpu/buffer_js.go: struct{ jsValue
// js.Value }); read through reflection, checked, so that a binding whose
// layout changed fails here by name rather than writing elsewhere.
func jsBuffer(b *wgpu.Buffer) (js.Value, error) {
	f := reflect.ValueOf(b).Elem().FieldByName("jsValue")
	if !f.IsValid() || f.Type() != reflect.TypeOf(js.Value{}) {
		return js.Undefined(), errors.New("gpu: the WebGPU binding's Buffer no longer holds a jsValue field; writeBuffer needs it")
	}
	return *(*js.Value)(unsafe.Pointer(f.UnsafeAddr())), nil
}
