package gpu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cogentcore/webgpu/wgpu"

	"webpeft/shaders"
)

// Access says how a kernel reads a binding. The bind-group layout is built
// from it explicitly (the browser binding has no GetBindGroupLayout), and it
// must agree with the shader's declaration:
//
//	Read      var<storage, read>
//	ReadWrite var<storage, read_write>
//	Uniform   var<uniform> (a Params struct; at most one, the last binding)
type Access int

const (
	Read Access = iota
	ReadWrite
	Uniform
)

// Kernel is a compute pipeline made from one shaders/ file (entry point
// main, bind group 0, bindings numbered 0..n-1 in the order given).
type Kernel struct {
	Name     string   // the shader file, e.g. "matmul_f32_fwd.wgsl"
	Bindings []Access // one per @binding

	d        *Device
	layout   *wgpu.BindGroupLayout
	pipeline *wgpu.ComputePipeline
}

// Kernel builds the kernel in shaders/<file>, after prepending the shared
// snippet files in include (e.g. a quantized block decoder). Compile errors
// name the file and line they occur in.
func (d *Device) Kernel(file string, include []string, bindings ...Access) (*Kernel, error) {
	// A pipeline is built once per device: a software adapter takes up to
	// 2 s per compile, and every model load, program and test asks for the
	// same few dozen kernels again.
	key := fmt.Sprint(file, include, bindings)
	d.mu.Lock()
	k, ok := d.kernels[key]
	d.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := d.kernel(file, include, bindings)
	if err == nil {
		d.mu.Lock()
		if d.kernels == nil {
			d.kernels = map[string]*Kernel{}
		}
		d.kernels[key] = k
		d.mu.Unlock()
	}
	return k, err
}

func (d *Device) kernel(file string, include []string, bindings []Access) (*Kernel, error) {
	var src source
	for _, name := range append(include[:len(include):len(include)], file) {
		text, err := shaders.Source(name)
		if err != nil {
			return nil, fmt.Errorf("gpu: kernel %s: %w", file, err)
		}
		src.add(name, text)
	}
	return d.compile(file, src, bindings)
}

// CompileKernel builds a kernel from WGSL text that is not in shaders/ (tests,
// experiments). name is used as its file name in errors.
func (d *Device) CompileKernel(name, wgsl string, bindings ...Access) (*Kernel, error) {
	var src source
	src.add(name, wgsl)
	return d.compile(name, src, bindings)
}

func (d *Device) compile(name string, src source, bindings []Access) (*Kernel, error) {
	if err := checkBindings(name, bindings, d.Limits); err != nil {
		return nil, err
	}
	k := &Kernel{Name: name, Bindings: bindings, d: d}
	var module *wgpu.ShaderModule
	err := d.scoped(func() (err error) {
		module, err = d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{
			Label:          name,
			WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: src.text.String()},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: kernel %s does not compile: %s", name, src.locate(err.Error()))
	}
	defer module.Release()

	entries := make([]wgpu.BindGroupLayoutEntry, len(bindings))
	for i, a := range bindings {
		entries[i] = wgpu.BindGroupLayoutEntry{
			Binding:    uint32(i),
			Visibility: wgpu.ShaderStageCompute,
			Buffer:     wgpu.BufferBindingLayout{Type: a.bindingType()},
		}
	}
	var pl *wgpu.PipelineLayout
	err = d.scoped(func() (err error) {
		k.layout, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: name, Entries: entries})
		if err != nil {
			return err
		}
		pl, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{
			Label: name, BindGroupLayouts: []*wgpu.BindGroupLayout{k.layout},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: layout: %w", name, err)
	}
	defer pl.Release()
	err = d.scoped(func() (err error) {
		k.pipeline, err = d.dev.CreateComputePipeline(pipelineDescriptor(name, pl, module))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: pipeline (do its bindings match %v?): %s",
			name, accessList(bindings), src.locate(err.Error()))
	}
	return k, nil
}

func checkBindings(name string, bindings []Access, l Limits) error {
	storage := 0
	for i, a := range bindings {
		switch a {
		case Read, ReadWrite:
			storage++
		case Uniform:
			if i != len(bindings)-1 {
				return fmt.Errorf("gpu: kernel %s: the Uniform binding must be the last one", name)
			}
		default:
			return fmt.Errorf("gpu: kernel %s: binding %d has unknown access %d", name, i, a)
		}
	}
	if uint32(storage) > l.MaxStorageBuffersPerShaderStage {
		return fmt.Errorf("gpu: kernel %s needs %d storage buffers; the device allows %d per stage",
			name, storage, l.MaxStorageBuffersPerShaderStage)
	}
	return nil
}

func (a Access) bindingType() wgpu.BufferBindingType {
	switch a {
	case ReadWrite:
		return wgpu.BufferBindingTypeStorage
	case Uniform:
		return wgpu.BufferBindingTypeUniform
	default:
		return wgpu.BufferBindingTypeReadOnlyStorage
	}
}

func (a Access) String() string {
	return [...]string{"read", "read_write", "uniform"}[a]
}

func accessList(bs []Access) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// source is WGSL text assembled from named files, remembering where each
// file starts so compiler line numbers can be turned back into file:line.
type source struct {
	text  strings.Builder
	files []string
	first []int // first line (1-based) of each file in text
	lines int
}

func (s *source) add(name, text string) {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	s.files = append(s.files, name)
	s.first = append(s.first, s.lines+1)
	s.lines += strings.Count(text, "\n")
	s.text.WriteString(text)
}

// lineCol finds the first "line:col" position in a compiler message: naga
// writes "wgsl:12:5", Tint (Chromium) ":12:5 error: ...".
var lineCol = regexp.MustCompile(`:(\d+):(\d+)`)

// locate prefixes a compiler message with the file and line it points at.
func (s *source) locate(msg string) string {
	m := lineCol.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	i := len(s.first) - 1
	for i > 0 && s.first[i] > line {
		i--
	}
	return fmt.Sprintf("%s:%d:%s: %s", s.files[i], line-s.first[i]+1, m[2], msg)
}
