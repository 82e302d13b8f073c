package gguf

import "math"

// Value returns the value of key as KV documents it.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.keys[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// String returns key's value if it is a string.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Value(key)
	s, ok := v.(string)
	return s, ok
}

// Bool returns key's value if it is a bool.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Value(key)
	b, ok := v.(bool)
	return b, ok
}

// Int returns key's value if it is an integer of any width that fits in
// an int64.
func (f *File) Int(key string) (int64, bool) {
	v, _ := f.Value(key)
	return toInt64(v)
}

// Float returns key's value if it is a float or an integer.
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Value(key)
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case uint64:
		return float64(x), true
	}
	n, ok := toInt64(v)
	return float64(n), ok
}

// Strings returns key's value if it is an array of strings.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Value(key)
	s, ok := v.([]string)
	return s, ok
}

// Float32s returns key's value if it is an array of float32 (or of
// float64, rounded to float32).
func (f *File) Float32s(key string) ([]float32, bool) {
	v, _ := f.Value(key)
	switch x := v.(type) {
	case []float32:
		return x, true
	case []float64:
		out := make([]float32, len(x))
		for i, e := range x {
			out[i] = float32(e)
		}
		return out, true
	}
	return nil, false
}

// Int32s returns key's value if it is an array of integers of any width,
// every element of which fits in an int32.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, _ := f.Value(key)
	switch x := v.(type) {
	case []int32:
		return x, true
	case []uint8:
		return convertInts(x)
	case []int8:
		return convertInts(x)
	case []uint16:
		return convertInts(x)
	case []int16:
		return convertInts(x)
	case []uint32:
		return convertInts(x)
	case []uint64:
		return convertInts(x)
	case []int64:
		return convertInts(x)
	}
	return nil, false
}

// toInt64 converts any integer value that fits.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

type integer interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64
}

// convertInts converts to int32, failing if any element does not fit.
func convertInts[T integer](xs []T) ([]int32, bool) {
	out := make([]int32, len(xs))
	for i, x := range xs {
		if T(int32(x)) != x || (x < 0) != (int32(x) < 0) {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}
