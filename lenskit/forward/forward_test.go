package forward

import (
	"testing"
)

func TestGPT2MatchesReference(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-gpt2")
	c := gpt2Config(w.Checkpoint().Config(), "transformer.")
	if _, ok := w.Checkpoint().Lookup("transformer.wte.weight"); !ok {
		c.prefix = ""
	}
	get := ckGetter(t, w.Checkpoint())
	ids := randomIDs(1, 21, w.Arch().Vocab)
	tr, err := f.Run([][]int{ids}, Want{Logits: true, Resid: true})
	if err != nil {
		t.Fatal(err)
	}
	logits, rows := refForward(t, c, get, ids)
	if e := relErr(tr[0].Logits, logits); e > 1e-4 {
		t.Errorf("logits differ from the float64 reference: relative error %.3g", e)
	} else {
		t.Logf("logits: relative error %.3g", e)
	}
	for r := range rows {
		if e := relErr(tr[0].Resid[r], rows[r]); e > 1e-4 {
			t.Errorf("residual row %s differs: relative error %.3g", RowName(r), e)
		}
	}
}

func TestLlamaMatchesReference(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-llama")
	c := decoderConfig(t, rawConfig(t, w.Checkpoint()))
	get := ckGetter(t, w.Checkpoint())
	ids := append([]int{1}, randomIDs(2, 20, w.Arch().Vocab)...)
	tr, err := f.Run([][]int{ids}, Want{Logits: true, Resid: true})
	if err != nil {
		t.Fatal(err)
	}
	logits, rows := refForward(t, c, get, ids)
	if e := relErr(tr[0].Logits, logits); e > 1e-4 {
		t.Errorf("logits differ from the float64 reference: relative error %.3g", e)
	} else {
		t.Logf("logits: relative error %.3g", e)
	}
	for r := range rows {
		if e := relErr(tr[0].Resid[r], rows[r]); e > 1e-4 {
			t.Errorf("residual row %s differs: relative error %.3g", RowName(r), e)
		}
	}
}
