package train

import (
	"reflect"
	"testing"

	"webpeft/engine/peft"
)

// TestStateBytes: EncodeState then DecodeState gives back the checkpoint
// (what SaveState and LoadState keep in files) and the extra metadata.
func TestStateBytes(t *testing.T) {
	set, err := peft.NewSet(peft.Dims{Vocab: 50, Hidden: 16, Layers: 2, Q: 16, KV: 8, FFN: 32, Gated: true},
		peft.Config{Method: peft.LoRA, Rank: 2, Targets: []string{"q", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	st := &State{Step: 7, Epoch: 1, Next: 3, AdamT: 7, Seed: 42, Set: set,
		Params: make([]float32, set.Size), M: make([]float32, set.Size), V: make([]float32, set.Size)}
	for i := range st.Params {
		st.Params[i], st.M[i], st.V[i] = float32(i)*0.5, -float32(i), float32(i)*1e-3
	}
	b, err := EncodeState(st, map[string]string{"history": "[1,2]"})
	if err != nil {
		t.Fatal(err)
	}
	got, extra, err := DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if extra["history"] != "[1,2]" || len(extra) != 1 {
		t.Errorf("extra metadata %v", extra)
	}
	if got.Step != 7 || got.Epoch != 1 || got.Next != 3 || got.AdamT != 7 || got.Seed != 42 || got.Set.Size != set.Size ||
		!reflect.DeepEqual(got.Params, st.Params) || !reflect.DeepEqual(got.M, st.M) || !reflect.DeepEqual(got.V, st.V) {
		t.Errorf("decoded %+v", got)
	}
	if _, _, err := DecodeState(b[:len(b)/2]); err == nil {
		t.Error("a torn checkpoint decoded")
	}
}
